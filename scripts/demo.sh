#!/usr/bin/env bash
# The main job, end to end on the embedded default (SQLite online store, parquet offline):
# venv + install, simulate support data, validate, feast apply + materialize, train and
# export models, evaluate, then serve on localhost:50051.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh train

CUSTOMERS="${CUSTOMERS:-20000}"
step() { printf '\n==> %s\n' "$*" >&2; }

step "simulate ${CUSTOMERS} customers"
python -m training simulate --customers "${CUSTOMERS}"
step "feast apply + materialize (${PERSONALIZATION_ONLINE_STORE:-sqlite})"
python -m training materialize
step "train, check and export models"
python -m training train
step "evaluate the current model version"
python -m training evaluate
step "serving on localhost:${PERSONALIZATION_PORT:-50051} (Ctrl-C stops)"
cat >&2 <<MSG
Call it from another shell:
  .venv/bin/python -m server.client --customer-id C0000001
  grpcurl -plaintext -d '{"customer_id":"C0000001","context":{"channel":"CHANNEL_WEB_CHAT","device_type":"DEVICE_TYPE_DESKTOP","issue_category":"ISSUE_CATEGORY_BILLING","sentiment":-0.2}}' localhost:${PERSONALIZATION_PORT:-50051} personalization.v1.PersonalizationService/Decide
MSG
exec python -m server

#!/usr/bin/env bash
# The whole test suite: installs what it needs (venv, dev extras, redis-server for the
# tests that start their own, redis-cli to join a local Redis Cluster), checks
# lint/types/stubs/Dockerfile, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "==> installing redis-server (tests start their own instances)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  ${SUDO} apt-get update -qq && ${SUDO} apt-get install -y -qq redis-server redis-tools >/dev/null
fi
source scripts/venv.sh dev

echo "==> lint, types, stubs, Dockerfile" >&2
bash scripts/lint.sh
echo "==> pytest" >&2
python -m pytest "$@"

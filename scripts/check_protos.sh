#!/usr/bin/env bash
# Fail (exit 1, print the diff) when the committed stubs in personalization/ are not
# what scripts/gen_protos.sh generates from protos/ right now.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

if ! "$ROOT/scripts/gen_protos.sh" "$TMP/out" >"$TMP/gen.log" 2>&1; then
  cat "$TMP/gen.log" >&2
  echo "check_protos: generation failed" >&2
  exit 1
fi

# Compare only what the generator owns; __pycache__ and the like are not ours.
if ! diff -ru --exclude='__pycache__' --exclude='*.pyc' \
      "$TMP/out/personalization" "$ROOT/personalization"; then
  echo "check_protos: committed stubs are stale; run scripts/gen_protos.sh" >&2
  exit 1
fi
echo "check_protos: stubs are up to date"

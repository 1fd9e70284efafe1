#!/usr/bin/env bash
# Regenerate the Python gRPC stubs from protos/ (the one way to do it).
#
#   scripts/gen_protos.sh            # writes personalization/v1/*_pb2*.py(i) in the repo root
#   scripts/gen_protos.sh OUT_DIR    # writes the same tree under OUT_DIR (used by check_protos.sh)
#
# Output imports as `personalization.v1.personalization_pb2` because protos/ is the
# include root. Generated files are never edited by hand. Needs grpcio-tools and
# mypy-protobuf (the project's dev extra); uses the active Python or $PYTHON.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT}"
PYTHON="${PYTHON:-python}"
PKG_DIR="personalization/v1"

mkdir -p "$OUT/$PKG_DIR"
# Stale stubs of deleted .proto files must not survive a regeneration.
rm -f "$OUT/$PKG_DIR"/*_pb2.py "$OUT/$PKG_DIR"/*_pb2.pyi \
      "$OUT/$PKG_DIR"/*_pb2_grpc.py "$OUT/$PKG_DIR"/*_pb2_grpc.pyi

# Well-known types (timestamp.proto, duration.proto) ship inside grpc_tools.
WKT_INCLUDE="$("$PYTHON" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"

# Every .proto of the package, sorted so the command line is stable.
mapfile -t PROTOS < <(cd "$ROOT/protos" && find "$PKG_DIR" -name '*.proto' | LC_ALL=C sort)

MYPY_GRPC_PLUGIN="$(dirname "$(command -v "$PYTHON")")/protoc-gen-mypy_grpc"
MYPY_GRPC_ARGS=()
if [[ -x "$MYPY_GRPC_PLUGIN" ]]; then
  MYPY_GRPC_ARGS=("--plugin=protoc-gen-mypy_grpc=$MYPY_GRPC_PLUGIN" "--mypy_grpc_out=$OUT")
else
  echo "gen_protos: mypy-protobuf not installed; skipping *_pb2_grpc.pyi" >&2
fi

(
  cd "$ROOT/protos"
  "$PYTHON" -m grpc_tools.protoc \
    -I . -I "$WKT_INCLUDE" \
    --python_out="$OUT" --pyi_out="$OUT" --grpc_python_out="$OUT" \
    "${MYPY_GRPC_ARGS[@]}" \
    "${PROTOS[@]}"
)

# Package markers so the stubs import as a regular package.
: > "$OUT/personalization/__init__.py"
: > "$OUT/$PKG_DIR/__init__.py"
echo "gen_protos: wrote ${#PROTOS[@]} proto(s) into $OUT/$PKG_DIR"

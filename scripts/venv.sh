# Sourced by demo.sh and test.sh: create .venv if needed and install the project with the
# extra named in $1 (train | dev). Re-installs only when pyproject.toml changed.
VENV="${VENV:-.venv}"
EXTRA="${1:-train}"
if [ ! -x "${VENV}/bin/python" ]; then
  python3.11 -m venv "${VENV}" 2>/dev/null || python3 -m venv "${VENV}"
fi
# shellcheck disable=SC1091
source "${VENV}/bin/activate"
STAMP="${VENV}/.installed-${EXTRA}"
if [ ! -f "${STAMP}" ] || [ pyproject.toml -nt "${STAMP}" ]; then
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -e ".[${EXTRA}]"
  touch "${STAMP}"
fi

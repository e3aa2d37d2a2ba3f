# Sourced by scripts/serve and scripts/test: make sure the system tools and the
# virtualenv exist, installing what is missing. Idempotent and quiet when all is there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AIOS_VENV:-$ROOT/.venv}"

# need_commands CMD:PACKAGE ... — install the Debian packages of the missing commands.
need_commands() {
  local missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  install_packages "${missing[@]}"
}

install_packages() {
  local missing=("$@") sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "aios: missing ${missing[*]}; install them (apt-get install -y ${missing[*]}) and retry" >&2
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "aios: missing ${missing[*]}; install them with your package manager and retry" >&2
    exit 1
  fi
  echo "aios: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "aios: Python 3.11 or newer is required (apt-get install -y python3)" >&2
  exit 1
}

# ensure_venv EXTRAS — create the virtualenv and install the project when pyproject changed.
ensure_venv() {
  local extras="$1" python stamp wanted
  python="$(find_python)"
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$python" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      install_packages python3-venv
      "$python" -m venv "$VENV"
    fi
  fi
  stamp="$VENV/.aios-installed"
  wanted="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)-$extras"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT$extras"
    echo "$wanted" > "$stamp"
  fi
}

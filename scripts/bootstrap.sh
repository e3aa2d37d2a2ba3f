# Sourced by scripts/serve and scripts/test: make sure the system tools and the
# virtualenv exist, installing what is missing. Idempotent and quiet when all is there;
# each step it takes says so on stderr (a first install takes a minute or two).
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
  echo "aios: installing ${missing[*]} with apt-get" >&2
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
    echo "aios: creating the virtualenv $VENV" >&2
    if ! "$python" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      install_packages python3-venv
      "$python" -m venv "$VENV"
    fi
  fi
  stamp="$VENV/.aios-installed"
  wanted="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)-$extras"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "aios: installing AIOS and its Python packages into $VENV (pip's progress follows)" >&2
    # pip's own lines (Collecting…, Installing…) are the progress: a quiet pip looked hung.
    "$VENV/bin/python" -m pip install --disable-pip-version-check -e "$ROOT$extras" >&2
    echo "$wanted" > "$stamp"
    echo "aios: packages installed" >&2
  fi
}

# how_to_run_aios — say how to run `aios` itself when it is not on PATH: `.env` is read from
# the working directory, so other commands run from the repository root.
how_to_run_aios() {
  if [ "$(command -v aios 2>/dev/null)" = "$VENV/bin/aios" ]; then return 0; fi
  local venv="$VENV"
  case "$VENV" in "$ROOT"/*) venv="${VENV#"$ROOT"/}" ;; esac
  echo "aios: other commands run from $ROOT (where .env is): $venv/bin/aios doctor," \
    "or \`source $venv/bin/activate\` to have \`aios\` on PATH" >&2
}

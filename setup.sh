#!/usr/bin/env bash
# Installs everything posrig needs on a fresh Debian machine, and nothing it already has:
#   1. Debian packages: a CJK font for the simulated printer, Chromium to check the report,
#      ser2net for labgrid's exporter (with sudo when not root);
#   2. a project virtual environment, .venv (python3 -m venv), with posrig and the Python
#      packages pinned in pyproject.toml (editable, with the [test] extras), re-installed
#      only when pyproject.toml changed since the last install (.venv/.posrig-installed
#      keeps its hash);
#   3. the report builder pinned in reports/package-lock.json (npm ci), re-installed only
#      when the lock file changed or reports/node_modules is missing.
# Then `.venv/bin/posrig run` and `.venv/bin/python -m pytest` work. Nothing is installed into
# the machine's own Python. PYTHON=python3.12 ./setup.sh picks another interpreter.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY_STAMP=$VENV/.posrig-installed
NODE_MODULES=reports/node_modules
NPM_STAMP=$NODE_MODULES/.posrig-installed
python=${PYTHON:-python3}

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }
hash_of() { sha256sum "$1" | cut -d' ' -f1; }

# Checked first: a missing tool should stop the set-up before it installs anything.
command -v "$python" >/dev/null || die "no $python: install Python 3.11 or newer (Debian: apt-get install python3)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "$("$python" --version 2>&1) is too old: posrig needs Python 3.11 or newer (PYTHON=python3.11 ./setup.sh)"
command -v npm >/dev/null || die "no npm: install Node.js 20 or newer with npm (it builds the report)"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
((node_major >= 20)) || die "Node.js $(node --version 2>/dev/null || echo '(none)') is too old: the report builder needs 20 or newer"

# 1. Debian packages
debian_packages=(chromium fonts-wqy-microhei ser2net)
# Debian's own python3 makes virtual environments only with python3-venv installed.
case "$(command -v "$python")" in /usr/bin/*) debian_packages+=(python3-venv) ;; esac
missing=()
for pkg in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "Debian packages missing (${missing[*]}) and no sudo: install them as root"
    sudo="sudo"
  fi
  say "installing Debian packages: ${missing[*]} (apt-get update, then install; about a minute)"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages: ${debian_packages[*]} already installed"
fi

# 2. The virtual environment and the Python packages
if "$VENV/bin/python" -c '' 2>/dev/null; then
  say "virtual environment: $VENV ($("$VENV/bin/python" --version 2>&1)) already there"
else
  rm -rf "$VENV"  # absent, or made by an interpreter that is gone: start again
  say "creating the virtual environment $VENV with $("$python" --version 2>&1)"
  "$python" -m venv "$VENV"
fi
want=$(hash_of pyproject.toml)
if [ "$(cat "$PY_STAMP" 2>/dev/null)" = "$want" ]; then
  say "Python packages: up to date with pyproject.toml"
else
  if [ -f "$PY_STAMP" ]; then
    say "pyproject.toml changed since the last install: installing its Python packages into $VENV"
  else
    say "installing posrig and the Python packages pinned in pyproject.toml into $VENV (a few minutes)"
  fi
  rm -f "$PY_STAMP"  # an install that stops half way must not be taken as done
  "$VENV/bin/python" -m pip install -qq --disable-pip-version-check -e '.[test]'
  echo "$want" >"$PY_STAMP"
fi

# 3. The report builder
want=$(hash_of reports/package-lock.json)
if [ -d "$NODE_MODULES" ] && [ "$(cat "$NPM_STAMP" 2>/dev/null)" = "$want" ]; then
  say "report builder: up to date with reports/package-lock.json"
else
  say "installing the report builder pinned in reports/package-lock.json (npm ci)"
  npm ci --prefix reports --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" >"$NPM_STAMP"
fi

say "done: .venv/bin/posrig run runs the suite, .venv/bin/python -m pytest -n 2 the rig's tests"

#!/usr/bin/env bash
# Installs everything posrig needs on a fresh Debian machine: the Debian packages
# (a CJK font for the simulated printer, Chromium to check the report), the Python
# packages (pinned in pyproject.toml) and the report builder (pinned in reports/).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"

debian_packages=(chromium fonts-wqy-microhei ser2net)
missing=()
for pkg in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m pip install -q -e '.[test]'
npm ci --prefix reports --no-audit --no-fund --loglevel=error

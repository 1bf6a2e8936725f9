#!/usr/bin/env bash
# Install the status page test's browser (Debian/Ubuntu chromium + chromium-driver) when
# missing. Called by test.sh. Without root or sudo it only says so: the browser test then
# skips with that reason, except under CI=true, where it fails.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "install_browser: chromium/chromedriver missing and no root: the browser test will skip" >&2
  exit 0
fi
echo "install_browser: installing chromium and chromium-driver (apt)" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium chromium-driver >/dev/null

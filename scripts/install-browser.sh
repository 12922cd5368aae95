#!/usr/bin/env bash
# Installs Debian's Chromium, which the browser tests (tests/e2e) and scripts/screenshots.py
# drive through Playwright (Playwright's own browser download is not used). Does nothing when
# /usr/bin/chromium is already there; needs root, or sudo.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "install-browser: /usr/bin/chromium is already installed"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
$sudo apt-get install -y chromium
test -x /usr/bin/chromium
echo "install-browser: installed /usr/bin/chromium"

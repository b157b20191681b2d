#!/bin/sh
# Debian's Chromium and ChromeDriver for the browser tests (tests/test_page_browser.py).
# Installs them when missing and apt-get can run (as root, or with sudo without a password);
# otherwise says so and carries on: those tests are then skipped with the reason.
command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "install_browser: not root and no sudo: browser tests will be skipped" >&2; exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1
} || echo "install_browser: apt-get failed: browser tests will be skipped" >&2
exit 0

#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/web/test_browser.py), when it is missing.
#
# The browser tests drive /usr/bin/chromium through Playwright; they never download a browser
# (no `playwright install`). This script installs the distribution's package with apt-get,
# non-interactively and quietly. It always exits 0: when it cannot install (not Debian/Ubuntu,
# not root and no password-less sudo, no network), it says why and the tests skip loudly.

set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "install-browser: $CHROMIUM is present ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get here (not Debian/Ubuntu): install Chromium as $CHROMIUM yourself;" \
        "the browser tests will be skipped"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-browser: not root and no password-less sudo: run 'sudo apt-get install chromium';" \
            "the browser tests will be skipped"
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-browser: installing Debian's chromium with apt-get (a few minutes the first time) ..."
if ! $SUDO apt-get update -qq >/tmp/ifnscope-install-browser.log 2>&1; then
    echo "install-browser: 'apt-get update' failed (offline?); see /tmp/ifnscope-install-browser.log;" \
        "the browser tests will be skipped"
    exit 0
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core \
    >>/tmp/ifnscope-install-browser.log 2>&1; then
    echo "install-browser: 'apt-get install chromium' failed; see /tmp/ifnscope-install-browser.log;" \
        "the browser tests will be skipped"
    exit 0
fi

if [ -x "$CHROMIUM" ]; then
    echo "install-browser: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
else
    echo "install-browser: apt-get finished but $CHROMIUM is still missing; the browser tests will be skipped"
fi
exit 0

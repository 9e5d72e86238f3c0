#!/usr/bin/env bash
# Installs what the browser test (tests/browser, pytest marker `browser`) needs beyond .venv/:
# Debian's Chromium at /usr/bin/chromium, a small Chinese font so the chapters' Chinese terms
# render in its screenshots instead of empty boxes, and DejaVu, whose symbols the exercise
# checkers print (✔ ✘ ✎; no emoji font needed, the test checks they render). Idempotent: installs
# only what is missing.
#
# Playwright (the PyPI `playwright` package, the `browser` extra) drives this Chromium through
# its executable-path option; `playwright install` (its own browser download) is never run and
# would not work offline.
#
# Usage: bash scripts/install_browser.sh     (as root, or with sudo available)
set -euo pipefail

CHROMIUM="${COURSEKIT_CHROMIUM:-/usr/bin/chromium}"
# fonts-wqy-microhei: 1.6 MB, CJK glyphs; fonts-dejavu-core: 1.5 MB, usually there already.
FONT_PACKAGES=(fonts-wqy-microhei fonts-dejavu-core)

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
for package in "${FONT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install_browser: $("$CHROMIUM" --version 2>/dev/null) at $CHROMIUM and ${FONT_PACKAGES[*]} are installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: missing ${missing[*]} and this is not a Debian/Ubuntu system;" >&2
    echo "  install Chromium with your package manager and set COURSEKIT_CHROMIUM to its path." >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_browser: need root (or sudo) to apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

start=$(date +%s)
echo "install_browser: installing ${missing[*]} from Debian (under a minute)..."
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
if [ ! -x "$CHROMIUM" ]; then
    echo "install_browser: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "install_browser: installed ${missing[*]} in $(($(date +%s) - start)) s ($("$CHROMIUM" --version 2>/dev/null))"

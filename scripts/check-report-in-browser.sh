#!/bin/sh
# Opens an HTML report in headless Chromium (Debian package `chromium`) and
# fails if the page logs an error, asks for anything over the network or
# from disk, or renders without its charts. Also writes a screenshot.
#
#   scripts/check-report-in-browser.sh report.html [screenshot.png]
set -eu

page=$(realpath "$1")
shot=${2:-${page%.html}.png}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "no Chromium found: install the chromium package" >&2
    exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --dump-dom prints the page after it loaded; the log on stderr carries
# console messages and failed requests.
"$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$work/profile" \
    --enable-logging=stderr --v=0 --virtual-time-budget=5000 \
    --dump-dom "file://$page" >"$work/dom.html" 2>"$work/log.txt"
"$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$work/profile" \
    --window-size=1280,4000 --screenshot="$shot" "file://$page" >/dev/null 2>&1

status=0
if grep -E 'CONSOLE|Uncaught|net::ERR_|Failed to load resource' "$work/log.txt"; then
    echo "the page logged errors or failed to load something" >&2
    status=1
fi
charts=$(grep -o '<svg' "$work/dom.html" | wc -l)
if [ "$charts" -lt 1 ]; then
    echo "the rendered page has no charts" >&2
    status=1
fi
echo "rendered: $charts inline charts, screenshot $shot"
exit $status

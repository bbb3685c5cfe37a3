#!/usr/bin/env bash
# The browser tests in one browser other than Chromium (scripts/test.sh runs
# them in Chromium itself, then calls this for each of $BROWSERS):
#   bash scripts/test-browsers.sh firefox    # Firefox ESR, through geckodriver
#   bash scripts/test-browsers.sh webkit     # WebKitGTK's MiniBrowser, through WebKitWebDriver, on Xvfb
# Needs the set-up (scripts/setup.sh) and a built pkg/ (node scripts/build.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
export BROWSER="${1:?usage: scripts/test-browsers.sh firefox|webkit}"

run() {
  local name=$1 start=$SECONDS
  shift
  printf -- '--- %s in %s\n' "$name" "$BROWSER"
  "$@"
  printf -- '--- %s in %s: %s s\n' "$name" "$BROWSER" $((SECONDS - start))
}

run "shell tests (tests/shell)" node tests/shell/run.mjs
run "polling across tabs" node tests/tabs/run.mjs
run "hover prefetch" node tests/prefetch/run.mjs
run "persistence and clear()" node tests/persist/run.mjs
run "fault injection" node tests/faults/run.mjs
run "strict CSP" node tests/csp/run.mjs
run "missing-API fallbacks" node tests/fallbacks/run.mjs
run "React 19 hooks" node tests/hooks/run.mjs
run "React 18 hooks" env REACT=18 node tests/hooks/run.mjs
run "demo end to end" node www/e2e/run.mjs

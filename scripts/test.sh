#!/usr/bin/env bash
# Every calmfetch test, from a fresh machine or a warm one:
#   set-up (idempotent) → lint → native core tests → package build and its checks
#   (publint, attw) → reference-server self-test → public API in Node → shell tests in
#   headless Chromium → calmfetch/server (Node and Chromium) → install-as-a-user test
#   (Vite, webpack, Node) → server rendering with Next.js → type check → hook tests →
#   size budget →
#   the browser tests again in Firefox ESR and WebKitGTK (BROWSERS).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n=== %s\n' "$*"; }

step "set-up"
bash scripts/setup.sh

step "format and lints (native and wasm32)"
cargo fmt --all -- --check
cargo clippy --all-targets -q -- -D warnings
cargo clippy --all-targets -q --target wasm32-unknown-unknown -- -D warnings

step "core tests (native, with property tests)"
cargo test

step "build pkg/, the size budget (size-budget.json) and where the wasm's bytes go"
node scripts/build.mjs
node scripts/size-budget.mjs
node scripts/size-breakdown.mjs --top 5

step "the package as a registry user gets it: publint, arethetypeswrong (attw --pack), licenses, metadata, README links"
node scripts/check-package.mjs

step "reference server self-test, and the JS shell's unit tests (options, URLs, Retry-After, codecs, loader)"
node --test www/server/selftest.mjs tests/shell-js/

step "the built package's public API in Node: the regression tests of issue 14 (tests/api)"
node --test tests/api/

step "shell tests in headless Chromium: the public API against two reference servers (one with a 6 s socket handshake)"
node tests/shell/run.mjs

step "calmfetch/server: batchHandler and socketHandler behind Express and a plain listener, the built client in Node and in headless Chromium"
node --test tests/server/

step "the package installed into fresh apps built with Vite and with webpack 5, and imported from Node"
node tests/install/run.mjs

step "server rendering: a Next.js App Router app (next build, next start) prefetches on the server and hydrates without a request"
node tests/ssr/run.mjs

step "polling across tabs (several pages of one browser context)"
node tests/tabs/run.mjs

step "hover prefetch with real pointer events"
node tests/prefetch/run.mjs

step "persistence across reloads, and clear() across tabs"
node tests/persist/run.mjs

step "fault injection: resets, trickles, Retry-After, the circuit breaker, a flapping socket, a server restart"
node tests/faults/run.mjs

step "a strict Content-Security-Policy (no eval, no inline script)"
node tests/csp/run.mjs

step "without Web Locks, BroadcastChannel, navigator.connection or IndexedDB, and offline"
node tests/fallbacks/run.mjs

step "soak: 100,000 gets over 100,000 keys with maxEntries 1,000, memory flat (SOAK_GETS=1000000 for the full run)"
SOAK_GETS="${SOAK_GETS:-100000}" node tests/soak/run.mjs

step "type check of the public API (tests/types) and of calmfetch/server"
node_modules/.bin/tsc -p tests/types
node_modules/.bin/tsc -p tests/types/tsconfig.server.json

step "React hooks in headless Chromium, on React 19 and React 18"
node tests/hooks/run.mjs
REACT=18 node tests/hooks/run.mjs

step "the demo app end to end (www/e2e): storm, navigation, hover, tabs, socket"
node www/e2e/run.mjs

# BROWSERS="firefox" (or "") runs fewer of the other browsers.
for browser in ${BROWSERS-firefox webkit}; do
  step "shell tests, tabs, prefetch, persist, faults, CSP, fallbacks, hooks and the demo in $browser"
  bash scripts/test-browsers.sh "$browser"
done

step "all tests passed"

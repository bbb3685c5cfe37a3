#!/usr/bin/env bash
# Installs everything calmfetch's build, tests and demo need, on a fresh
# Debian machine or an already set-up one (each step is skipped when done).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== setup: %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  say "chromium and chromedriver (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# Firefox ESR, WebKitGTK's WebDriver with its MiniBrowser, and Xvfb (the
# MiniBrowser is a GTK window): the browser suites also run in those.
if ! command -v firefox-esr >/dev/null || ! command -v WebKitWebDriver >/dev/null || ! command -v Xvfb >/dev/null; then
  say "firefox-esr, webkit2gtk-driver (WebKitWebDriver, MiniBrowser) and xvfb (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq firefox-esr webkit2gtk-driver xvfb >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt

# geckodriver drives Firefox for the shell tests and the browser suites.
if [ "$(geckodriver --version 2>/dev/null | head -1)" != "geckodriver 0.37.1" ]; then
  say "geckodriver 0.37.1"
  cargo install --locked geckodriver --version 0.37.1 --force
fi

# npm ci only when the lock file changed since the last install.
stamp=node_modules/.calmfetch-lock.sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi

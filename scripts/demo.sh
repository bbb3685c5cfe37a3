#!/usr/bin/env bash
# The demo: builds calmfetch and the demo app, then serves both with the
# reference backend on http://127.0.0.1:${PORT:-8787}. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/build.mjs
if [ -f www/index.html ]; then
  node_modules/.bin/vite build www --logLevel warn
  exec node www/server/cli.mjs --port "${PORT:-8787}" --static www/dist "$@"
fi
exec node www/server/cli.mjs --port "${PORT:-8787}" "$@"

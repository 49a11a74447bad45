#!/usr/bin/env bash
# Web page + OpenAPI end-to-end test: synthesize and ingest a few studies,
# serve them with an API key, drive the page in Debian's headless Chromium.
# Needs chromium and node/npm (tools/bootstrap.sh installs them).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
ctdb=${CTDB:-$root/build/ctdb}
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
# The JS packages come from the npm cache committed beside this script (the
# lockfile's exact versions): no registry needed. A scratch copy keeps npm's
# bookkeeping out of the repository.
cp -r npm-cache "$work/npm-cache"
npm ci --offline --cache "$work/npm-cache" --no-audit --no-fund --loglevel=error
"$ctdb" synth --out "$work/ct" --n 8 --inplane 64 --seed 3 >/dev/null
"$ctdb" model init --out "$work/model" --corpus "$work/ct" --tiny >/dev/null
"$ctdb" ingest "$work/ct" --db "$work/db" --model "$work/model" >/dev/null
key=e2e-read-key-0123456789
echo "$key read" > "$work/keys"
port=$((20000 + RANDOM % 20000))
"$ctdb" serve --db "$work/db" --model "$work/model" --port $port --api-keys "$work/keys" > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
mkdir -p "$root/build"
node web.test.mjs "http://127.0.0.1:$port" "$key" "$root/build/e2e-screenshot.png"

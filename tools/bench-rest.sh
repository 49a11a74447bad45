#!/usr/bin/env bash
# REST benchmark: wrk on loopback against text and image search on a large
# database, next to the same queries in process (ctdb bench query), ratio
# printed. Vectors are synthetic (ctdb demo-vectors), the model is the
# shipped one when present (else a fresh default-layout model: same cost).
#   N=100000 CLIENTS=8 SECONDS=10 bash tools/bench-rest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
CLIENTS=${CLIENTS:-8}
DURATION=${DURATION:-10}
WORK=${WORK:-/tmp/ctdb-bench-rest}
PORT=${PORT:-18765}
CTDB=${CTDB:-build/ctdb}
# The index: HNSW32 (approximate, as a deployment of this size would use);
# INDEX=Flat measures exact scans (each reads all N vectors).
INDEX=${INDEX:-HNSW32}
command -v wrk >/dev/null || { echo "bench-rest: needs wrk (apt-get install wrk)" >&2; exit 2; }
mkdir -p "$WORK"
MODEL=${MODEL:-embed/models/ctdb-synth-small}
if [ ! -f "$MODEL/manifest.json" ]; then
  MODEL=$WORK/model
  if [ ! -f "$MODEL/manifest.json" ]; then
    "$CTDB" synth --out "$WORK/corpus" --n 8 --inplane 48 >/dev/null
    "$CTDB" model init --out "$MODEL" --corpus "$WORK/corpus" >/dev/null
  fi
fi
INFO=$("$CTDB" model info "$MODEL" --json)
DIM=$(echo "$INFO" | sed -n 's/.*"dimension":\([0-9]*\).*/\1/p')
MODEL_ID=$(echo "$INFO" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
DB=$WORK/db-$N-$INDEX-diseases-${MODEL_ID//[^A-Za-z0-9]/_}
if [ ! -d "$DB" ]; then
  echo "bench-rest: writing $N synthetic studies (d=$DIM, 16 slabs each) to $DB"
  "$CTDB" demo-vectors --db "$DB" --n "$N" --dim "$DIM" --slabs 16 --diseases --model-id "$MODEL_ID" --index "$INDEX" >/dev/null
fi
KEY=$("$CTDB" list --db "$DB" --limit 1)

cat > "$WORK/text.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"text":"right pleural effusion","k":10}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat > "$WORK/image.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"key":"$KEY","k":10}'
wrk.headers["Content-Type"] = "application/json"
LUA

"$CTDB" serve --db "$DB" --model "$MODEL" --insecure --port "$PORT" --threads "$CLIENTS" >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
ms() {  # wrk latency "1.23ms" / "850.00us" / "1.02s" -> ms
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
declare -A REST_QPS REST_P50 REST_P99
for kind in text image; do
  out=$(wrk -t1 -c"$CLIENTS" -d"${DURATION}s" --latency -s "$WORK/$kind.lua" "http://127.0.0.1:$PORT/v1/search/$kind")
  echo "$out" > "$WORK/wrk-$kind.txt"
  if echo "$out" | grep -q "Non-2xx"; then echo "bench-rest: errors from the server:"; echo "$out"; exit 1; fi
  REST_QPS[$kind]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  REST_P50[$kind]=$(ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")
  REST_P99[$kind]=$(echo "$out" | awk '$1 == "99%" {print $2}'); REST_P99[$kind]=$(ms "${REST_P99[$kind]}")
done
kill -TERM $SERVER; wait $SERVER || true
trap - EXIT

printf "\n%-6s %-9s %10s %10s %10s\n" kind path "queries/s" "p50 ms" "p99 ms"
for kind in text image; do
  j=$("$CTDB" bench query --db "$DB" --model "$MODEL" --kind "$kind" --clients "$CLIENTS" --seconds "$DURATION" --model-threads 1 --json)
  qps=$(echo "$j" | sed -n 's/.*"qps":\([0-9.]*\).*/\1/p')
  p50=$(echo "$j" | sed -n 's/.*"p50_ms":\([0-9.]*\).*/\1/p')
  p99=$(echo "$j" | sed -n 's/.*"p99_ms":\([0-9.]*\).*/\1/p')
  printf "%-6s %-9s %10s %10s %10s\n" "$kind" REST "${REST_QPS[$kind]}" "${REST_P50[$kind]}" "${REST_P99[$kind]}"
  printf "%-6s %-9s %10s %10s %10s\n" "$kind" in-process "$qps" "$p50" "$p99"
  awk -v a="${REST_QPS[$kind]}" -v b="$qps" -v p="${REST_P99[$kind]}" 'BEGIN {
    printf "%-6s REST/in-process throughput ratio %.2fx; REST p99 %s ms (target <= 10 ms: %s)\n", "", a / b, p, (p <= 10 ? "met" : "NOT met") }'
done
echo "($N studies, $INDEX index, $CLIENTS concurrent clients, ${DURATION}s each, wrk on loopback; server and clients share the machine's cores)"

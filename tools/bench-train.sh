#!/usr/bin/env bash
# Training step time with the memory a step frees kept in the process for
# the next one (ctdb train's default) and handed back to the kernel each time
# (--release-memory), side by side on the same synthetic studies and model,
# ratio printed. The model is the shipped one (its grid, its cost).
#   STUDIES=112 STEPS=6 bash tools/bench-train.sh   (7 steps per epoch: no checkpoint
#   but the one at the stop)
set -euo pipefail
cd "$(dirname "$0")/.."
CTDB=${CTDB:-build/ctdb}
MODEL=${MODEL:-embed/models/ctdb-synth-small}
STUDIES=${STUDIES:-112}
STEPS=${STEPS:-6}
WORK=${WORK:-/tmp/ctdb-bench-train}
mkdir -p "$WORK"
if [ ! -d "$WORK/data-$STUDIES/train" ]; then
  "$CTDB" synth --out "$WORK/data-$STUDIES" --n "$STUDIES" --seed 7 --valid 0 >/dev/null
fi
# One run: prints "<seconds> <peak RSS in MiB>".
run() {
  local out=$WORK/run-$1
  rm -rf "$out"
  shift
  "$CTDB" train --data "$WORK/data-$STUDIES" --init "$MODEL" --out "$out" --epochs 1000 \
    --stop-at-step "$STEPS" "$@" > "$out.out" 2> "$out.log" &
  # VmHWM is the peak so far; the last reading before it exits is the run's.
  local pid=$! peak=0 hwm
  while kill -0 "$pid" 2>/dev/null; do
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [ -n "$hwm" ] && peak=$hwm
    sleep 1
  done
  wait "$pid" || { echo "bench-train: ctdb train failed, see $out.log" >&2; exit 1; }
  # The run's own clock: "train: <target> in <seconds>s" after the last step.
  local seconds
  seconds=$(tr '\r' '\n' < "$out.log" | sed -n 's/^train: [0-9]* in \([0-9.]*\)s.*/\1/p' | tail -1)
  [ -n "$seconds" ] || { echo "bench-train: no timing in $out.log" >&2; exit 1; }
  echo "$seconds $((peak / 1024))"
}
read -r kept_s kept_mb < <(run kept)
read -r released_s released_mb < <(run released --release-memory)
echo "bench-train: $STEPS steps of 16 on $STUDIES synthetic studies, model $MODEL, $(nproc) cores"
printf '  %-34s %8s %10s %12s\n' "freed memory" "s/step" "peak RSS" "vs released"
awk -v n="$STEPS" -v a="$kept_s" -v r="$kept_mb" -v b="$released_s" -v q="$released_mb" 'BEGIN {
  printf "  %-34s %8.2f %7d MiB %11.2fx\n", "kept (default)", a / n, r, b / a
  printf "  %-34s %8.2f %7d MiB %11.2fx\n", "released (--release-memory)", b / n, q, 1.0
}'

#!/bin/sh
# Every benchmark of record, one after the other (never in parallel: 2 shared
# cores), each printing its figures (tee'd into OUT_DIR, default
# /tmp/exops-bench-out) and appending its goal rows to OUT_DIR/results.jsonl;
# then bench/table.py rebuilds the table of record in docs/benchmarks.md.
#
#   BEFORE=<git ref> bench/run_all.sh        (BEFORE: the "before" exops; default main)
#
# Each lab has its own 127.N subnet (SUBNET_BASE, default 127.241-246; a taken one is skipped), so this can run
# beside another lab. QUICK=1 runs small sizes (a smoke test: minutes, not figures).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${OUT_DIR:-/tmp/exops-bench-out}
BEFORE=${BEFORE:-main}
N=${SUBNET_BASE:-241}
mkdir -p "$OUT"
: > "$OUT/results.jsonl"
export BENCH_RESULTS="$OUT/results.jsonl"
if [ "${QUICK:-}" = 1 ]; then
    RUNS=2; FLEET=5; SCALE_CLUSTERS=10; SCALE_SIZES=1,10; LAT_CLUSTERS=3
else
    RUNS=5; FLEET=50; SCALE_CLUSTERS=250; SCALE_SIZES=1,10,50,250; LAT_CLUSTERS=20
fi
run() { name=$1; shift; echo "== $*"; "$PY" "$@" 2>&1 | tee "$OUT/$name.txt"; }
run startup bench/startup.py --runs "$RUNS" --before "$BEFORE" --subnet 127.$N
run runbook_overhead bench/runbook_overhead.py --runs 3 --subnet 127.$((N + 1))
run fleet_runbook bench/fleet_runbook.py --clusters "$FLEET" --sizes '' --skip-procs --subnet 127.$((N + 2))
run fleet_status bench/fleet_status.py --clusters "$FLEET" --runs 3 --subnet 127.$((N + 3))
run status_latency bench/status_latency.py --clusters "$LAT_CLUSTERS" --peers 6 --latency 0.2,0.5 --before "$BEFORE" --runs 2 --subnet 127.$((N + 4))
run status_scale bench/status_scale.py --clusters "$SCALE_CLUSTERS" --sizes "$SCALE_SIZES" --before "$BEFORE" --subnet 127.$((N + 5))
run inventory_load bench/inventory_load.py --hosts 300,1500 --before "$BEFORE" --runs 3
"$PY" bench/table.py "$OUT/results.jsonl" --write docs/benchmarks.md \
    --header "Measured $(date -u '+%Y-%m-%d %H:%M') UTC on $(uname -n) ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)) by \`BEFORE=$BEFORE bench/run_all.sh\` (before = $BEFORE, $(git rev-parse --short "$BEFORE"); after = $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- exops || echo ' + uncommitted changes'))."

#!/bin/sh
# Every benchmark of record (issue 22), one after the other (never in parallel: 2
# shared cores), each printing its figures (tee'd into OUT_DIR, default
# /tmp/exops-bench-out) and appending its goal rows to OUT_DIR/results.jsonl;
# then bench/table.py prints every row (goal, measured, met or not, the load
# average during it) and rebuilds the table of record in docs/benchmarks.md.
#
#   bench/run_all.sh                 (BEFORE=<git ref>: also a "before" exops, side by side)
#
# Every goal is a ratio measured side by side in one run (or, for start-up and
# --help, a median of N runs printed beside `python -c pass` and the load
# average). Each lab has its own 127.N subnet (SUBNET_BASE, default 127.241-248;
# a taken one is skipped), so this can run beside another lab. QUICK=1 runs small
# sizes (a smoke test of the pipeline: minutes, not figures).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${OUT_DIR:-/tmp/exops-bench-out}
BEFORE=${BEFORE:-}
N=${SUBNET_BASE:-241}
mkdir -p "$OUT"
: > "$OUT/results.jsonl"
export BENCH_RESULTS="$OUT/results.jsonl"
if [ "${QUICK:-}" = 1 ]; then
    RUNS=3; FLEET=5; SCALE_CLUSTERS=10; LAT_CLUSTERS=3; STATUS_CLUSTERS=2; OVERHEAD_SCALE=0.01
else
    RUNS=9; FLEET=50; SCALE_CLUSTERS=250; LAT_CLUSTERS=20; STATUS_CLUSTERS=20; OVERHEAD_SCALE=0.1
fi
B=""; [ -n "$BEFORE" ] && B="--before $BEFORE"
START="$(date -u '+%Y-%m-%d %H:%M')"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
run() { name=$1; shift; echo "== $* (load average $(cut -d' ' -f1-3 /proc/loadavg))"; "$PY" "$@" 2>&1 | tee "$OUT/$name.txt"; }
# (d) start-up to the first request <= 0.3 s, exops --help <= 0.25 s (medians)
run startup bench/startup.py --runs "$RUNS" $B --subnet 127.$N
# (a) SSH answers delayed 0.2 s (the default path: CDB REST off) and (b) REST answers
# delayed 0.2 s (CDB REST on): latency cost <= 3 round trips
run latency_ssh bench/status_latency.py --iface ssh --clusters "$LAT_CLUSTERS" --peers 6 --latency 0.2 $B --runs 3 --subnet 127.$((N + 1))
run latency_rest bench/status_latency.py --iface rest --clusters "$LAT_CLUSTERS" --peers 6 --latency 0.2 $B --runs 3 --subnet 127.$((N + 2))
# (c) exops status on 120 peers vs an Ansible playbook doing one HTTPS GET per peer: >= 30x
run fleet_status bench/fleet_status.py --clusters "$STATUS_CLUSTERS" --runs 3 --ansible-gets one --ansible-goal 30 --subnet 127.$((N + 3))
# (e) fleet restart of 50 clusters in one process <= 1.5x one cluster (restart grace 0)
run fleet_runbook bench/fleet_runbook.py --clusters "$FLEET" --sizes '' --skip-procs --restart-grace 0 --goal 1.5 --subnet 127.$((N + 4))
# (f) add-peer and restart: wall <= 1.10x the mandatory waits the lab reports
# at time scale 0.01 (a restart lasts 1.8 s) and OVERHEAD_SCALE (0.1: 18 s; a real one ~180 s)
run runbook_overhead_001 bench/runbook_overhead.py --runs 1 --time-scale 0.01 --subnet 127.$((N + 5))
[ "$OVERHEAD_SCALE" = 0.01 ] || run runbook_overhead bench/runbook_overhead.py --runs 1 --time-scale "$OVERHEAD_SCALE" --subnet 127.$((N + 5))
# (g) memory of status on 1,500 peers < 250 MiB: CDB REST on (the row of record) and off (SSH)
run status_scale_rest bench/status_scale.py --clusters "$SCALE_CLUSTERS" --sizes "$SCALE_CLUSTERS" --cdb-rest on --subnet 127.$((N + 6))
run status_scale_ssh bench/status_scale.py --clusters "$SCALE_CLUSTERS" --sizes "$SCALE_CLUSTERS" --cdb-rest off --subnet 127.$((N + 7))
END="$(date -u '+%H:%M')"
AFTER="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- exops || echo ' + uncommitted changes')"
"$PY" bench/table.py "$OUT/results.jsonl" --write docs/benchmarks.md \
    --header "Measured $START-$END UTC on $(uname -n) ($(nproc) cores; load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end) by \`bench/run_all.sh\` (exops $AFTER${BEFORE:+; before = $BEFORE})."

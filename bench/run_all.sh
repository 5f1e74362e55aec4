#!/bin/sh
# Run every benchmark one after the other (never in parallel: 2 shared cores),
# printing each one's figures; tee into OUT_DIR (default /tmp/exops-bench-out).
set -u
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=${OUT_DIR:-/tmp/exops-bench-out}
mkdir -p "$OUT"
$PY bench/startup.py --before "${BEFORE:-main}" | tee "$OUT/startup.txt"
$PY bench/runbook_overhead.py | tee "$OUT/runbook_overhead.txt"
$PY bench/fleet_runbook.py | tee "$OUT/fleet_runbook.txt"
$PY bench/fleet_status.py | tee "$OUT/fleet_status.txt"
$PY bench/status_latency.py --before "${BEFORE:-main}" --runs 3 | tee "$OUT/status_latency.txt"
$PY bench/status_scale.py --before "${BEFORE:-main}" --split 2 | tee "$OUT/status_scale.txt"
$PY bench/inventory_load.py --before "${BEFORE:-main}" | tee "$OUT/inventory_load.txt"

#!/usr/bin/env bash
# Set up, start a 4-peer mock lab, and run the whole demo against it. The demo keeps
# its lab, journal and cluster locks in a new directory of its own (removed at the
# end), so it runs beside another demo or a real cluster named c1. Options go to
# the demo: --keep (leave the lab running), --chapters 1-3, --time-scale, --help.
set -euo pipefail
cd "$(dirname "$0")/.."
EXOPS_SKIP_BROWSER=1 ./scripts/setup.sh
exec .venv/bin/python -m exops.tools.demo "$@"

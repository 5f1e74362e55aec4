#!/usr/bin/env bash
# Set up, start a 4-peer mock lab, and run the whole demo against it.
set -euo pipefail
cd "$(dirname "$0")/.."
EXOPS_SKIP_BROWSER=1 ./scripts/setup.sh
exec .venv/bin/python -m exops.tools.demo "$@"

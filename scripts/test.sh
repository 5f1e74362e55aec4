#!/usr/bin/env bash
# Set up (idempotent) and run lint, type checks and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check exops mock_server tests bench
.venv/bin/mypy
.venv/bin/pytest -n 3 "$@"

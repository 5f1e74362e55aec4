#!/usr/bin/env bash
# Set up (idempotent) and run lint, type checks and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check exops tests bench
.venv/bin/mypy
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache
# --maxschedchunk=1: each worker holds at most two tests, so the longest tests, which
# tests/conftest.py puts first, spread over the workers instead of all going to one.
.venv/bin/pytest -n 3 --maxschedchunk=1 --durations=25 "$@"

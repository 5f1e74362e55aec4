#!/usr/bin/env bash
# Create .venv and install exops with its lab and test tools (quietly: pip's log
# is .venv/setup.log).
# System packages the tests use (OpenSSH client, sshpass, headless Chromium,
# the PostgreSQL server for the team-mode state store tests) are installed when
# missing and we are root (CI, lab machines).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v ssh >/dev/null || need+=(openssh-client)
command -v sshpass >/dev/null || need+=(sshpass)
command -v curl >/dev/null || need+=(curl)
# The state-store tests start a throwaway PostgreSQL (initdb/pg_ctl from PATH or
# /usr/lib/postgresql/<version>/bin; tests/kits/pgserver.py).
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
  # Only the binaries are wanted: no default cluster started on port 5432.
  if [ "$(id -u)" = 0 ]; then
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/exops-tests.conf
  fi
fi
if [ "${EXOPS_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null; then need+=(chromium); fi
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing ${need[*]}" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
    || echo "setup: could not install ${need[*]}; tests needing them will say so" >&2
fi
python3 -m venv .venv
# pip's own output (index warnings, the editable-install notice) goes to a log:
# one line here when it worked, the log's tail when it did not.
log=.venv/setup.log
: > "$log"
# setuptools>=77 in the venv too: tests/unit/test_packaging.py builds the wheel offline.
if ! { .venv/bin/python -m pip install --upgrade pip 'setuptools>=77' \
       && .venv/bin/python -m pip install -e '.[test]'; } >>"$log" 2>&1; then
  echo "setup: pip install failed; the end of $log:" >&2
  tail -n 25 "$log" >&2
  exit 1
fi
echo "setup: .venv ready: $(.venv/bin/exops --version), the lab and the test tools (pip's log: $log)" >&2

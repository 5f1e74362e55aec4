#!/usr/bin/env bash
# Create .venv and install exops with its mock lab and test tools.
# System packages the tests use (OpenSSH client, sshpass, headless Chromium)
# are installed when missing and we are root (CI, lab machines).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v ssh >/dev/null || need+=(openssh-client)
command -v sshpass >/dev/null || need+=(sshpass)
command -v curl >/dev/null || need+=(curl)
if [ "${EXOPS_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null; then need+=(chromium); fi
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing ${need[*]}" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
    || echo "setup: could not install ${need[*]}; tests needing them will say so" >&2
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

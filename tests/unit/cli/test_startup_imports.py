"""`exops --help` and the CLI's import stay light (issue 22: --help <= 0.25 s).

What a command needs (the display and the run stack, pydantic models, httpx,
paramiko, Nornir) is imported inside that command. These tests pin *what* is
imported, not how long it takes (bench/startup.py measures the time).
"""

from __future__ import annotations

import subprocess
import sys

# Modules (or packages) that only a command's body may import.
HEAVY = (
    "exops.cli.display",
    "exops.appliance.base",
    "exops.appliance.maintenance",
    "exops.core.models",
    "exops.run",
    "exops.apply",
    "exops.plan",
    "pydantic",
    "httpx",
    "paramiko",
    "nornir",
    "cryptography",
    "jinja2",
)

REPORT = (
    "import sys; "
    f"heavy = {HEAVY!r}; "
    "print(sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy)))"
)


def _loaded(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code + "\n" + REPORT], capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_importing_the_cli_loads_no_command_stack() -> None:
    assert _loaded("import exops.cli.app") == "[]"


def test_help_loads_no_command_stack() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['exops', '--help']\n"
        "from exops.cli.app import app\n"
        "try:\n"
        "    app()\n"
        "except SystemExit:\n"
        "    pass"
    )
    assert _loaded(code) == "[]"

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


def test_the_exops_command_never_loads_the_httpx_command_line_client() -> None:
    """httpx's package imports its own command-line client (httpx._main: click,
    rich's progress and syntax, pygments' lexers) whenever those are installed, as
    they are beside typer: 60-200 ms of every `exops status` start-up. The exops
    command (its own process) skips it before any command runs; httpx itself works."""
    code = (
        "import sys\n"
        "import exops.cli.app as cli\n"
        "seen = {}\n"
        "def app(standalone_mode):\n"
        "    import httpx\n"
        "    seen['pygments'] = 'pygments' in sys.modules\n"
        "    seen['client'] = callable(httpx.Client)\n"
        "    return 0\n"
        "cli.app = app\n"
        "cli._exit = lambda code: None\n"
        "cli.main()\n"
        "print(seen)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "{'pygments': False, 'client': True}"


def test_import_exops_leaves_httpx_whole() -> None:
    """Only the exops command skips httpx's client: a program that imports exops as
    a library gets httpx as installed."""
    code = (
        "import exops.cli.app, httpx, sys; print(sys.modules['httpx._main'].__file__ is not None)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


def test_the_exops_command_never_loads_invoke_and_paramiko_still_works() -> None:
    """paramiko's config module imports invoke (with unittest.mock and asyncio) when it
    is installed: 30-45 ms of every SSH read's start-up, for ``Match exec`` in OpenSSH
    config files, which exops never reads. The exops command skips it; paramiko's
    client, transport and host keys work as before."""
    code = (
        "import sys\n"
        "import exops.cli.app as cli\n"
        "seen = {}\n"
        "def app(standalone_mode):\n"
        "    import paramiko\n"
        "    from exops.appliance.ssh import ParamikoShell\n"
        "    seen['invoke'] = sys.modules.get('invoke') is not None\n"
        "    seen['mock'] = 'unittest.mock' in sys.modules\n"
        "    seen['client'] = callable(paramiko.SSHClient().close)\n"
        "    seen['keys'] = len(paramiko.HostKeys()) == 0\n"
        "    return 0\n"
        "cli.app = app\n"
        "cli._exit = lambda code: None\n"
        "cli.main()\n"
        "print(seen)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "{'invoke': False, 'mock': False, 'client': True, 'keys': True}"


def test_import_exops_leaves_paramiko_whole() -> None:
    """Only the exops command skips invoke: a program that imports exops gets paramiko
    (and invoke, when installed) as installed."""
    code = "import exops.cli.app, paramiko.config as c, sys; print(c.invoke is not None)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"

"""`exops --help` and the CLI's import stay light (issue 22: --help <= 0.25 s).

What a command needs (the display and the run stack, pydantic models, httpx,
paramiko, Nornir) is imported inside that command. These tests pin *what* is
imported, not how long it takes (bench/startup.py measures the time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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
    "rich",  # imported when something is drawn (exops/cli/screen.py)
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


def test_the_exops_command_never_loads_anyio_and_httpx_still_connects() -> None:
    """httpcore imports anyio for its async pool's locks (~10 ms of every HTTPS start-up);
    exops's sync client never uses it. The exops command skips it; a real request through
    httpx's sync client and httpcore's connection pool works as before."""
    code = (
        "import sys, threading\n"
        "from http.server import BaseHTTPRequestHandler, HTTPServer\n"
        "import exops.cli.app as cli\n"
        "class Handler(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.send_header('Content-Length', '2')\n"
        "        self.end_headers(); self.wfile.write(b'ok')\n"
        "    def log_message(self, *args):\n"
        "        pass\n"
        "server = HTTPServer(('127.0.0.1', 0), Handler)\n"
        "threading.Thread(target=server.serve_forever, daemon=True).start()\n"
        "seen = {}\n"
        "def app(standalone_mode):\n"
        "    import httpx\n"
        "    from exops.appliance import rest\n"
        "    with httpx.Client(transport=rest.DeadlineTransport(verify=False)) as client:\n"
        "        url = f'http://127.0.0.1:{server.server_port}/'\n"
        "        seen['answers'] = [client.get(url).text for _ in range(2)]\n"
        "    seen['anyio'] = sys.modules.get('anyio') is not None\n"
        "    return 0\n"
        "cli.app = app\n"
        "cli._exit = lambda code: None\n"
        "cli.main()\n"
        "print(seen)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "{'answers': ['ok', 'ok'], 'anyio': False}"


def test_import_exops_leaves_paramiko_whole() -> None:
    """Only the exops command skips invoke: a program that imports exops gets paramiko
    (and invoke, when installed) as installed."""
    code = "import exops.cli.app, paramiko.config as c, sys; print(c.invoke is not None)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


# What `exops status` (issue 22: start-up to its first request) needs none of: the run
# stack (display, observers, runner, results, plans, the state store), the report
# renderers (Jinja2 and the plan/run views), the check command's table, the runbook
# files (the other commands), typer's pydantic adapters (its options' defaults, a
# list of clusters) and rich (nothing is drawn before the reads). Nor the knowledge
# table's file: its setting rules, alarm catalogue and upgrade forms are read on first
# use, after the first request (once: ``knowledge.section``).
NOT_FOR_STATUS = (
    "exops.cli.display",
    "exops.run.runner",
    "exops.run.observers",
    "exops.apply",
    "exops.plan",
    "exops.state",
    "exops.report.templating",
    "exops.report.view",
    "exops.report.text",
    "exops.report.rollback",
    "jinja2",
    "rich.progress",
    "exops.runbook.catalog",
    "typer._adapters",
    "rich",  # the wait line's console is made once it can show; the table after the reads
)


def _status_modules_at_first_connect(
    tmp_path: Path, *args: str, command: tuple[str, ...] = ("status", "-c", "c1"),
    watched: tuple[str, ...] = NOT_FOR_STATUS,
) -> dict[str, Any]:
    """Run the real `exops status` (or ``command``; its console entry point, in its own
    process) on an inventory of one peer that nothing answers, and report which of
    ``watched`` were imported when it first connected to that peer (an audit hook; the
    process ends there)."""
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "defaults.yaml").write_text("username: admin\nport: 9\n")
    (inventory / "groups.yaml").write_text("c1:\n  data: {cluster_name: c1.example.com}\n")
    (inventory / "hosts.yaml").write_text(
        "c1-p1:\n  hostname: 127.0.0.1\n  groups: [c1]\n"
        "  data: {address: 127.0.0.1, role: Expressway-C, slot: 1, ssh_port: 9}\n"
    )
    code = (
        "import json, os, sys, tomllib\n"
        f"watched = {watched!r}\n"
        "toml = []\n"
        "loads = tomllib.loads\n"
        "def counted(text, **kw):\n"
        "    toml.append(1)\n"
        "    return loads(text, **kw)\n"
        "tomllib.loads = counted\n"
        "def hook(event, args):\n"
        "    if event == 'socket.connect' and tuple(args[1])[1:2] == (9,):\n"
        "        seen = [m for m in sys.modules if any(m == w or m.startswith(w + '.')"
        " for w in watched)]\n"
        "        parse = getattr(sys.modules['exops.appliance.knowledge'], '_document', None)\n"
        "        parses = parse.cache_info().misses if parse else None\n"
        "        print(json.dumps({'loaded': sorted(seen), 'toml_parses': parses,"
        " 'toml_loads': len(toml)}))\n"
        "        sys.stdout.flush()\n"
        "        os._exit(0)\n"
        "sys.addaudithook(hook)\n"
        f"sys.argv = ['exops', *{list(command)!r}, *{list(args)!r}]\n"
        "from exops.cli.app import main\n"
        "main()\n"
    )
    env = {
        **os.environ,
        "EXOPS_INVENTORY": str(inventory),
        "EXOPS_PASSWORD": "not-a-secret",
        "EXOPS_STATE_DIR": str(tmp_path / "state"),
        "EXOPS_CONFIG": str(tmp_path / "no-config.yaml"),
    }
    argv = [sys.executable, "-c", code]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=120)
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("args", [(), ("--json",)])
def test_status_reaches_its_first_request_without_the_run_or_report_stack(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    found = _status_modules_at_first_connect(tmp_path, *args)
    assert found == {"loaded": [], "toml_parses": 0, "toml_loads": 0}


# What a runbook's dry run (`exops restart --dry-run`: the runbook, the reads, the plan,
# printed as text) needs none of before its first request: rich and the run's display
# (nothing is drawn), the fleet (one cluster).
NOT_FOR_A_DRY_RUN = ("rich", "exops.cli.display", "exops.run.fleet")


@pytest.mark.parametrize("args", [(), ("--json",)])
def test_a_dry_run_reaches_its_first_request_without_rich_the_display_or_the_fleet(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    found = _status_modules_at_first_connect(
        tmp_path,
        *args,
        command=("restart", "-c", "c1", "--dry-run"),
        watched=NOT_FOR_A_DRY_RUN,
    )
    assert found["loaded"] == []
    assert found["toml_loads"] == 0  # the knowledge forms are read after the first request


def test_a_run_reaches_its_first_request_without_rich_the_display_or_the_fleet(
    tmp_path: Path,
) -> None:
    """A real run (`add-peer --yes`: the state store, the lock, the reads): its console
    and display are made on the run's first event, after the reads."""
    found = _status_modules_at_first_connect(
        tmp_path,
        command=("add-peer", "-c", "c1", "--peer", "c1-p1", "--yes"),
        watched=NOT_FOR_A_DRY_RUN,
    )
    assert found["loaded"] == []
    assert found["toml_loads"] == 0

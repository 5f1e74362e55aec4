"""`exops status`'s text for the fields added to exops.status/1: a peer in maintenance
mode in every table form, the DNS/NTP line, the run-holder line and its cheap read."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console
from statuskit import cluster, peer

from exops.cli.display import status_table
from exops.cli.read import _holder_line, print_report, servers_line
from exops.report.status import RunHolder, summarize
from exops.run.holder import run_holder


def _text(renderable: object, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, highlight=False).print(renderable)
    return out.getvalue()


def test_a_peer_in_maintenance_is_marked_in_every_table_form() -> None:
    r = summarize(cluster(peer(0, 3), peer(1, 3, alarms=("20111",)), peer(2, 3)))
    wide = _text(status_table(r, 200), 200)
    (row,) = [line for line in wide.splitlines() if " p2 " in line]
    assert "maint" in row and "20111" in row
    narrow = _text(status_table(r, 100), 100)
    (marked,) = [line for line in narrow.splitlines() if "maint" in line]
    assert marked.split()[1] == "p2"
    blocks = _text(status_table(r, 60), 60)
    assert "up maint" in blocks
    out = io.StringIO()
    print_report(Console(file=out, width=200, highlight=False), r)
    assert "verdict: degraded - p2 is in maintenance mode (alarm 20111): drained on purpose" in (
        out.getvalue()
    )
    healthy = summarize(cluster(*(peer(i, 3) for i in range(3))))
    assert "maint" not in _text(status_table(healthy, 200), 200)


def test_the_servers_line_once_per_cluster_or_per_peer_and_unknown_with_why() -> None:
    rows = summarize(cluster(*(peer(i, 2) for i in range(2)))).peers
    assert servers_line(rows) == "servers: DNS none NTP none (every peer)"
    a = rows[0].model_copy(update={"dns_servers": ("192.0.2.53",), "ntp_servers": ("ntp1",)})
    b = rows[1].model_copy(
        update={"dns_servers": None, "dns_servers_unknown": "answer is a list of 1 (text)"}
    )
    assert servers_line((a, b)) == (
        "servers: p1 DNS 192.0.2.53 NTP ntp1; p2 DNS unknown (answer is a list of 1 (text)) "
        "NTP none"
    )
    down = rows[1].model_copy(update={"reachable": False})
    assert servers_line((down,)) == ""


def test_the_run_holder_comes_from_the_lock_file_only_when_no_run_holds_it(
    tmp_path: Path,
) -> None:
    """No lock file: None without opening the journal (none is created); a live holder
    (this process) is named from its record; a dead one is stale (None)."""
    locks = tmp_path / "locks"
    locks.mkdir()
    settings = SimpleNamespace(
        state_url=None,
        lock_dir=locks,
        state_dir=tmp_path,
        journal_path=tmp_path / "journal.sqlite",
    )
    spec = SimpleNamespace(name="c1", lock_key="c1.0123456789ab")
    assert run_holder(spec, settings) is None
    assert not settings.journal_path.exists()  # the cheap path opened nothing
    record = {
        "user": "alice", "host": os.uname().nodename, "pid": os.getpid(),
        "started": "2026-12-06T17:00:00+00:00", "runbook": "restart", "cluster": spec.lock_key,
    }  # fmt: skip
    (locks / f"{spec.lock_key}.lock").write_text(json.dumps(record) + "\n")
    held = run_holder(spec, settings)
    assert held == RunHolder(
        runbook="restart",
        run_id=None,
        since="2026-12-06T17:00:00+00:00",
        user="alice",
        host=record["host"],
        pid=os.getpid(),
    )
    assert _holder_line("c1", held) == (
        f"run (id not journalled) (restart by alice@{record['host']}, since 17:00:00 UTC) "
        "holds cluster c1"
    )
    (locks / f"{spec.lock_key}.lock").write_text(json.dumps({**record, "pid": 2**22 + 7}))
    assert run_holder(spec, settings) is None  # its process is gone: a stale file
    (locks / f"{spec.lock_key}.lock").write_text("")
    assert run_holder(spec, settings) is None  # released (emptied)

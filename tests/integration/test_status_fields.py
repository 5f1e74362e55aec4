"""`exops status` over the real lab: a peer in maintenance mode (the maintenance alarm,
class "maintenance" in knowledge.toml) over both transports, the DNS and NTP servers and
the run holding the cluster's lock (fields added to exops.status/1)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for
from labkit import lock_key

pytestmark = pytest.mark.integration


def _peers(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (cluster,) = doc["clusters"]
    return {p["host"]: p for p in cluster["peers"]}


@pytest.mark.parametrize("transport", ["rest", "ssh"])
def test_a_peer_in_maintenance_is_said_as_maintenance_over_both_transports(
    lab_factory: Any, tmp_path: Path, transport: str
) -> None:
    lab = lab_factory(
        clusters=1, peers=3, time_scale=0.01, preset="formed", cdb_rest=transport == "rest"
    )
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT=transport)
    doc = cli.json("status", "-c", "c1")
    (cluster,) = doc["clusters"]
    assert cluster["verdict"] == "healthy" and cluster["run_in_progress"] is None
    for p in cluster["peers"]:
        truth = lab.control.peer_state(p["host"])
        assert p["maintenance"] is False
        assert (p["dns_servers"], p["ntp_servers"]) == (truth["dns_servers"], truth["ntp_servers"])
        assert p["dns_servers_unknown"] is None and p["ntp_servers_unknown"] is None

    lab.control.patch_peer("c1-p2", maintenance_mode=True)  # the operator, on the web page
    doc = cli.json("status", "-c", "c1", expect=1)
    (cluster,) = doc["clusters"]
    peers = _peers(doc)
    assert [h for h, p in peers.items() if p["maintenance"]] == ["c1-p2"]
    assert "20111" in peers["c1-p2"]["alarms"]
    assert cluster["verdict"] == "degraded"  # fewer peers take calls: never healthy-and-silent
    assert cluster["root_cause"].startswith("c1-p2 is in maintenance mode (alarm 20111)")
    assert not any("alarms 20111" in r for r in cluster["reasons"])  # never an unknown alarm
    text = cli("status", "-c", "c1", expect=1).stdout
    assert "maint" in text and "drained on purpose" in text
    assert "alarm 20111 on c1-p2: Maintenance mode: this peer is in maintenance mode" in text
    check = {c["name"]: c for c in cli.json("check", "-c", "c1")["checks"]}
    assert check["size"]["outcome"] == "warn" and "in maintenance mode: c1-p2" in check["size"][
        "summary"
    ]

    lab.control.patch_peer("c1-p2", maintenance_mode=False)  # off again: silent and healthy
    doc = cli.json("status", "-c", "c1")
    assert doc["clusters"][0]["verdict"] == "healthy"
    assert not any(p["maintenance"] for p in _peers(doc).values())


def test_status_names_the_run_holding_the_cluster_lock(
    lab_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock's holder (runbook, since, who; no run journalled: run_id null) in JSON and
    in one line of text, and from the library (``exops.status``); gone once the lock is
    released."""
    import exops
    from exops.state.flock import acquire

    lab = lab_factory(clusters=1, peers=2, time_scale=0.01, preset="formed")
    cli = cli_for(lab, tmp_path)
    for name, value in cli.env.items():
        if name.startswith("EXOPS_"):
            monkeypatch.setenv(name, value)
    locks = tmp_path / "exops-state" / "locks"
    with acquire(lock_key(lab, "c1"), runbook="restart", timeout_s=0, lock_dir=locks):
        (report,) = exops.status(exops.load_env(), "c1")  # the library says it too
        assert report.run_in_progress is not None
        assert report.run_in_progress.runbook == "restart"
        (cluster,) = cli.json("status", "-c", "c1")["clusters"]
        held = cluster["run_in_progress"]
        assert held is not None, cluster
        assert (held["runbook"], held["run_id"]) == ("restart", None)
        assert held["since"].startswith(time.strftime("%Y-", time.gmtime()))
        assert held["user"] and held["host"] and isinstance(held["pid"], int)
        first = cli("status", "-c", "c1").stdout.splitlines()[0]
        assert first.startswith("run (id not journalled) (restart by ") and first.endswith(
            "holds cluster c1"
        ), first
    (cluster,) = cli.json("status", "-c", "c1")["clusters"]
    assert cluster["run_in_progress"] is None
    assert exops.status(exops.load_env(), "c1")[0].run_in_progress is None
    assert "holds cluster" not in cli("status", "-c", "c1").stdout

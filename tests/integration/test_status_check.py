"""`exops status` and `exops check` through the real CLI, compared with the mock's true state."""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for

pytestmark = pytest.mark.integration


def true_view(lab: Any, peer: str) -> dict[str, Any]:
    s = lab.control.peer_state(peer)
    return {
        "reachable": s["running"] and s["reachable"],
        "is_primary": s["is_primary"],
        "database": s["database"],
        "replication": s["replication"],
        "tls_mode": s["saved"]["tls"],
        "alarms": sorted(s["alarms"]),
        "restart_pending": s["restart_required"],
        "version": s["version"],
    }


def reported(peer: dict[str, Any]) -> dict[str, Any]:
    return {
        "reachable": peer["reachable"],
        "is_primary": peer["is_primary"],
        "database": peer["database"],
        "replication": peer["replication"],
        "tls_mode": peer["tls_mode"],
        "alarms": sorted(a if isinstance(a, str) else a["id"] for a in peer["alarms"]),
        "restart_pending": peer["restart_pending"],
        "version": peer["version"],
    }


def wait_alarm(lab: Any, peer: str, alarm: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while alarm not in lab.control.peer_state(peer)["alarms"]:
        if time.monotonic() > deadline:
            pytest.fail(f"{peer} never raised {alarm}")
        time.sleep(0.05)


@pytest.mark.parametrize("transport", ["rest", "ssh"])
def test_status_matches_the_true_state_healthy_and_degraded(
    lab_factory: Any, tmp_path: Path, transport: str
) -> None:
    lab = lab_factory(
        clusters=2, peers=3, time_scale=0.004, preset="formed", cdb_rest=transport == "rest"
    )
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT=transport)
    doc = cli.json("status")
    assert doc["schema"] == "exops.status/1"
    assert [c["cluster"] for c in doc["clusters"]] == ["c1", "c2"]
    for c in doc["clusters"]:
        assert c["verdict"] == "healthy"
        for p in c["peers"]:
            assert reported(p) == true_view(lab, p["host"]), p["host"]
            assert p["transport"] == transport

    # degraded: one subordinate down; the others raise 20004/20006
    lab.control.inject("unreachable", peer="c1-p3")
    wait_alarm(lab, "c1-p1", "20004")
    doc = cli.json("status", "-c", "c1", expect=1)
    c1 = doc["clusters"][0]
    assert c1["verdict"] in ("degraded", "broken")
    assert any("c1-p3" in r for r in c1["reasons"])
    by_host = {p["host"]: p for p in c1["peers"]}
    assert by_host["c1-p3"]["reachable"] is False and by_host["c1-p3"]["error"]
    for host in ("c1-p1", "c1-p2"):
        assert reported(by_host[host]) == true_view(lab, host), host


def test_status_reports_a_pending_factory_reset_with_the_undo(
    lab_factory: Any, tmp_path: Path
) -> None:
    # The CDB REST interface on: the hazard is made out of band with the real write form.
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed", cdb_rest=True)
    cli = cli_for(lab, tmp_path)
    cli("run", "tests/integration/runbooks/wipe-p2.yaml", "-c", "c1", "--yes", expect=3)
    # make the hazard out of band (as a careless manual edit would)
    import httpx

    from exops.appliance.knowledge import CDB
    from exops.appliance.rest import CSRF_HEADER

    ip = lab.peers["c1-p2"]
    with httpx.Client(
        verify=ssl.create_default_context(cafile=str(lab.ca_path)),
        auth=("admin", lab.password),
        base_url=f"https://{ip}:{lab.https_port}",
    ) as client:
        for slot in range(3):
            r = client.post(
                f"{CDB.prefix}{CDB.alternates}/index/{slot}",
                data={"ip_address": ""},
                headers=dict([CSRF_HEADER]),
            )
            assert r.status_code < 300, r.text
    wait_alarm(lab, "c1-p2", "20107")
    doc = cli.json("status", "-c", "c1", expect=1)
    text = str(doc)
    assert "factory" in text.lower() and "exops restore" in text
    refused = cli("restart", "-c", "c1", "--peer", "c1-p2", "--yes", expect=3)
    assert "factory reset" in refused.stderr
    # the undo offered: the cluster's own list goes back, no restart, no reset
    cli("restore", "-c", "c1", "--peer", "c1-p2", "--yes")
    state = lab.control.peer_state("c1-p2")
    assert state["saved"]["peers"][:3] == [lab.peers[p] for p in ("c1-p1", "c1-p2", "c1-p3")]
    assert not state["factory_reset_pending"] and "20107" not in state["alarms"]


def test_check_reports_failures_with_evidence(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(
        clusters=1,
        peers=4,
        time_scale=0.004,
        preset="formed",
        spec={"c1-p4": {"version": "X14.3.2"}},
    )
    # H.323 off on the primary: replication copies the primary's configuration to the
    # others, so the primary's own value is the one no replication run can overwrite
    # before exops reads it (deterministic under load; a subordinate's would be).
    lab.control.patch_peer("c1-p1", h323=False)
    lab.control.patch_peer("c1-p3", cert="missing_san")
    cli = cli_for(lab, tmp_path)
    doc = cli.json("check", "-c", "c1", "--peer", "c1-p4", expect=3)
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["h323"]["outcome"] == "fail" and checks["h323"]["evidence"]["c1-p1"] == "Off"
    assert checks["version"]["outcome"] == "fail"
    assert checks["version"]["evidence"]["c1-p4"] == "X14.3.2"
    # Permissive cluster: TLS names do not apply yet (enforce-tls checks them), but the
    # check still says what it saw.
    assert checks["tls_names"]["outcome"] == "n/a" and "c1-p3" in checks["tls_names"]["summary"]
    assert checks["role"]["outcome"] == "pass"


def test_logs_analyze_fetched_from_the_peers(formed_lab: Any, tmp_path: Path) -> None:
    cli = cli_for(formed_lab, tmp_path)
    cli("restart", "-c", "c1", "--peer", "c1-p2", "--yes")
    doc = cli.json("logs", "analyze", "-c", "c1")
    assert doc["schema"] == "exops.logs/1"
    peers = {p["host"]: p for p in doc["peers"]}
    assert set(peers) == {"c1-p1", "c1-p2", "c1-p3"}
    kinds = [e["kind"] for e in peers["c1-p2"]["timeline"]]
    assert "restart" in kinds and "sync_complete" in kinds
    assert peers["c1-p1"]["role"] == "primary"
    assert formed_lab.password not in json.dumps(doc)

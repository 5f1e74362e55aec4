"""`exops snapshot` and `exops diff` through the real CLI on the lab, over both transports:
a snapshot holds what the lab really has; a change made on a peer's own command line
between two runs shows as drift per peer and setting; what cannot be read is unknown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for
from labkit import cli as peer_cli

pytestmark = pytest.mark.integration


def true_values(lab: Any, peer: str) -> dict[str, str]:
    s = lab.control.peer_state(peer)
    saved = s["saved"]
    out = {f"cluster.peer_{i}": a for i, a in enumerate(saved["peers"], start=1)}
    out.update(
        {
            "cluster.primary": str(saved["master"]),
            "cluster.name": saved["name"],
            "cluster.address_mapping": saved["map_mode"],
            "system.version": s["version"],
            "system.hostname": s["hostname"],
            "system.domain": s["domain"],
            "system.h323_mode": "On" if s["h323"] else "Off",
        }
    )
    out.update({f"system.dns_server_{i}": a for i, a in enumerate(s["dns_servers"], 1)})
    out.update({f"system.ntp_server_{i}": a for i, a in enumerate(s["ntp_servers"], 1)})
    return out


def shown(doc: dict[str, Any]) -> set[tuple[str, str, str | None, str | None, str]]:
    return {(r["host"], r["setting"], r["before"], r["after"], r["change"]) for r in doc["rows"]}


@pytest.mark.parametrize("transport", ["rest", "ssh"])
def test_snapshot_then_a_change_on_the_cli_shows_as_drift(
    formed_lab: Any, tmp_path: Path, transport: str
) -> None:
    lab = formed_lab
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT=transport)
    first = cli.json("snapshot", "-c", "c1")
    sid = first["snapshot_id"]
    assert first["incomplete"] == [] and [p["host"] for p in first["peers"]] == list(lab.peers)
    for p in first["peers"]:
        want = true_values(lab, p["host"])
        assert {k: p["values"].get(k) for k in want} == want, p["host"]
        assert p["values"]["certificate.fingerprint_sha256"]
        assert p["transport"] == transport
    history = cli.json("history", "-c", "c1")["runs"]
    assert [(r["run_id"], r["runbook"], r["status"]) for r in history] == [(sid, "snapshot", "ok")]
    listed = cli.json("snapshot", "--list")["snapshots"]
    assert [(s["snapshot_id"], s["cluster"], s["peer_count"]) for s in listed] == [(sid, "c1", 3)]
    steps = cli.json("show", sid)["steps"]  # one journal step per peer
    assert [(st["host"], st["kind"], st["status"]) for st in steps] == [
        (h, "snapshot", "ok") for h in lab.peers
    ]

    # Nothing changed yet: no drift against the live cluster.
    same = cli.json("diff", "-c", "c1")
    assert (same["drift"], same["unread"], same["rows"]) == (0, 0, [])

    # The operator changes a setting on the primary's own command line (as on the
    # web page): a cluster-database setting, so every peer has it at once.
    out = peer_cli(lab, "c1-p1", "xConfiguration Alternates Cluster AddressMapping Mode: On")
    assert "OK" in out
    drift = cli.json("diff", sid, "-c", "c1")
    expected = {(h, "cluster.address_mapping", "Off", "On", "changed") for h in lab.peers}
    assert shown(drift) == expected
    assert drift["peers_with_drift"] == sorted(lab.peers)
    cli("diff", sid, "-c", "c1", "--detailed-exitcode", expect=5)
    text = cli("diff", "-c", "c1").stdout
    assert "cluster.address_mapping" in text and "drift: 3 setting(s) on 3 peer(s)" in text

    # A second snapshot: the drift between the two stored ones is the same change.
    second = cli.json("snapshot", "-c", "c1")["snapshot_id"]
    assert shown(cli.json("diff", sid, second)) == expected
    assert cli.json("diff", second, "-c", "c1")["drift"] == 0
    assert shown(cli.json("diff", second, sid)) == {(h, s, a, b, c) for (h, s, b, a, c) in expected}


def test_an_unreachable_peer_is_stored_as_unread_and_never_compared(
    formed_lab: Any, tmp_path: Path
) -> None:
    lab = formed_lab
    cli = cli_for(lab, tmp_path)
    sid = cli.json("snapshot", "-c", "c1")["snapshot_id"]
    lab.control.inject("unreachable", peer="c1-p3")
    partial = cli("snapshot", "-c", "c1", "--json", expect=6)
    import json

    taken = json.loads(partial.stdout)
    assert taken["incomplete"] == ["c1-p3"]
    down = next(p for p in taken["peers"] if p["host"] == "c1-p3")
    assert down["reachable"] is False and set(down["unknown"]) == {
        "cluster",
        "system",
        "certificate",
    }
    runs = cli.json("history", "-c", "c1")["runs"]
    assert runs[0]["status"] == "partial" and runs[0]["exit_code"] == 6

    diff = cli("diff", sid, "-c", "c1", "--json", expect=6)
    rows = json.loads(diff.stdout)["rows"]
    assert [(r["host"], r["setting"], r["change"]) for r in rows] == [
        ("c1-p3", "(peer)", "unknown")
    ]
    assert "not read after" in rows[0]["note"]
    text = cli("diff", sid, "-c", "c1", expect=6).stdout
    assert "unknown" in text and "not compared" in text


def test_bad_input_is_one_line_and_the_password_is_stored_nowhere(
    formed_lab: Any, tmp_path: Path
) -> None:
    lab = formed_lab
    cli = cli_for(lab, tmp_path)
    for args, needle in [
        (("snapshot",), "name the cluster"),
        (("snapshot", "-c", "nope"), "nope"),
        (("diff",), "name two snapshots"),
        (("diff", "abc"), "name two snapshots"),
        (("diff", "-c", "c1"), "no snapshot of cluster c1 yet"),
        (("diff", "nope", "-c", "c1"), "no snapshot 'nope'"),
        (("snapshot", "--show", "nope"), "no snapshot 'nope'"),
        (("diff", "a", "b", "c"), "at most two"),
    ]:
        proc = cli(*args, expect=2)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    sid = cli.json("snapshot", "-c", "c1")["snapshot_id"]
    shown_text = cli("snapshot", "--show", sid).stdout
    assert "cluster.address_mapping" in shown_text and "c1-p2" in shown_text
    assert cli.json("snapshot", "--show", sid)["snapshot_id"] == sid
    password = lab.password.encode()
    state = tmp_path / "exops-state"
    for path in state.rglob("*"):
        if path.is_file():
            assert password not in path.read_bytes(), path

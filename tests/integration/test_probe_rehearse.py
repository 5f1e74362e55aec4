"""`exops probe`, `--record` and replay, and `exops rehearse`: the real CLI, real labs.

The probe on a lab with the cluster database REST off and on; a probe that
finds SSH refused; a recorded probe with no byte of the lab password, replayed
by `python -m exops.lab up --replay` and read back by exops (same facts);
a rehearsal that succeeds, one that fails at an injected fault, and the
no-write guarantee: the real (lab) cluster's request log holds only reads.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from clikit import cli_for, last_seq, writes_since

from exops.appliance.knowledge import FORMS

pytestmark = pytest.mark.integration


def _fields(peer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in peer["fields"]}


@pytest.mark.parametrize("cdb_rest", [False, True], ids=["cdb-off", "cdb-on"])
def test_probe_reads_every_field_over_the_interface_that_serves_it(
    lab_factory: Any, tmp_path: Path, cdb_rest: bool
) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.01, preset="formed", cdb_rest=cdb_rest)
    cli = cli_for(lab, tmp_path)
    seq = last_seq(lab)
    doc = cli.json("probe", "-c", "c1")
    assert doc["schema"] == "exops.probe/1" and doc["complete"] is True
    assert writes_since(lab, seq) == []
    route = "cdb-rest" if cdb_rest else "ssh"
    for peer in doc["peers"]:
        states = {i["name"]: i["state"] for i in peer["interfaces"]}
        assert states == {
            "provisioning_rest": "answers",
            "cdb_rest": "on" if cdb_rest else "off",
            "status_xml": "not offered",
            "ssh": "answers",
        }
        assert (peer["version"], peer["role"]) == ("X15.2.1", "Expressway-C")
        fields = _fields(peer)
        # Option keys: n/a on Expressway X14.2+ (no option keys); all else read.
        assert fields.pop("system.option_keys")["status"] == "n/a"
        assert all(f["status"] == "parsed" for f in fields.values()), fields
        assert fields["system.dns_servers"]["value"] == "192.0.2.53"
        assert fields["logs.rest"]["value"] == fields["logs.ssh"]["value"]  # the same log
        # Every form with no public evidence that it sent is named with the answer.
        met = {m["form"]: m for m in peer["forms"]}
        assert met["rest.sysinfo"]["answered"].startswith("HTTP 200: an object {")
        assert met["rest.optionkey"]["answered"].startswith("HTTP 404: ")
        # Over SSH, exops does not ask an Expressway X14.2+ for option keys at all.
        assert "ssh.options" not in met and "ssh.options" in peer["forms_not_met"]
        assert ("cdb.clusterdatabase" in met) is cdb_rest
        assert "ssh.alternates" in met and "ssh.ntp" in met  # SSH answers: sent too
        assert set(met) | set(peer["forms_not_met"]) == set(FORMS)
        assert fields["settings.peers"]["via"] == route
        assert fields["settings.peers"]["value"].startswith(lab.peers["c1-p1"])
        contract = fields["settings.peers"]["contract"]
        assert contract.startswith(
            "SETTING_RULES[peer_address]" + ("" if cdb_rest else ".cli: xConfiguration")
        )
    assert all(v["can_run"] for v in doc["runbooks"])


def test_probe_names_what_stops_each_runbook(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=1, peers=2, time_scale=0.01, preset="formed")
    lab.control.inject("ssh_auth_reject", peer="c1-p2")
    cli = cli_for(lab, tmp_path)
    doc = cli.json("probe", "-c", "c1", expect=1)
    p2 = next(p for p in doc["peers"] if p["host"] == "c1-p2")
    assert not p2["complete"]
    assert {i["name"]: i["state"] for i in p2["interfaces"]}["ssh"] == "fails"
    unreadable = [f for f in p2["fields"] if f["status"] == "unreadable"]
    assert unreadable and all(f["error"] for f in unreadable)
    verdicts = {v["runbook"]: v for v in doc["runbooks"]}
    assert not verdicts["add-peer"]["can_run"]
    assert (
        "c1-p2: the cluster database REST is off and SSH is unavailable"
        in (verdicts["add-peer"]["verdict"])
    )
    text = cli("probe", "-c", "c1", "--peer", "c1-p2", expect=1).stdout
    assert "UNREADABLE" in text and "interfaces missing: c1-p2" in text


def _facts_of(status: dict[str, Any]) -> list[tuple[Any, ...]]:
    keys = ("host", "slot", "listed_as", "is_primary", "state", "replication", "version", "role")
    return [tuple(p[k] for k in keys) for c in status["clusters"] for p in c["peers"]]


def test_a_recorded_probe_replays_through_exops(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory(clusters=1, peers=3, time_scale=0.01, preset="formed")
    cli = cli_for(lab, tmp_path)
    rec = tmp_path / "rec"
    probed = cli.json("probe", "-c", "c1", "--record", str(rec))
    live_status = cli.json("status", "-c", "c1")
    files = sorted(p.name for p in rec.iterdir())
    assert files == ["c1-p1.jsonl", "c1-p2.jsonl", "c1-p3.jsonl", "manifest.json", "probe.json"]
    everything = b"".join(p.read_bytes() for p in rec.iterdir())
    assert lab.password.encode() not in everything
    assert b"authorization" not in everything.lower()
    # The bundle to send back holds the report, forms met included (docs/probe.md).
    report = json.loads((rec / "probe.json").read_text())
    assert report == probed and all(p["forms"] for p in report["peers"])
    assert (rec / "probe.json").stat().st_mode & 0o077 == 0

    # Any command records with EXOPS_RECORD_DIR (the runner's session included).
    env_rec = tmp_path / "env-rec"
    cli_for(lab, tmp_path, EXOPS_RECORD_DIR=str(env_rec))("status", "-c", "c1")
    # ... and says which peer belongs to which cluster (manifest.json), so a replay
    # serves every cluster under its own name.
    assert sorted(p.name for p in env_rec.iterdir()) == [
        "c1-p1.jsonl",
        "c1-p2.jsonl",
        "c1-p3.jsonl",
        "manifest.json",
    ]
    assert lab.password.encode() not in b"".join(p.read_bytes() for p in env_rec.iterdir())

    replay = lab_factory(replay=rec)
    rcli = cli_for(replay, tmp_path / "replay")
    assert _facts_of(rcli.json("status", "-c", "c1")) == _facts_of(live_status)
    again = rcli.json("probe", "-c", "c1")
    assert [(p["host"], p["version"], p["role"]) for p in again["peers"]] == [
        (p["host"], p["version"], p["role"]) for p in probed["peers"]
    ]
    assert [{f["name"]: f["value"] for f in p["fields"]} for p in again["peers"]] == [
        {f["name"]: f["value"] for f in p["fields"]} for p in probed["peers"]
    ]
    # An unrecorded request is named, never guessed.
    url = f"https://{replay.peers['c1-p1']}:{replay.https_port}/api/raml"
    ca = ssl.create_default_context(cafile=str(replay.ca_path))
    answer = httpx.get(url, auth=("admin", replay.password), verify=ca)
    assert answer.status_code == 599
    assert answer.json() == {"Message": "not recorded: GET /api/raml"}


def _only_reads(lab: Any, since: int) -> list[dict[str, Any]]:
    """Every request the lab saw after ``since`` that is not a read."""
    bad = []
    for r in lab.control.requests(since=since):
        line = str(r["path"])
        cli_write = r["iface"] == "ssh" and (
            line.startswith("xCommand") or (line.startswith("xConfiguration") and ":" in line)
        )
        if r["write"] or (r["iface"] == "rest" and r["method"] != "GET") or cli_write:
            bad.append(r)
    return bad


def _two_peer_lab(lab_factory: Any, tmp_path: Path) -> tuple[Any, Any]:
    lab = lab_factory(clusters=1, peers=2, time_scale=0.004, preset="unclustered")
    cli = cli_for(lab, tmp_path)
    cli("create-cluster", "-c", "c1", "--yes")
    return lab, cli


def test_a_rehearsal_succeeds_and_the_real_cluster_sees_only_reads(
    lab_factory: Any, tmp_path: Path
) -> None:
    lab, cli = _two_peer_lab(lab_factory, tmp_path)
    seq = last_seq(lab)
    before = lab.control.peer_state("c1-p2")["saved"]
    proc = cli("rehearse", "add-peer", "-c", "c1", "--peer", "c1-p2", "--time-scale", "0.004",
               "--json")  # fmt: skip
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "exops.rehearsal/1"
    assert (doc["status"], doc["exit_code"]) == ("ok", 0), doc["message"]
    assert doc["recap"]["c1-p2"]["changed"] >= 1
    assert set(doc["downtime"]) == {"c1-p2"} and doc["downtime"]["c1-p2"]["predicted_s"] > 0
    assert doc["predicted_seconds"] > doc["clone_seconds"]
    kinds = [t["kind"] for t in doc["timeline"]]
    assert "restart" in kinds and "wait" in kinds
    assert any(e["event"] == "rose" for e in doc["alarms"]["c1-p2"])
    assert doc["assumptions"] and doc["safety"] == []
    assert not doc["clone_subnet"].startswith(lab.subnet)
    # The real cluster: only reads, nothing changed.
    assert _only_reads(lab, seq) == []
    assert lab.control.requests(since=seq), "the rehearsal read nothing from the real cluster"
    assert lab.control.peer_state("c1-p2")["saved"] == before
    text = cli("rehearse", "add-peer", "-c", "c1", "--peer", "c1-p2", "--format", "md").stdout
    assert "## Predicted downtime per peer" in text and "## Assumptions" in text


def test_a_rehearsal_fails_at_an_injected_fault(lab_factory: Any, tmp_path: Path) -> None:
    lab, cli = _two_peer_lab(lab_factory, tmp_path)
    seq = last_seq(lab)
    proc = cli("rehearse", "add-peer", "-c", "c1", "--peer", "c1-p2", "--time-scale", "0.004",
               "--inject", "restart_hang@restart c1-p2", "--json", expect=1)  # fmt: skip
    doc = json.loads(proc.stdout)
    assert doc["status"] == "failed"
    assert doc["injected"] == [
        {"fault": "restart_hang@restart c1-p2", "peer": "c1-p2", "action": doc["injected"][0][
            "action"], "id": doc["injected"][0]["id"]}
    ]  # fmt: skip
    failed = [t for t in doc["timeline"] if t["status"] in ("failed", "unreachable")]
    assert [t["step"] for t in failed] == ["restart c1-p2"]
    assert doc["still_down"] == ["c1-p2"]
    assert "restart" in doc["message"]
    assert _only_reads(lab, seq) == []

"""The probe's verdicts and field reports, the rehearsal's clone spec and --inject, and
the mock's clone builder (plain data and fakes, no sockets)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from exops.appliance.base import ConnectionTarget
from exops.appliance.knowledge import CDB, REST
from exops.appliance.rest import RestAppliance
from exops.core.errors import TransportError, UsageError
from exops.core.models import (
    Alarm,
    Certificate,
    ClusterFacts,
    ClusterSettings,
    PeerFacts,
    Role,
    SystemInfo,
    TlsMode,
)
from exops.inventory import ClusterSpec, PeerSpec
from exops.runbook.loader import load_runbook
from exops.tools import probe as probe_mod
from exops.tools.probe import FieldRead, Interface, PeerProbe, probe_peer, verdicts
from exops.tools.rehearse import Fault, clone_spec, parse_inject

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def peer(host: str, **interfaces: str) -> PeerProbe:
    p = PeerProbe(host=host, cluster="c", address="10.0.0.1", hostname="10.0.0.1", transport="auto")
    p.interfaces = [Interface(name, state, f"{name} detail") for name, state in interfaces.items()]
    return p


def by_name(vs: list[probe_mod.Verdict]) -> dict[str, probe_mod.Verdict]:
    return {v.runbook: v for v in vs}


RUNBOOKS = {n: load_runbook(n) for n in ("add-peer", "restart", "repair-replication")}


def test_every_runbook_can_run_when_every_interface_answers() -> None:
    p = peer("a", provisioning_rest="answers", cdb_rest="off", ssh="answers")
    assert all(v.can_run for v in verdicts([p], RUNBOOKS))
    assert by_name(verdicts([p], RUNBOOKS))["add-peer"].text == "can run"


def test_cdb_off_and_ssh_unavailable_stops_every_writing_runbook() -> None:
    p = peer("a", provisioning_rest="answers", cdb_rest="off", ssh="fails")
    vs = by_name(verdicts([p], RUNBOOKS))
    assert not vs["add-peer"].can_run
    assert (
        "the cluster database REST is off and SSH is unavailable (ssh detail)"
        in vs["add-peer"].text
    )
    assert vs["restart"].can_run  # a restart goes over provisioning REST
    assert "xCommand needs SSH" in vs["repair-replication"].text


def test_cdb_on_carries_writes_without_ssh_but_not_commands() -> None:
    p = peer("a", provisioning_rest="answers", cdb_rest="on", ssh="fails")
    vs = by_name(verdicts([p], RUNBOOKS))
    assert vs["add-peer"].can_run and not vs["repair-replication"].can_run


def test_an_unknown_peer_list_shape_is_named_with_its_raw_answer() -> None:
    p = peer("a", provisioning_rest="answers", cdb_rest="on", ssh="answers")
    p.fields = [
        FieldRead(
            "settings.peers", "unreadable", "cdb-rest", "/api/management/configuration/alternates",
            "", raw="<html>oops", error="answer is an object, expected a list of peers",
        )
    ]  # fmt: skip
    text = by_name(verdicts([p], RUNBOOKS))["add-peer"].text
    assert text.startswith("cannot run, because a: an unknown answer shape for the peer list")
    assert "'<html>oops'" in text


def test_a_peer_that_does_not_answer_stops_runbooks() -> None:
    p = peer("dead", provisioning_rest="fails", cdb_rest="fails", ssh="fails")
    assert not p.reachable and not p.complete
    assert "dead did not answer" in by_name(verdicts([p], RUNBOOKS))["restart"].text


# -- probe_peer on fakes: a garbled CDB answer is reported with its first line ------------


class _NoShell:
    def __init__(self, target: ConnectionTarget) -> None:
        self.recorder: Any = None

    def send(self, command: str) -> str:
        raise TransportError("cannot connect over SSH (Connection refused)")

    def close(self) -> None:
        return None


def _handler(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == REST.probe:
        return httpx.Response(200, json=[{"PeerAddress": "10.0.0.11"}])
    if path == CDB.prefix + CDB.master:
        return httpx.Response(
            200, json=[{"peer": "10.0.0.11", "num_recs": 1, "records": [{"master_idx": 0}]}]
        )
    if path == CDB.prefix + CDB.alternates:
        return httpx.Response(200, text="<html>garbled peer list</html>\nmore")
    if path == REST.sysinfo:
        return httpx.Response(200, json={"Version": "X15.2.1", "ProductType": "Expressway-C"})
    return httpx.Response(404, json={"Message": "Not found"})


def test_probe_peer_reports_each_field_and_the_raw_first_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = httpx.MockTransport(_handler)
    monkeypatch.setattr(
        probe_mod,
        "RestAppliance",
        lambda t: RestAppliance(t, transport=transport, sleep=lambda s: None),
    )
    monkeypatch.setattr(probe_mod, "ParamikoShell", _NoShell)
    spec = PeerSpec("exp-c-1", "c", "10.0.0.11", 443, 22, "10.0.0.11", "", None, 1, "auto", "admin")
    target = ConnectionTarget(
        host="exp-c-1", hostname="10.0.0.11", password=SecretStr("pw"), retries=0
    )
    result = probe_peer(spec, target)
    states = {i.name: i.state for i in result.interfaces}
    assert states == {
        "provisioning_rest": "answers",
        "cdb_rest": "on",
        "status_xml": "not offered",
        "ssh": "fails",
    }
    peers = result.field("settings.peers")
    assert peers is not None and peers.status == "unreadable"
    assert peers.raw == "<html>garbled peer list</html>"
    assert peers.contract.startswith(
        "SETTING_RULES[peer_address]: /api/management/configuration/alternates.ip_address"
    )
    assert result.version == "X15.2.1" and result.role == "Expressway-C"
    version, dns = result.field("system.version"), result.field("system.dns_servers")
    assert version is not None and version.status == "parsed" and version.value == "X15.2.1"
    assert dns is not None and dns.status == "unreadable"  # dns/dns answered 404: no read
    assert dns.raw == '{"Message":"Not found"}'
    assert not result.complete
    # The forms with no public evidence it met are named with what came back (issue 24).
    met = {m.form: m for m in result.forms}
    assert met["rest.sysinfo"].answered.startswith("HTTP 200: an object {ProductType, Version")
    assert met["rest.eventlog"].request == "GET /api/provisioning/eventlog?lines=5"
    assert met["rest.eventlog"].answered == "HTTP 404: an object {Message}"
    assert "ssh.options" in result.forms_not_met  # SSH never answered


def _x142_handler(request: httpx.Request) -> httpx.Response:
    """An X14.2+ Expressway answering the guide's server shapes and 404 for option keys."""
    path = request.url.path
    answers: dict[str, Any] = {
        REST.probe: [{"PeerAddress": "10.0.0.11"}],
        REST.sysinfo: {"Version": "X15.2.1", "ProductType": "Expressway-E", "PlatformSize": "large"},
        REST.dns: {"SystemHostName": "e1", "DomainName": "example.com"},
        REST.dns_servers: {"DefaultDNSServers": {"index": 2, "address": "10.0.0.2"}},
        REST.ntp_servers: {"index": 5, "Address": "10.0.0.1"},
    }
    if path in answers:
        return httpx.Response(200, json=answers[path])
    return httpx.Response(404, json={"Message": "Not found"})


def test_probe_reads_the_guide_shapes_and_option_keys_are_na_on_x142(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = httpx.MockTransport(_x142_handler)
    monkeypatch.setattr(
        probe_mod,
        "RestAppliance",
        lambda t: RestAppliance(t, transport=transport, sleep=lambda s: None),
    )
    monkeypatch.setattr(probe_mod, "ParamikoShell", _NoShell)
    spec = PeerSpec("e1", "c", "10.0.0.11", 443, 22, "10.0.0.11", "", None, 1, "auto", "admin")
    target = ConnectionTarget(host="e1", hostname="10.0.0.11", password=SecretStr("pw"), retries=0)
    result = probe_peer(spec, target)
    fields = {f.name: f for f in result.fields}
    assert (fields["system.dns_servers"].status, fields["system.dns_servers"].value) == (
        "parsed",
        "10.0.0.2",
    )
    assert fields["system.ntp_servers"].value == "10.0.0.1"
    keys = fields["system.option_keys"]
    assert keys.status == "n/a" and "X14.2 and later have no option keys" in keys.value
    assert "HTTP 404" in keys.error  # what the box answered, kept
    met = {m.form: m for m in result.forms}
    assert met["rest.optionkey"].answered == "HTTP 404: an object {Message}"
    assert met["cdb.disabled"].answered == "HTTP 404: an object {Message}"


# -- the rehearsal's clone spec -------------------------------------------------------------


def _cert(
    cn: str, sans: tuple[str, ...], *, days: int = 100, self_signed: bool = False
) -> Certificate:
    return Certificate(
        subject_cn=cn,
        sans=sans,
        issuer="Lab CA",
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=days),
        self_signed=self_signed,
        fingerprint_sha256="00" * 32,
    )


def _facts() -> tuple[ClusterFacts, ClusterSpec]:
    specs = tuple(
        PeerSpec(f"e{i}", "core", f"127.0.0.{i}", 443, 22, f"10.0.0.{i}", f"e{i}.example.com",
                 Role.EXPRESSWAY_C, i, "auto", "admin")
        for i in (1, 2, 3)
    )  # fmt: skip
    settings = ClusterSettings(
        peers=("10.0.0.1", "10.0.0.2", "", "", "", ""),
        primary=1,
        cluster_name="core.example.com",
        tls_mode=TlsMode.ENFORCE,
    )
    system = SystemInfo(
        name="e", version="X15.3", role=Role.EXPRESSWAY_C, platform="large", h323_enabled=True
    )
    p1 = PeerFacts(
        host="e1", address="10.0.0.1", fqdn="e1.example.com", reachable=True, transport="rest",
        settings=settings, system=system, fqdn_addresses=("10.0.0.1",),
        certificate=_cert("e1.example.com", ("e1.example.com",)),
        alarms=(Alarm(id="20007"), Alarm(id="40001", title="licence"), Alarm(id="20004", status="lowered")),
    )  # fmt: skip
    p2 = PeerFacts(
        host="e2", address="10.0.0.2", fqdn="e2.example.com", reachable=True, transport="rest+ssh",
        settings=settings, system=system.model_copy(update={"platform": None}),
        certificate=_cert("e2.example.com", ()),
    )  # fmt: skip
    p3 = PeerFacts(host="e3", address="10.0.0.3", reachable=False, error="cannot connect")
    cluster = ClusterSpec("core", "core.example.com", specs, {})
    return ClusterFacts(cluster="core", peers=(p1, p2, p3), gathered_at=NOW), cluster


def test_clone_spec_copies_what_was_read_and_states_every_assumption() -> None:
    facts, cluster = _facts()
    spec, assumptions = clone_spec(facts, cluster, now=NOW)
    c = spec["clusters"]["core"]
    assert c["cluster_name"] == "core.example.com"
    e1, e2, _ = c["peers"]
    assert (e1["name"], e1["address"], e1["fqdn"], e1["resolves_to"]) == (
        "e1", "10.0.0.1", "e1.example.com", "10.0.0.1",
    )  # fmt: skip
    assert e1["settings"]["peers"][:2] == ["10.0.0.1", "10.0.0.2"]
    assert (e1["settings"]["master"], e1["settings"]["tls"]) == (1, "Enforce")
    assert (e1["version"], e1["platform"], e1["cdb_rest"], e1["cert"]) == (
        "X15.3",
        "large",
        True,
        "ok",
    )
    assert e1["restart_pending"] is True
    assert [a["id"] for a in e1["alarms"]] == ["40001"]  # 20007 is modelled, 20004 was lowered
    assert (e2["cdb_rest"], e2["cert"], e2["platform"]) == (False, "missing_san", "medium")
    assert spec["faults"] == [{"kind": "unreachable", "peer": "e3"}]
    text = "\n".join(assumptions)
    assert "e2: platform size not read; modelled as medium" in text
    assert "e3 did not answer (cannot connect)" in text
    assert "alarm 40001 (licence) is not modelled" in text
    assert "certificates:" in text and "durations:" in text


@pytest.fixture
def lab_alarms() -> Iterator[None]:
    """A clone adds the alarms it copies to the lab's catalogue (in rehearse, in the
    lab's own process); in this process the catalogue is put back afterwards."""
    from exops.lab.lab import ALARMS

    before = dict(ALARMS)
    yield
    ALARMS.clear()
    ALARMS.update(before)


@pytest.mark.usefixtures("lab_alarms")
def test_the_mock_builds_the_clone_spec_as_read() -> None:
    from exops.lab.clone import build_clone
    from exops.lab.lab import Lab

    class NoCA:
        pem = b""

        def issue(self, *args: Any) -> None:
            return None

    facts, cluster = _facts()
    spec, _ = clone_spec(facts, cluster, now=NOW)
    lab = Lab(time_scale=0.01, password="x", ca=NoCA())  # type: ignore[arg-type]
    build_clone(lab, spec, "127.250")
    e1, e2 = lab.peers["e1"], lab.peers["e2"]
    assert e1.ip == "127.250.1.11" and e1.designates("10.0.0.1") and e1.group == "core"
    assert lab.resolve(e1, "10.0.0.2") is e2
    assert e1.is_primary and e1.saved["tls"] == "Enforce"
    assert {a.id for a in e1.alarms.values() if a.status == "raised"} >= {"20007", "40001"}
    assert not e2.restart_needed()


def test_a_bad_clone_spec_is_refused_naming_the_place() -> None:
    from exops.lab.clone import CloneSpecError, check_spec

    with pytest.raises(CloneSpecError, match="cluster core peer x: role 'Router'"):
        check_spec({"clusters": {"core": {"peers": [{"name": "x", "role": "Router"}]}}})


def test_parse_inject() -> None:
    assert parse_inject("restart_hang@7") == Fault("restart_hang", "7")
    assert parse_inject("unreachable:e2@list e4 on the primary") == Fault(
        "unreachable", "list e4 on the primary", "e2"
    )
    with pytest.raises(UsageError, match="not one of"):
        parse_inject("meteor@3")
    with pytest.raises(UsageError, match="FAULT\\[:PEER\\]@STEP"):
        parse_inject("restart_hang")


def _rehearsal(**over: Any) -> Any:
    from exops.plan.model import Plan
    from exops.tools.rehearse import Rehearsal, StepTime

    plan = Plan(runbook="add-peer", cluster="core", params={"peer": "e3"}, created_at=NOW,
                exops_version="0", facts_digest="x", basis={})  # fmt: skip
    steps = [
        StepTime("1", "list e3 on the primary", "e1", "configure", 0.0, 0.05, "changed"),
        StepTime("2", "restart e3", "e3", "restart", 0.05, 1.3, "changed"),
        StepTime("3", "wait until healthy", None, "wait", 1.35, 0.2, "ok"),
    ]
    fields: dict[str, Any] = dict(
        runbook="add-peer", cluster="core", params={"peer": "e3"}, time_scale=0.005, plan=plan,
        result=None, assumptions=["durations: a restart takes 240 s"], faults=[], steps=steps,
        downtime={"e3": [1.25]}, still_down={}, alarms={"e1": [("rose", "20004"),
        ("cleared", "20004")]}, still_raised={"e1": []}, safety=[], clone_seconds=1.6,
        clone_subnet="127.250",
    )  # fmt: skip
    fields.update(over)
    return Rehearsal(**fields)


def test_rehearsal_prediction_scales_simulated_time_only() -> None:
    r = _rehearsal()
    # 1.6 s on the clone, of which 1.5 s restart + wait at 0.005: 0.1 + 1.5 / 0.005
    assert r.predicted_seconds == pytest.approx(0.1 + 300.0)
    assert r.predicted_starts() == pytest.approx([0.0, 0.05, 1.35 + 1.3 / 0.005 - 1.3])
    doc = r.to_doc()
    assert doc["downtime"]["e3"]["predicted_s"] == 250.0
    assert [t["predicted_duration_s"] for t in doc["timeline"]] == [0.1, 260.0, 40.0]
    assert doc["exit_code"] == 1 and doc["status"] == "error"  # no run result


def test_rehearsal_report_formats() -> None:
    from exops.tools.rehearse import render

    r = _rehearsal()
    text = render(r, "text")
    assert "Predicted downtime per peer:\n  e3: 4m10s (1 restart)" in text
    assert "e1: 20004 rose, 20004 cleared" in text and "durations: a restart" in text
    assert "## Assumptions (what the clone cannot know)" in render(r, "md")
    page = render(r, "html")
    assert page.count("<html") == 1 and page.index("class='rehearsal'") < page.index("</body>")
    assert json.loads(render(r, "json"))["schema"] == "exops.rehearsal/1"


def test_a_clone_the_lab_refuses_is_one_clear_error(tmp_path: Any) -> None:
    from exops.core.errors import ExopsError
    from exops.tools.rehearse import running_clone

    spec = {"clusters": {"core": {"peers": [{"name": "x", "role": "Router"}]}}}
    with (
        pytest.raises(ExopsError, match=r"did not start .*cluster core peer x: role 'Router'"),
        running_clone(spec, tmp_path, time_scale=0.01, transport="auto"),
    ):
        pass

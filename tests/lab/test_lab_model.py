"""The lab model without sockets: typed settings, validation and commit, the lifecycle.

The front ends only parse and render; these pin what the model itself does
with a write or a restart. One test at the end patches the SSH welcome
through the control API of a running lab.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from labkit import cli, require

from exops.lab import faults, settings
from exops.lab.certs import LabCA
from exops.lab.lab import RESTART_GRACE_S, Lab, Lifecycle
from exops.lab.server import build_lab
from exops.lab.settings import ClusterSettings, IpVersion, Switch, TlsMode


@pytest.fixture(scope="module")
def ca() -> LabCA:
    return LabCA()


@pytest.fixture
def model(ca: LabCA) -> Lab:
    cfg = {"time_scale": 0.01, "subnet": "127.251", "clusters": 1, "peers": 3, "spec": {}}
    lab = build_lab({**cfg, "preset": "formed"}, "model-Pw-1", ca)
    lab.tick(time.time())
    return lab


def test_the_lab_is_ready_only_once_every_peer_has_looked_at_its_cluster(
    ca: LabCA, tmp_path: Any
) -> None:
    """Before its first tick a formed cluster's peers read one another "Unknown" (a
    restart asked right after ``up`` was refused, exit 3, in CI): the ready file comes
    after the first tick."""
    from exops.lab.server import announce_ready

    cfg = {"time_scale": 0.05, "subnet": "127.251", "clusters": 1, "peers": 2, "spec": {}}
    lab = build_lab({**cfg, "preset": "formed"}, "model-Pw-1", ca)
    assert all(not p.states for p in lab.peers.values())  # nobody has looked yet
    announce_ready(lab, tmp_path, 0.1)
    assert json.loads((tmp_path / "ready").read_text())["seconds"] == 0.1
    assert not (tmp_path / "ready.tmp").exists()
    for p in lab.peers.values():
        assert set(p.states.values()) == {"Active"} and len(p.states) == 2, p.states
        assert not [a for a in p.alarms.values() if a.status == "raised"], p.name


# -- typed settings -------------------------------------------------------------------


def test_settings_are_typed_and_read_by_key() -> None:
    s = ClusterSettings()
    assert (s.master, s.tls, s.ipver, s.map_mode) == (0, TlsMode.PERMISSIVE, IpVersion.IPV4, "Off")
    s["ipver"] = "IPv6"  # by key, as the control API names it: coerced to the enum
    assert s.ipver is IpVersion.IPV6 and s["ipver"] == "IPv6"
    with pytest.raises(ValueError):
        s["tls"] = "Enforcing"  # the CDB's spelling is the REST front end's to decode
    with pytest.raises(KeyError):
        s["bogus"] = 1
    copy = s.copy()
    copy.peers[0] = "10.0.0.1"
    assert s.peers[0] == "" and copy != s


def test_the_control_api_form_is_plain_json() -> None:
    s = ClusterSettings(master=1, tls=TlsMode.ENFORCE, map=[("a", "b")] + [("", "")] * 5)
    form = s.to_json()
    assert json.loads(json.dumps(form)) == form
    assert form["tls"] == "Enforce" and type(form["tls"]) is str
    assert form["map"][0] == ["a", "b"] and len(form["peers"]) == settings.MAX_PEERS


@pytest.mark.parametrize(
    ("key", "text", "value", "reason"),
    [
        ("tls", "Enforce", TlsMode.ENFORCE, None),
        ("tls", "Enforcing", TlsMode.ENFORCE, None),
        ("tls", "Strict", None, "Invalid value: expected Permissive or Enforcing"),
        ("ipver", "IPv7", None, "Invalid value: expected IPv4 or IPv6"),
        ("h323", "On", Switch.ON, None),
        ("name", "c1.example.com", "c1.example.com", None),
        ("master", "1", None, "Unknown setting 'master'"),  # each wire numbers it its own way
    ],
)
def test_parse_text(key: str, text: str, value: Any, reason: str | None) -> None:
    assert settings.parse_text(key, text) == (value, reason)


@pytest.mark.parametrize(
    ("key", "value", "index", "reason"),
    [
        ("master", 6, None, None),
        ("master", 7, None, "Invalid value: the primary's slot must be 0..6"),
        ("master", True, None, "Invalid value: expected a number"),
        ("tls", "Enforce", None, "Invalid value: expected Permissive or Enforcing"),  # untyped
        ("peers", "a b", 1, "Invalid value"),
        ("peers", "10.0.0.1", None, "Invalid index: expected 0-5"),
        ("name", "x", 1, "configuration/cluster/cluster_name has no rows"),
        ("map_name", None, 2, "Invalid value: expected a string"),
    ],
)
def test_check(key: str, value: Any, index: int | None, reason: str | None) -> None:
    assert settings.check(key, value, index) == reason


# -- validation and commit in the lab ---------------------------------------------------


def test_a_cluster_field_lands_on_the_whole_database_and_needs_a_restart(model: Lab) -> None:
    p1, p2 = model.peers["c1-p1"], model.peers["c1-p2"]
    assert model.save_setting(p1, "tls", TlsMode.ENFORCE) is None
    for peer in (p1, p2):
        assert peer.saved.tls is TlsMode.ENFORCE and peer.active.tls is TlsMode.PERMISSIVE
        assert "20007" in model.snapshot(peer)["alarms"]
    assert 'tls_verify - changed from: Permissive to: Enforcing"' in p2.log[-2] + p2.log[-1]


def test_every_live_setting_is_in_force_at_once_even_with_a_restart_pending(model: Lab) -> None:
    """The rule table says the configuration primary is "live" (docs/contract.md section
    6; domain doc 3.5: switching needs no restart): the code agrees, also on a peer
    that waits for a restart (20007) for another reason. It kept the old primary in
    force until the restart, which left two primaries claimed after a switch."""
    p1, p2, p3 = (model.peers[f"c1-p{i}"] for i in (1, 2, 3))
    assert model.save_setting(p1, "tls", TlsMode.ENFORCE) is None  # every peer now pending
    assert p2.restart_needed() and p3.restart_needed()
    for peer in (p2, p1, p3):  # switch-primary's order: the new primary first
        assert model.save_setting(peer, "master", 2) is None
        assert peer.active.master == 2, peer.name
        assert peer.active.tls is TlsMode.PERMISSIVE  # the restart-only field waits
    assert [p.name for p in (p1, p2, p3) if p.is_primary] == ["c1-p2"]
    model.tick(time.time())
    for peer in (p1, p2, p3):
        alarms = model.snapshot(peer)["alarms"]
        assert "20105" not in alarms and "20102" not in alarms, (peer.name, alarms)
    live = {r.key for r in settings.SETTING_RULES.values() if r.effect == "live"} - {"h323"}
    rows = {"map_name": "map", "map_address": "map"}
    assert {rows.get(k, k) for k in live} == set(settings.LIVE)
    assert set(settings.LIVE) == {"master", "name", "map_mode", "map"}


def test_a_refused_write_commits_nothing(model: Lab) -> None:
    p1 = model.peers["c1-p1"]
    before = p1.saved.copy()
    assert model.save_setting(p1, "master", 9) is not None
    assert model.save_setting(p1, "ipver", "IPv6") is not None  # a string, not an IpVersion
    assert p1.saved == before


def test_a_web_write_logs_cdb_values(model: Lab) -> None:
    p1 = model.peers["c1-p1"]
    assert model.save_setting(p1, "master", 2, via="web", source=("192.0.2.9", 4711)) is None
    line = p1.log[-1]
    assert "configuration/alternatesmaster/master_idx - changed from: '0' to: '1'" in line
    assert 'Src-ip="192.0.2.9" Src-port="4711"' in line
    assert model.snapshot(p1)["saved"]["master"] == 2


def test_the_lifecycle_replaces_the_running_flag(model: Lab) -> None:
    p3 = model.peers["c1-p3"]
    model.restart(p3)
    model.due_downs(time.time() + model.grace_s)
    assert p3.state is Lifecycle.RESTARTING
    snap = model.snapshot(p3)
    assert (snap["running"], snap["reachable"], snap["uptime_s"]) == (False, False, None)
    assert snap["lifecycle"] == "restarting"
    model.due_boots(time.time() + model.restart_s + 1)
    assert p3.state is Lifecycle.RUNNING and model.snapshot(p3)["running"] is True


def test_an_accepted_restart_answers_as_before_for_its_grace(model: Lab) -> None:
    """A real appliance goes on answering for some seconds after it accepts a restart:
    uptime still counting, the restart still pending; then it goes down, once."""
    p2 = model.peers["c1-p2"]
    assert model.restart_grace == RESTART_GRACE_S > 0
    assert model.grace_s == pytest.approx(RESTART_GRACE_S * model.time_scale)
    model.save_setting(p2, "tls", TlsMode.ENFORCE)  # needs a restart to be in force
    p2.boot_time -= 3600 * model.time_scale  # booted an hour (of lab time) ago
    asked = time.time()
    model.restart(p2)
    snap = model.snapshot(p2)
    assert p2.state is Lifecycle.STOPPING and snap["lifecycle"] == "stopping"
    assert (snap["running"], snap["reachable"]) == (True, True)
    assert snap["uptime_s"] >= 3600 and "20007" in snap["alarms"]
    assert p2.active.tls is TlsMode.PERMISSIVE  # nothing in force before the restart
    model.restart(p2)  # asked again while going down: the same restart
    model.due_downs(asked + model.grace_s / 2)
    assert p2.state is Lifecycle.STOPPING and model.restarts == []
    model.due_downs(time.time() + model.grace_s)
    assert p2.state is Lifecycle.RESTARTING and model.snapshot(p2)["running"] is False
    (restart,) = model.restarts
    assert restart["peer"] == "c1-p2" and asked <= restart["requested_at"] <= restart["down_at"]
    model.due_boots(time.time() + model.restart_s + 1)
    assert p2.state is Lifecycle.RUNNING and p2.active.tls is TlsMode.ENFORCE
    assert model.snapshot(p2)["uptime_s"] < 3600


def test_a_peer_down_for_a_restart_answers_nothing(model: Lab) -> None:
    """Its listeners close a moment after it goes down (asynchronously): a request in
    that moment is dropped, never answered (no "uptime 0" from a peer that is down)."""
    p1 = model.peers["c1-p1"]
    model.restart(p1)
    for iface, what in (("rest", "/api/provisioning/sysinfo"), ("ssh", "xStatus SystemUnit")):
        assert not faults.fault_gate(model, p1, iface, what, False).drop  # still answering
    model.due_downs(time.time() + model.grace_s)
    for iface, what in (("rest", "/api/provisioning/sysinfo"), ("ssh", "xStatus SystemUnit")):
        assert faults.fault_gate(model, p1, iface, what, False).drop
    model.due_boots(time.time() + model.restart_s + 1)
    assert not faults.fault_gate(model, p1, "rest", "/api/provisioning/sysinfo", False).drop


def test_the_instant_form_goes_down_when_it_accepts(ca: LabCA) -> None:
    cfg = {"time_scale": 0.01, "subnet": "127.251", "clusters": 1, "peers": 1, "spec": {}}
    lab = build_lab({**cfg, "preset": "formed", "restart_grace": 0}, "model-Pw-1", ca)
    p1 = lab.peers["c1-p1"]
    lab.restart(p1)
    assert p1.state is Lifecycle.RESTARTING and lab.grace_s == 0
    assert [r["peer"] for r in lab.restarts] == ["c1-p1"]


def test_a_hung_restart_boots_when_the_fault_clears(model: Lab) -> None:
    p2 = model.peers["c1-p2"]
    fid = model.inject({"kind": "restart_hang", "peer": "c1-p2"})
    model.restart(p2)
    model.due_downs(time.time() + model.grace_s)
    model.due_boots(time.time() + model.grace_s + model.restart_s + 1)
    assert p2.state is Lifecycle.RESTARTING
    model.clear(fid)
    assert p2.state is Lifecycle.RUNNING


# -- the SSH welcome through the control API -------------------------------------------


def test_the_ssh_welcome_is_patchable(lab_factory: Any) -> None:
    require("ssh")
    lab = lab_factory(peers=1, time_scale=0.01, preset="formed")
    assert not cli(lab, "c1-p1").endswith("OK\n")  # the default: a blank line, no OK
    assert lab.control.patch_peer("c1-p1", ssh_welcome="ok")["name"] == "c1-p1"
    welcome = cli(lab, "c1-p1")
    assert welcome.startswith("TANDBERG Video Communication Server X15.2.1\n")
    assert welcome.endswith("\nOK\n")
    with pytest.raises(AssertionError, match="400"):
        lab.control.patch_peer("c1-p1", ssh_welcome="loud")

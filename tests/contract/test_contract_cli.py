"""CLI conformance: exops's parsers and the mock's answers against the same fixtures.

The fixtures (tests/fixtures/contract/cli/, sources in its README) follow the
real appliance's shapes (the X8.11.3 status capture, section 8 of the domain
document). exops must read them; the mock must print the same structure, so
neither side can drift from the evidence. The mock is driven in-process
(``exops.lab.ssh.run``), no sockets.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from paths import FIXTURES as FIXTURES_ROOT

from exops.appliance import xapi
from exops.appliance.base import ConnectionTarget
from exops.appliance.knowledge import ALARM_BY_ID, ALARM_BY_UUID, ALARM_CATALOGUE, CLI
from exops.appliance.ssh import ParamikoShell, SshAppliance
from exops.core.models import Role
from exops.lab import ssh as mock_ssh
from exops.lab.certs import LabCA
from exops.lab.lab import ALARMS
from exops.lab.server import build_lab

FIXTURES = FIXTURES_ROOT / "contract" / "cli"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def one(answer: str, command: str = "xStatus") -> xapi.Tree:
    (block,) = xapi.parse_status(answer, command)
    return block[1]


def shape(tree: xapi.Tree, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every key path of a status tree, with ``<n>`` for indices."""
    out: set[tuple[str, ...]] = set()
    for key, child in tree.items():
        words = tuple("<n>" if w.isdecimal() else w for w in key.split())
        out.add(prefix + words)
        if isinstance(child, dict):
            out |= shape(child, prefix + words)
    return out


# -- exops reads the fixtures ---------------------------------------------------------


def test_system_unit_of_the_real_capture() -> None:
    unit = one(fixture("system_unit_x8113.txt"), "xStatus SystemUnit")
    info = xapi.system_from_cli(unit, {"H323 Mode": "On"}, {}, {}, [])
    assert info.version == "X8.11.3"
    assert info.role is Role.VCS  # ExpresswaySeries False
    assert info.platform is None  # not in the tree: unknown, never guessed
    assert (info.hardware, info.serial, info.uptime_s) == ("VMware", "017DB2D0", 2492)
    assert info.h323_enabled is True


def test_system_unit_of_an_expressway_e() -> None:
    unit = one(fixture("system_unit_expressway_e.txt"), "xStatus SystemUnit")
    info = xapi.system_from_cli(unit, {}, {}, {}, [])
    assert (info.role, info.version, info.platform) == (Role.EXPRESSWAY_E, "X15.2.1", None)
    assert info.h323_enabled is None  # no answer: unknown, not "On"
    flipped = fixture("system_unit_expressway_e.txt").replace(
        'Expressway: "True"', 'Expressway: "False"', 1
    )
    assert xapi.role_from_unit(one(flipped)) is Role.EXPRESSWAY_C


def test_warnings_of_the_real_capture_keep_unknown_uuids() -> None:
    alarms = xapi.alarms_from_warnings(xapi.parse_status(fixture("warnings_x8113.txt")))
    assert [a.id for a in alarms] == [
        "4836f60e-02de-11e0-bb2e-abe08f6f1f29",
        "56571d3a-66de-11e1-9891-534a0e304347",
        "992bace4-fac4-11de-91d1-00223ff026c1",
    ]
    assert (
        alarms[1].title
        == "NTP server not available - The system is unable to contact an NTP server"
    )
    assert all(a.raised and a.uuid == a.id and a.severity == "" for a in alarms)


def test_cluster_warnings_map_to_catalogue_ids() -> None:
    alarms = xapi.alarms_from_warnings(xapi.parse_status(fixture("warnings_cluster.txt")))
    assert [(a.id, a.raised) for a in alarms] == [
        ("20004", True),
        ("20006", True),  # Acknowledged is still raised
        ("20007", True),
    ]
    assert alarms[2].title.startswith("Restart required - ")
    assert alarms[2].uuid == "e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6"


def test_leaf_read() -> None:
    config = xapi.parse_config(fixture("leaf_read.txt"), "xConfiguration Alternates Peer 1 Address")
    assert config == {"Alternates Peer 1 Address": "10.0.0.11"}


class ReplayChannel:
    """A paramiko channel replaying a recorded pty session, checking what is sent."""

    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self.exchanges = list(exchanges)
        self.pending = [self.exchanges.pop(0)["received"].encode()]
        self.closed = False

    def settimeout(self, timeout: float) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        expected = self.exchanges.pop(0)
        assert data.decode() == expected["sent"]
        raw = expected["received"].encode()
        self.pending += [raw[i : i + 5] for i in range(0, len(raw), 5)]  # in pieces

    def recv(self, size: int) -> bytes:
        if not self.pending:
            raise TimeoutError
        return self.pending.pop(0)


def test_pty_session_transcript(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Welcome without OK, CR-ended commands, echo and CRLF: exops stays in step."""
    import paramiko

    session = json.loads(fixture("pty_session.json"))
    chan = ReplayChannel(session["exchanges"])
    monkeypatch.setattr(paramiko.SSHClient, "connect", lambda self, *a, **kw: None)
    monkeypatch.setattr(paramiko.SSHClient, "invoke_shell", lambda self, **kw: chan)
    target = ConnectionTarget(
        host="exp-e-1",
        hostname="10.0.0.21",
        known_hosts=str(tmp_path / "known_hosts"),
        read_timeout_s=5.0,
    )
    app = SshAppliance(target, shell_factory=ParamikoShell)
    tree = app._single(CLI.status_system)
    assert xapi.role_from_unit(tree) is Role.EXPRESSWAY_E
    assert chan.exchanges == []  # every recorded exchange was used, in order
    app.close()


# -- the alarm catalogue -------------------------------------------------------------


def test_catalogue_agrees_with_the_mock_and_the_evidence() -> None:
    confirmed = {
        "20004": "3bca6888-f622-11df-93be-07cc953d7b99",
        "20006": "0f96695e-d954-4f6f-85c1-2ef1eae6f764",
        "20007": "e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6",
    }
    for aid, uuid in confirmed.items():
        assert ALARM_BY_ID[aid].uuid == uuid
        assert ALARM_BY_ID[aid].mark == "CONFIRMED"
    for aid, row in ALARMS.items():  # every alarm the mock raises, same type UUID
        assert ALARM_BY_ID[aid].uuid == row[2], aid
    assert len(ALARM_BY_ID) == len(ALARM_CATALOGUE)  # ids unique
    assert len(ALARM_BY_UUID) == len([a for a in ALARM_CATALOGUE if a.uuid])  # UUIDs unique
    for a in ALARM_CATALOGUE:
        assert a.mark in ("CONFIRMED", "MOCK-DEFINED") and a.source and a.remedy
        assert a.fix == "" or a.fix.startswith("exops ")
    assert ALARM_BY_ID["20007"].fix == "exops restart -c {cluster} --peer {peer}"
    assert ALARM_BY_ID["20101"].fix == "exops repair-replication -c {cluster}"
    assert {a.id for a in ALARM_CATALOGUE if a.transient} == {"20004", "20006", "20007"}


def test_rehearse_and_the_clone_agree_on_the_alarms_the_lab_derives() -> None:
    from exops.lab.clone import DERIVED
    from exops.tools.rehearse import derived_alarms

    assert derived_alarms() == DERIVED
    assert set(ALARMS) >= DERIVED  # the lab raises each of them


# -- the mock prints the fixtures' structure -------------------------------------------


@pytest.fixture(scope="module")
def lab() -> Any:
    cfg = {
        "time_scale": 0.01,
        "subnet": "127.254",
        "clusters": 1,
        "peers": 2,
        "preset": "formed",
        "spec": {"c1-p2": {"role": "Expressway-E", "dual_nic": True}},
    }
    lab = build_lab(cfg, "contract-Pw-1", LabCA())
    lab.tick(time.time())
    return lab


def mock(lab: Any, peer: str, line: str) -> str:
    return mock_ssh.run(lab, lab.peers[peer], line).output


def test_mock_system_unit_has_the_capture_shape(lab: Any) -> None:
    real = shape(one(fixture("system_unit_x8113.txt")))
    for peer, role in (("c1-p1", Role.EXPRESSWAY_C), ("c1-p2", Role.EXPRESSWAY_E)):
        unit = one(mock(lab, peer, "xStatus SystemUnit"))
        assert shape(unit) <= real  # nothing the real tree lacks (no ProductType, ...)
        assert shape(unit) >= real - {
            ("Software", "Configuration", k)
            for k in (
                "NonTraversalCalls",
                "TraversalCalls",
                "Registrations",
                "TPRoom",
                "UserDevice",
                "FindMe",
                "DeviceProvisioning",
                "AdvancedAccountSecurity",
                "StarterPack",
                "EnhancedOCSCollaboration",
            )
        }
        info = xapi.system_from_cli(unit, {}, {}, {}, [])
        assert (info.role, info.version, info.platform) == (role, "X15.2.1", None)
    dual = one(mock(lab, "c1-p2", "xStatus SystemUnit"))
    assert dual["Software"]["Configuration"]["DualNetworkInterfaces"] == "True"


def test_mock_warnings_have_the_capture_shape(lab: Any) -> None:
    peer = lab.peers["c1-p1"]
    assert xapi.parse_status(mock(lab, "c1-p1", "xStatus Warnings")) == [("Warnings", {})]
    peer.saved["ipver"] = "IPv6"  # a change that needs a restart: 20007
    lab.evaluate(peer)
    try:
        blocks = xapi.parse_status(mock(lab, "c1-p1", "xStatus Warnings"))
        assert shape(blocks[0][1]) == shape(one(fixture("warnings_cluster.txt")))
        assert [a.id for a in xapi.alarms_from_warnings(blocks)] == ["20007"]
    finally:
        peer.saved["ipver"] = "IPv4"
        lab.evaluate(peer)


def test_mock_leaf_read_has_the_fixture_shape(lab: Any) -> None:
    answer = mock(lab, "c1-p1", "xconf alt peer 1 addr")
    assert answer == fixture("leaf_read.txt").replace("10.0.0.11", lab.peers["c1-p1"].ip)


def test_mock_welcome_ends_without_ok_unless_asked(lab: Any) -> None:
    peer = lab.peers["c1-p1"]
    session = json.loads(fixture("pty_session.json"))
    assert mock_ssh.welcome(peer) == session["exchanges"][0]["received"].replace("\r\n", "\n")
    peer.ssh_welcome = "ok"
    try:
        assert mock_ssh.welcome(peer).endswith("\nOK\n")
    finally:
        del peer.ssh_welcome


@pytest.mark.parametrize(
    ("line", "first"),
    [
        ("xstat systemunit", "*s SystemUnit: /"),
        ("XSTATUS SystemUnit", "*s SystemUnit: /"),
        ("xStatus SystemUnit Software", "*s SystemUnit: /"),
        ("xconf alternates", "*c xConfiguration Alternates ConfigurationMaster:"),
        ("xs clu", "*s Cluster: /"),
        ("?", "xConfiguration"),
        ("xstatus al", "*r Result (status=Error):"),  # Alarm or Alternates
        ("eventlog 2", ""),
    ],
)
def test_mock_abbreviations(lab: Any, line: str, first: str) -> None:
    assert mock(lab, "c1-p1", line).startswith(first)


def test_mock_subtree_and_bare_xstatus(lab: Any) -> None:
    (block,) = xapi.parse_status(mock(lab, "c1-p1", "xStatus SystemUnit Software"))
    assert list(block[1]) == ["Software"]
    nodes = [n for n, _ in xapi.parse_status(mock(lab, "c1-p1", "xstatus"))]
    assert {"SystemUnit", "Alternates", "Cluster", "Warnings", "Ethernet 1", "IP"} <= set(nodes)
    assert "Ambiguous" in mock(lab, "c1-p1", "xstatus al")

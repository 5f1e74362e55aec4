"""SshAppliance over a scripted fake shell, ParamikoShell over a scripted fake channel.

No sockets: ``FakeShell`` implements the small ``ShellSession`` interface that
SshAppliance talks to, and ``FakeChannel`` stands in for the paramiko channel
under ParamikoShell (answers in chunks, a dropped line, silence). The routing
of RoutedAppliance (rest / ssh / auto) is checked here too, with REST over
``httpx.MockTransport``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import paramiko
import pytest
from pydantic import SecretStr

from exops.appliance import ssh as ssh_mod
from exops.appliance.base import Command, ConnectionTarget, Field, Write
from exops.appliance.factory import RoutedAppliance
from exops.appliance.knowledge import CDB, MAX_ANSWER_BYTES, REST
from exops.appliance.rest import RestAppliance
from exops.appliance.ssh import ParamikoShell, SshAppliance
from exops.core.errors import (
    ApplianceError,
    AuthError,
    ExopsError,
    TimeoutError_,
    TlsError,
    TransportError,
    UsageError,
)
from exops.core.models import IpVersion, PeerState, Role, TlsMode

HOST = "exp-c-2"
PASSWORD = "ssh-Pa55word!"
TARGET = ConnectionTarget(
    host=HOST,
    hostname="10.0.0.12",
    ssh_port=8022,
    password=SecretStr(PASSWORD),
    transport="ssh",
    read_timeout_s=5.0,
)


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _config(prefix: str, items: list[tuple[str, str]]) -> str:
    return "".join(f"*c xConfiguration {prefix} {k}: {_q(v)}\n" for k, v in items) + "OK\n"


def _error(reason: str, xpath: str = "") -> str:
    return (
        f"*r Result (status=Error):\n    Reason: {_q(reason)}\n    XPath: {_q(xpath)}\n"
        "*r/end\nERROR\n"
    )


ALTERNATES = _config(
    "Alternates",
    [("ConfigurationMaster", "1")]
    + [
        (f"Peer {i} Address", a)
        for i, a in enumerate(["10.0.0.11", "10.0.0.12", "", "", "", ""], 1)
    ]
    + [
        ("Cluster Name", "exp-c.example.com"),
        ("Cluster TLSVerify Mode", "Permissive"),
        ("Cluster IpVersion", "IPv4"),
        ("Cluster AddressMapping Mode", "Off"),
    ]
    + [(f"Cluster AddressMapping {i} {f}", "") for i in range(1, 7) for f in ("Name", "Address")],
)
STATUS = """\
*s Alternates: /
  LocalPeer: "2"
  ConfigurationMaster: "1"
  Database: "Active"
  Replication: "Synchronised"
  LastSync: "2026-11-25T04:00:00Z"
  NextSync: "2026-11-25T04:02:00Z"
  FactoryResetPending: "False"
  Peer 1:
    Address: "10.0.0.11"
    Status: "Active"
  Peer 2:
    Address: "10.0.0.12"
    Status: "Active"
*s/end

OK
"""
WARNINGS = """\
*s Warnings: /
  Warning 3:
    ID: "e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6"
    Reason: "Restart required - Cluster configuration has been changed"
    State: "Unacknowledged"
  Warning 9:
    ID: "11111111-2222-3333-4444-555555555555"
    Reason: "Something new - not in the catalogue"
    State: "Acknowledged"
*s/end

OK
"""
ALARMS = """\
*s Alarm 1: /
  Id: "20007"
  Uuid: "9c1e"
  Status: "raised"
  Severity: "warning"
  Title: "Restart required"
  Parameters: ""
  FirstRaised: "2026-11-25T04:00:00Z"
  LastRaised: "2026-11-25T04:00:00Z"
*s/end

OK
"""
SYSTEM_UNIT = """\
*s SystemUnit: /
  Product: "TANDBERG VCS"
  Uptime: "99"
  Software:
    Version: "X14.0.7"
    Configuration:
      Expressway: "True"
      ExpresswaySeries: "True"
      DualNetworkInterfaces: "True"
  Hardware:
    Version: "VMware"
    SerialNumber: "0B2C3D4E"
*s/end

OK
"""
OPTION_KEYS = """\
*s Options: /
  Option 1:
    Key: "116341E1-1-CCCC"
    Description: "Traversal Calls"
    Count: "20"
*s/end

OK
"""
ANSWERS: dict[str, str] = {
    "xConfiguration Alternates": ALTERNATES,
    "xStatus Alternates": STATUS,
    "xStatus Warnings": WARNINGS,
    "xStatus Alarm": ALARMS,
    "xStatus SystemUnit": SYSTEM_UNIT,
    "xStatus Options": OPTION_KEYS,
    "xConfiguration H323": _config("H323", [("Mode", "On")]),
    "xConfiguration IP DNS": _config(
        "IP DNS",
        [
            ("Hostname", "exp-e-2"),
            ("Domain Name", "example.com"),
            ("Server 1 Address", "192.0.2.53"),
        ]
        + [(f"Server {i} Address", "") for i in range(2, 6)],
    ),
    "xConfiguration NTP": _config(
        "NTP", [("Server 1 Address", "192.0.2.123"), ("Server 2 Address", "192.0.2.124")]
    ),
    "xCommand Boot": "OK\n",
    "xCommand ForceConfigUpdate": "OK\n",
    "xCommand ForceSystemKeyUpdate": "OK\n",
}

Answer = str | Exception | Callable[[str], str]


class FakeShell:
    """A scripted ``ShellSession``: one answer (or failure) per command."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.closed = False

    def send(self, command: str) -> str:
        assert not self.closed, "command sent on a closed session"
        self.lab.sent.append(command)
        queue = self.lab.script.get(command)
        item: Answer
        if queue:
            item = queue.pop(0)
        elif command.startswith("xConfiguration ") and ": " in command:
            item = "OK\n"  # a write
        else:
            item = self.lab.answers.get(command, _error("Unknown command", command))
        if isinstance(item, Exception):
            raise item
        return item(command) if callable(item) else item

    def close(self) -> None:
        self.closed = True


class Lab:
    """The fake peer behind every FakeShell the factory opens."""

    def __init__(self) -> None:
        self.answers = dict(ANSWERS)
        self.script: dict[str, list[Answer]] = {}
        self.sent: list[str] = []
        self.shells: list[FakeShell] = []

    def factory(self, target: ConnectionTarget) -> FakeShell:
        assert target is TARGET or target.host == HOST
        shell = FakeShell(self)
        self.shells.append(shell)
        return shell

    def on(self, command: str, *items: Answer) -> None:
        self.script[command] = list(items)


def _dropped(command: str = "xStatus Alternates") -> TransportError:
    return TransportError(f"SSH session closed during '{command}'", host=HOST, operation=command)


@pytest.fixture
def lab() -> Lab:
    return Lab()


@pytest.fixture
def appliance(lab: Lab) -> Iterator[SshAppliance]:
    a = SshAppliance(TARGET, shell_factory=lab.factory)
    yield a
    a.close()


def assert_clean(exc: ExopsError, operation: str | None = None) -> None:
    assert exc.host == HOST
    assert exc.operation
    if operation is not None:
        assert exc.operation == operation
    assert str(exc).startswith(f"{HOST} {exc.operation}: ")
    seen: BaseException | None = exc
    while seen is not None:
        assert PASSWORD not in repr(seen)
        seen = seen.__cause__ or seen.__context__


# -- reads ---------------------------------------------------------------------------


def test_reads_share_one_session(appliance: SshAppliance, lab: Lab) -> None:
    s = appliance.read_settings()
    assert s.peers == ("10.0.0.11", "10.0.0.12", "", "", "", "")
    assert (s.primary, s.cluster_name) == (1, "exp-c.example.com")
    assert (s.tls_mode, s.ip_version, s.mapping_enabled, s.mapping) == (
        TlsMode.PERMISSIVE,
        IpVersion.IPV4,
        False,
        (),
    )
    st = appliance.read_status()
    assert st.local_slot == 2
    assert [(e.slot, e.state, e.local) for e in st.peers] == [
        (1, PeerState.ACTIVE, False),
        (2, PeerState.ACTIVE, True),
    ]
    restart, new = appliance.read_alarms()
    assert (restart.id, restart.raised, restart.severity) == ("20007", True, "warning")
    assert restart.title == "Restart required - Cluster configuration has been changed"
    # An alarm type the catalogue does not know is kept, named by its UUID.
    assert (new.id, new.uuid, new.raised) == (
        "11111111-2222-3333-4444-555555555555",
        "11111111-2222-3333-4444-555555555555",
        True,
    )
    assert new.title == "Something new - not in the catalogue"
    assert appliance.read_h323() is True
    assert appliance.probe() >= 0.0
    assert len(lab.shells) == 1
    assert lab.sent == [
        "xConfiguration Alternates",
        "xStatus Alternates",
        "xStatus Warnings",
        "xConfiguration H323",
        "xConfiguration H323",
    ]


def test_read_system_asks_five_questions(appliance: SshAppliance, lab: Lab) -> None:
    info = appliance.read_system()
    assert (info.name, info.version, info.role, info.platform) == (
        "exp-e-2",  # the DNS host name: the real SystemUnit tree has no Name
        "X14.0.7",
        Role.EXPRESSWAY_E,
        None,  # no platform size in the real tree: unknown over SSH, never guessed
    )
    assert (info.hardware, info.serial) == ("VMware", "0B2C3D4E")
    assert info.uptime_s == 99
    assert info.fqdn == "exp-e-2.example.com"
    assert info.dns_servers == ("192.0.2.53",)
    assert info.ntp_servers == ("192.0.2.123", "192.0.2.124")
    assert info.h323_enabled is True
    assert [(k.description, k.count) for k in info.option_keys] == [("Traversal Calls", 20)]
    assert sorted(lab.sent) == sorted(
        [
            "xStatus SystemUnit",
            "xStatus Options",
            "xConfiguration H323",
            "xConfiguration IP DNS",
            "xConfiguration NTP",
        ]
    )


def test_no_alarms(appliance: SshAppliance, lab: Lab) -> None:
    lab.answers["xStatus Warnings"] = "*s Warnings: /\n*s/end\n\nOK\n"
    assert appliance.read_alarms() == ()
    lab.answers["xStatus Warnings"] = "OK\n"
    assert appliance.read_alarms() == ()
    assert "xStatus Alarm" not in lab.sent


def test_alarms_fall_back_to_xstatus_alarm_only_when_warnings_is_refused(
    appliance: SshAppliance, lab: Lab
) -> None:
    lab.answers["xStatus Warnings"] = _error("Unknown command", "xStatus Warnings")
    (alarm,) = appliance.read_alarms()
    assert (alarm.id, alarm.title) == ("20007", "Restart required")
    assert lab.sent == ["xStatus Warnings", "xStatus Alarm"]
    # A garbled Warnings answer is an error, not a reason to ask something else.
    lab.sent.clear()
    lab.answers["xStatus Warnings"] = WARNINGS.replace("*s/end\n", "")
    with pytest.raises(ApplianceError, match="no '\\*s/end'") as info:
        appliance.read_alarms()
    assert_clean(info.value, "xStatus Warnings")
    assert lab.sent == ["xStatus Warnings"]


def test_h323_off_and_unknown(appliance: SshAppliance, lab: Lab) -> None:
    lab.answers["xConfiguration H323"] = _config("H323", [("Mode", "Off")])
    assert appliance.read_h323() is False
    lab.answers["xConfiguration H323"] = "OK\n"  # no value: unknown, never assumed On
    assert appliance.read_h323() is None
    lab.answers["xConfiguration H323"] = _config("H323", [("Mode", "Maybe")])
    assert appliance.read_h323() is None
    lab.answers["xConfiguration H323"] = _config("H323", [("Mode", "null")])
    with pytest.raises(ApplianceError, match="null value 'null' for 'H323 Mode'") as info:
        appliance.read_h323()
    assert_clean(info.value, "read h323")


def test_system_facts_missing_or_odd_are_unknown(appliance: SshAppliance, lab: Lab) -> None:
    lab.answers["xStatus SystemUnit"] = (
        '*s SystemUnit: /\n  Software:\n    Version: "fifteen"\n'
        '    Configuration:\n      ExpresswaySeries: "Perhaps"\n*s/end\n\nOK\n'
    )
    lab.answers["xConfiguration H323"] = "OK\n"
    info = appliance.read_system()
    assert (info.version, info.role, info.platform, info.h323_enabled) == (None, None, None, None)
    assert (info.hardware, info.serial, info.uptime_s) == ("", "", None)


def test_certificates_need_rest_and_logs_are_read_with_eventlog(
    appliance: SshAppliance, lab: Lab
) -> None:
    with pytest.raises(ApplianceError, match="no CLI form") as info:
        appliance.read_certificate()
    assert_clean(info.value, "read certificate")
    # `eventlog N` (INFERRED): the real REST API has no log resource.
    lab.answers["eventlog 2"] = "2026-11-30T11:00:00.000+00:00 exp-e-2 a: x\nline two\nOK\n"
    assert appliance.read_log(2) == ["2026-11-30T11:00:00.000+00:00 exp-e-2 a: x", "line two"]
    lab.answers["eventlog 2"] = _error("Unknown command", "eventlog")
    with pytest.raises(ApplianceError, match="Unknown command") as info:
        appliance.read_log(2)
    assert_clean(info.value, "read log")


def test_certificates_delegate_to_rest(lab: Lab) -> None:
    class Rest:
        def read_certificate(self) -> tuple[None, tuple[str, ...]]:
            return None, ("exops lab CA",)

    a = SshAppliance(TARGET, shell_factory=lab.factory, rest=Rest())
    assert a.read_certificate() == (None, ("exops lab CA",))
    assert lab.shells == []  # no SSH session


def test_options_and_server_leaves_unreadable_are_unknown_not_failures(
    appliance: SshAppliance, lab: Lab
) -> None:
    """Issue 24: the real tree has `Options` (no `OptionKeys`); a refused or empty
    Options node, or DNS/NTP answers without the server leaves, make only those facts
    unknown (the reason names the shape); version and role are still read."""
    lab.answers["xStatus Options"] = _error("Unknown command", "xStatus Options")
    lab.answers["xConfiguration NTP"] = _config("NTP", [("Host 1 Address", "192.0.2.123")])
    info = appliance.read_system()
    assert (info.version, info.role) == ("X14.0.7", Role.EXPRESSWAY_E)
    assert info.option_keys is None and info.ntp_servers is None
    assert info.dns_servers == ("192.0.2.53",)
    said = appliance.last_unknown
    assert "'xStatus Options' was refused: " in said["system.option_keys"]
    assert "no 'NTP Server <n> Address' leaf (it printed: NTP Host 1 Address)" in (
        said["system.ntp_servers"]
    )
    # The capture's empty Options node: unknown too (it does not show "no keys").
    lab.answers["xStatus Options"] = "*s Options: /\n*s/end\n\nOK\n"
    assert appliance.read_system().option_keys is None
    assert "empty Options node" in appliance.last_unknown["system.option_keys"]
    # The old mock's node name is not the real one.
    lab.answers["xStatus Options"] = OPTION_KEYS.replace("Option 1", "Key 1")
    assert appliance.read_system().option_keys is None
    assert "'Key 1'" in appliance.last_unknown["system.option_keys"]


# -- writes and commands ------------------------------------------------------------------


def test_one_line_per_write_with_quoting(appliance: SshAppliance, lab: Lab) -> None:
    appliance.write(
        [
            Write(field=Field.CLUSTER_NAME, value='exp "c" \\ example'),
            Write(field=Field.TLS_MODE, value="Enforce"),
            Write(field=Field.IP_VERSION, value="IPv4"),
            Write(field=Field.MAPPING_NAME, index=1, value="exp-e-1.example.com"),
            Write(field=Field.MAPPING_ADDRESS, index=1, value="192.0.2.11"),
            Write(field=Field.MAPPING_MODE, value="On"),
            Write(field=Field.PEER_ADDRESS, index=3, value="10.0.0.13"),
            Write(field=Field.PEER_ADDRESS, index=2, value=""),
            Write(field=Field.PRIMARY, value=3),
        ]
    )
    assert lab.sent == [
        'xConfiguration Alternates Cluster Name: "exp \\"c\\" \\\\ example"',
        "xConfiguration Alternates Cluster TLSVerify Mode: Enforce",
        "xConfiguration Alternates Cluster IpVersion: IPv4",
        'xConfiguration Alternates Cluster AddressMapping 1 Name: "exp-e-1.example.com"',
        'xConfiguration Alternates Cluster AddressMapping 1 Address: "192.0.2.11"',
        "xConfiguration Alternates Cluster AddressMapping Mode: On",
        'xConfiguration Alternates Peer 3 Address: "10.0.0.13"',
        'xConfiguration Alternates Peer 2 Address: ""',
        "xConfiguration Alternates ConfigurationMaster: 3",
    ]


def test_refused_write_raises_with_the_reason_and_stops(appliance: SshAppliance, lab: Lab) -> None:
    line = 'xConfiguration Alternates Peer 2 Address: "10.0.0.99"'
    lab.on(line, _error("Invalid value", "/Configuration/Alternates/Peer[2]/Address"))
    with pytest.raises(ApplianceError, match="refused: Invalid value") as info:
        appliance.write(
            [
                Write(field=Field.PEER_ADDRESS, index=2, value="10.0.0.99"),
                Write(field=Field.PRIMARY, value=2),
            ]
        )
    assert_clean(info.value, "write peer_address 2 = '10.0.0.99'")
    assert line in str(info.value)
    assert lab.sent == [line]


def test_a_value_that_could_inject_a_command_is_refused_before_sending(
    appliance: SshAppliance, lab: Lab
) -> None:
    with pytest.raises(ApplianceError, match="control characters") as info:
        appliance.write([Write(field=Field.CLUSTER_NAME, value="x\nxCommand Boot")])
    assert_clean(info.value)
    assert lab.sent == []


def test_writes_are_not_retried_on_a_dropped_session(appliance: SshAppliance, lab: Lab) -> None:
    line = "xConfiguration Alternates ConfigurationMaster: 2"
    lab.on(line, _dropped(line), "OK\n")
    with pytest.raises(TransportError):
        appliance.write([Write(field=Field.PRIMARY, value=2)])
    assert lab.sent == [line]
    # The dead session is dropped: the next command opens a fresh one.
    appliance.read_h323()
    assert len(lab.shells) == 2


def test_restart_sends_boot_and_drops_the_session(appliance: SshAppliance, lab: Lab) -> None:
    appliance.read_h323()
    appliance.restart()
    assert lab.sent[-1] == "xCommand Boot"
    assert lab.shells[0].closed
    appliance.read_h323()
    assert len(lab.shells) == 2  # after the restart, a new session


def test_restart_is_not_retried(appliance: SshAppliance, lab: Lab) -> None:
    lab.on("xCommand Boot", _dropped("xCommand Boot"), "OK\n")
    with pytest.raises(TransportError):
        appliance.restart()
    assert lab.sent == ["xCommand Boot"]


def test_command_ok_and_error_block(appliance: SshAppliance, lab: Lab) -> None:
    assert appliance.command(Command.FORCE_SYSTEM_KEY_UPDATE) == "OK"
    lab.on(
        "xCommand ForceConfigUpdate",
        _error("This command must be run on a subordinate peer", "/Command/ForceConfigUpdate"),
    )
    with pytest.raises(ApplianceError, match="must be run on a subordinate peer") as info:
        appliance.command(Command.FORCE_CONFIG_UPDATE)
    assert_clean(info.value, "xCommand ForceConfigUpdate")
    assert lab.sent == ["xCommand ForceSystemKeyUpdate", "xCommand ForceConfigUpdate"]


# -- failures ----------------------------------------------------------------------------


def test_a_read_is_retried_once_on_a_fresh_session(appliance: SshAppliance, lab: Lab) -> None:
    lab.on("xStatus Alternates", _dropped())
    assert appliance.read_status().local_slot == 2
    assert len(lab.shells) == 2
    assert lab.sent == ["xStatus Alternates", "xStatus Alternates"]


def test_a_read_dropped_twice_is_a_transport_error(appliance: SshAppliance, lab: Lab) -> None:
    lab.on("xStatus Alternates", _dropped(), _dropped())
    with pytest.raises(TransportError, match="closed during") as info:
        appliance.read_status()
    assert_clean(info.value, "xStatus Alternates")
    assert len(lab.shells) == 2


def test_auth_error_on_a_read_is_not_retried(appliance: SshAppliance, lab: Lab) -> None:
    """Refused credentials are never tried again (an account lockout risk)."""
    refused = AuthError("SSH credentials refused", host=HOST, operation="ssh connect")
    lab.on("xConfiguration Alternates", refused, refused)
    with pytest.raises(AuthError) as info:
        appliance.read_settings()
    assert_clean(info.value, "ssh connect")
    assert len(lab.shells) == 1  # one login with the refused credentials


def test_error_block_answer_to_a_read(appliance: SshAppliance, lab: Lab) -> None:
    lab.answers["xStatus Alternates"] = _error("Unknown command", "xStatus Alternates")
    with pytest.raises(ApplianceError, match="failed: Unknown command") as info:
        appliance.read_status()
    assert_clean(info.value, "xStatus Alternates")


ALL_READS: dict[str, tuple[str, Callable[[SshAppliance], Any]]] = {
    "settings": ("xConfiguration Alternates", lambda a: a.read_settings()),
    "status": ("xStatus Alternates", lambda a: a.read_status()),
    "alarms": ("xStatus Warnings", lambda a: a.read_alarms()),
    "system": ("xStatus SystemUnit", lambda a: a.read_system()),
    "h323": ("xConfiguration H323", lambda a: a.read_h323()),
}
# The parts of the system read whose garbled answer makes only their fact unknown.
OPTIONAL_READS: dict[str, tuple[str, str]] = {
    "option keys": ("xStatus Options", "option_keys"),
    "dns": ("xConfiguration IP DNS", "dns_servers"),
    "ntp": ("xConfiguration NTP", "ntp_servers"),
}

GARBLE: dict[str, Callable[[str], str]] = {
    "truncated": lambda ans: ans[: len(ans) // 2] + "\nOK\n",
    "no end": lambda ans: ans.replace("OK\n", ""),
    "noise": lambda ans: "\x1b[2J% Welcome to the jungle\n" + ans,
    "wrong framing": lambda ans: ans.replace("*c ", "*s ").replace("*s/end", ""),
    "empty": lambda ans: "",
}


@pytest.mark.parametrize("garble", GARBLE.values(), ids=GARBLE.keys())
@pytest.mark.parametrize("read", ALL_READS.values(), ids=ALL_READS.keys())
def test_garbled_answers_are_appliance_errors_with_host_and_operation(
    appliance: SshAppliance,
    lab: Lab,
    read: tuple[str, Callable[[SshAppliance], Any]],
    garble: Callable[[str], str],
) -> None:
    command, call = read
    lab.answers[command] = garble(lab.answers[command])
    with pytest.raises(ApplianceError) as info:
        call(appliance)
    assert_clean(info.value)


@pytest.mark.parametrize("garble", GARBLE.values(), ids=GARBLE.keys())
@pytest.mark.parametrize("read", OPTIONAL_READS.values(), ids=OPTIONAL_READS.keys())
def test_garbled_optional_answers_make_only_their_fact_unknown(
    appliance: SshAppliance, lab: Lab, read: tuple[str, str], garble: Callable[[str], str]
) -> None:
    command, fact = read
    lab.answers[command] = garble(lab.answers[command])
    info = appliance.read_system()
    assert getattr(info, fact) is None
    assert appliance.last_unknown[f"system.{fact}"].startswith(f"'{command}' failed: ")
    assert info.version == "X14.0.7"


@pytest.mark.parametrize(
    ("command", "answer", "call", "message"),
    [
        (
            "xStatus Alternates",
            STATUS.replace('Status: "Active"', 'Status: "Sleeping"', 1),
            lambda a: a.read_status(),
            "bad peer entry",
        ),
        (
            "xStatus Alternates",
            STATUS.replace('LocalPeer: "2"', 'LocalPeer: "two"'),
            lambda a: a.read_status(),
            "LocalPeer is not a number",
        ),
        (
            "xStatus Alternates",
            STATUS.replace("\nOK\n", "") * 2 + "\nOK\n",
            lambda a: a.read_status(),
            "expected one block, got 2",
        ),
        (
            "xStatus Warnings",
            WARNINGS.replace('    ID: "e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6"\n', ""),
            lambda a: a.read_alarms(),
            "Warning 3 has no ID",
        ),
        (
            "xStatus Warnings",
            WARNINGS.replace("Warning 9", "Warning 3"),
            lambda a: a.read_alarms(),
            "repeats 'Warning 3'",
        ),
        (
            "xStatus SystemUnit",
            SYSTEM_UNIT.replace('ExpresswaySeries: "True"', 'ExpresswaySeries: "null"'),
            lambda a: a.read_system(),
            "null value 'null' for 'ExpresswaySeries'",
        ),
        (
            "xStatus SystemUnit",
            SYSTEM_UNIT.replace('Version: "X14.0.7"', 'Version: "(null)"'),
            lambda a: a.read_system(),
            "null value '\\(null\\)' for 'Software Version'",
        ),
        (
            "xConfiguration Alternates",
            ALTERNATES.replace('Peer 2 Address: "10.0.0.12"', 'Peer 2 Address: "10.0.0.11"'),
            lambda a: a.read_settings(),
            "lists '10.0.0.11' twice \\('Peer 1 Address' and 'Peer 2 Address'\\)",
        ),
        (
            "xConfiguration Alternates",
            ALTERNATES + ALTERNATES,
            lambda a: a.read_settings(),
            "unexpected line",
        ),
        (
            "xConfiguration Alternates",
            ALTERNATES.replace("OK\n", '*c xConfiguration Alternates Peer 1 Address: "x"\nOK\n'),
            lambda a: a.read_settings(),
            "repeats 'Alternates Peer 1 Address'",
        ),
        (
            "xConfiguration Alternates",
            ALTERNATES.replace("OK\n", '*c xConfiguration Alternates Peer 7 Address: ""\nOK\n'),
            lambda a: a.read_settings(),
            "out-of-range index in 'Peer 7 Address'",
        ),
        (
            "xConfiguration Alternates",
            ALTERNATES.replace('ConfigurationMaster: "1"', 'ConfigurationMaster: "9"'),
            lambda a: a.read_settings(),
            "invalid value '9' for 'ConfigurationMaster'",
        ),
        (
            "xConfiguration Alternates",
            ALTERNATES.replace('Peer 2 Address: "10.0.0.12"', 'Peer 2 Address: "NULL"'),
            lambda a: a.read_settings(),
            "null value 'NULL' for 'Peer 2 Address'",
        ),
        (
            "xStatus Alternates",
            STATUS.replace("Peer 2:", "Peer 8:"),
            lambda a: a.read_status(),
            "bad peer entry Peer 8",
        ),
        (
            "xStatus Alternates",
            STATUS.replace('Address: "10.0.0.12"', 'Address: "10.0.0.11"'),
            lambda a: a.read_status(),
            "lists '10.0.0.11' twice",
        ),
        (
            "xStatus Alternates",
            STATUS.replace('  FactoryResetPending: "False"\n', ""),
            lambda a: a.read_status(),
            "FactoryResetPending is None",
        ),
        (
            "xConfiguration Alternates",
            ALTERNATES.replace('"Permissive"', '"Enforcing"'),
            lambda a: a.read_settings(),
            "invalid value",
        ),
        (
            "xConfiguration Alternates",
            "\n".join(ALTERNATES.splitlines()[:4]) + "\nOK\n",
            lambda a: a.read_settings(),
            "has no 'Peer 4 Address'",
        ),
    ],
    ids=[
        "state",
        "local peer",
        "two blocks",
        "warning id",
        "warning twice",
        "null flag",
        "null version",
        "duplicate address",
        "config twice",
        "leaf twice",
        "slot 7",
        "primary 9",
        "null address",
        "status slot 8",
        "status duplicate",
        "no factory flag",
        "tls",
        "partial",
    ],
)
def test_odd_values_are_appliance_errors(
    appliance: SshAppliance,
    lab: Lab,
    command: str,
    answer: str,
    call: Callable[[SshAppliance], Any],
    message: str,
) -> None:
    lab.answers[command] = answer
    with pytest.raises(ApplianceError, match=message) as info:
        call(appliance)
    assert_clean(info.value)


# -- ParamikoShell over a scripted channel -------------------------------------------------


class FakeChannel:
    """Stands in for paramiko.Channel: answers arrive in scripted chunks."""

    def __init__(self, replies: dict[str, list[bytes | Exception]] | None = None):
        self.replies = replies or {}
        self.pending: list[bytes | Exception] = []
        self.sent: list[bytes] = []
        self.closed = False
        self.timeout: float | None = None

    def settimeout(self, timeout: float) -> None:
        self.timeout = timeout

    def sendall(self, data: bytes) -> None:
        if self.closed:
            raise OSError("Socket is closed")
        self.sent.append(data)
        self.pending += self.replies.get(data.decode().rstrip("\r\n"), [])

    def recv(self, size: int) -> bytes:
        if not self.pending:
            raise TimeoutError  # what a paramiko channel with a timeout raises
        item = self.pending.pop(0)
        if isinstance(item, Exception):
            raise item
        if item == b"":
            self.closed = True
        return item


def _shell(chan: FakeChannel, **target: Any) -> ParamikoShell:
    shell = ParamikoShell(TARGET.model_copy(update=target))
    shell._chan = chan  # type: ignore[assignment]
    return shell


def test_shell_reads_an_answer_in_pieces() -> None:
    text = STATUS.replace("\n", "\r\n").encode()
    chunks: list[bytes | Exception] = [text[i : i + 7] for i in range(0, len(text), 7)]
    chan = FakeChannel({"xStatus Alternates": chunks})
    answer = _shell(chan).send("xStatus Alternates")
    assert answer == STATUS
    assert chan.sent == [b"xStatus Alternates\r"]  # full name, ended like the Enter key


def test_shell_reassembles_utf8_split_across_chunks() -> None:
    body = '*c xConfiguration Alternates Cluster Name: "Zürich-Ωmega"\nOK\n'.encode()
    cut = body.index("ü".encode()) + 1  # in the middle of a two-byte character
    chan = FakeChannel({"xConfiguration Alternates": [body[:cut], body[cut:]]})
    answer = _shell(chan).send("xConfiguration Alternates")
    assert "Zürich-Ωmega" in answer


def test_shell_waits_for_the_final_line_not_an_ok_inside() -> None:
    """'OK' only ends an answer as a whole line at the end, after a newline."""
    chan = FakeChannel(
        {
            "xCommand ForceConfigUpdate": [
                b'*r Result (status=Error):\n    Reason: "OK',
                b'"\n*r/end\nERR',
                b"OR\n",
            ]
        }
    )
    answer = _shell(chan).send("xCommand ForceConfigUpdate")
    assert answer.endswith("*r/end\nERROR\n")


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (b"", "closed during"),
        (EOFError(), "lost during"),
        (OSError("Connection reset by peer"), "lost during"),
        (paramiko.SSHException("channel closed"), "lost during"),
    ],
    ids=["eof", "EOFError", "reset", "ssh"],
)
def test_a_channel_dropped_mid_answer_is_a_transport_error(
    tail: bytes | Exception, message: str
) -> None:
    chan = FakeChannel({"xStatus Alternates": [b"*s Alternates: /\n  LocalPeer: ", tail]})
    shell = _shell(chan)
    with pytest.raises(TransportError, match=message) as info:
        shell.send("xStatus Alternates")
    assert type(info.value) is TransportError
    assert_clean(info.value, "xStatus Alternates")
    assert shell._chan is None  # forgotten: the next send reconnects


def test_a_send_on_a_dead_socket_is_a_transport_error() -> None:
    chan = FakeChannel()
    chan.closed = False
    shell = _shell(chan)

    def broken(data: bytes) -> None:
        raise OSError("Broken pipe")

    chan.sendall = broken  # type: ignore[method-assign]
    with pytest.raises(TransportError, match="lost sending") as info:
        shell.send("xStatus Alarm")
    assert_clean(info.value, "xStatus Alarm")
    assert shell._chan is None


def test_silence_is_a_timeout() -> None:
    chan = FakeChannel({"xStatus Alternates": [b"*s Alternates: /\n"]})
    with pytest.raises(TimeoutError_, match="no complete answer") as info:
        _shell(chan, read_timeout_s=0.03).send("xStatus Alternates")
    assert_clean(info.value, "xStatus Alternates")


def test_an_endless_answer_is_refused() -> None:
    chan = FakeChannel({"xStatus Alarm": [b"x" * (MAX_ANSWER_BYTES + 1)]})
    with pytest.raises(ApplianceError, match="too large") as info:
        _shell(chan).send("xStatus Alarm")
    assert_clean(info.value, "xStatus Alarm")


def test_appliance_over_paramiko_shell_survives_one_drop() -> None:
    """A dropped channel mid-answer: SshAppliance retries the read on a new session."""
    channels = iter(
        [
            FakeChannel({"xStatus Alternates": [b"*s Alternates: /\n", b""]}),
            FakeChannel({"xStatus Alternates": [STATUS.encode()]}),
        ]
    )
    a = SshAppliance(TARGET, shell_factory=lambda t: _shell(next(channels)))
    assert a.read_status().local_slot == 2
    # Both sessions drop mid-answer: a TransportError names host and command.
    drop: list[bytes | Exception] = [b"*s Alternates: /\n", b""]
    channels = iter([FakeChannel({"xStatus Alternates": list(drop)}) for _ in range(2)])
    a = SshAppliance(TARGET, shell_factory=lambda t: _shell(next(channels)))
    with pytest.raises(TransportError, match="closed during 'xStatus Alternates'") as info:
        a.read_status()
    assert_clean(info.value, "xStatus Alternates")


# -- ParamikoShell connecting (paramiko's SSHClient patched: no sockets) -------------------


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    return tmp_path / "ssh" / "known_hosts"


def _patch_connect(
    monkeypatch: pytest.MonkeyPatch, outcome: Exception | None, chan: FakeChannel | None = None
) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def connect(self: paramiko.SSHClient, hostname: str, **kwargs: Any) -> None:
        calls.append({"hostname": hostname, "policy": self._policy, **kwargs})
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(paramiko.SSHClient, "connect", connect)
    monkeypatch.setattr(paramiko.SSHClient, "invoke_shell", lambda self, **kw: chan)
    return calls


SYNC = "xConfiguration H323 Mode"
SYNC_ANSWER = b'*c xConfiguration H323 Mode: "On"\nOK\n'


@pytest.mark.parametrize(
    "welcome",
    [
        [b"TANDBERG Video Communication Server X14.0.7\n", b"SW Release Date: x\n\n"],
        [b"TANDBERG Video Communication Server X14.0.7\nSW Release Date: x\nOK\n"],
        [b"TANDBERG Video Communication Server X14.0.7\r\n", b"OK\r\n\r\nOK\r\n"],
        [],
    ],
    ids=["no-ok", "ok", "two-oks-crlf", "silent"],
)
def test_connect_syncs_past_any_welcome_then_answers(
    monkeypatch: pytest.MonkeyPatch, known_hosts: Path, welcome: list[bytes]
) -> None:
    """The welcome may or may not end in OK (even twice): exops sends one cheap read
    after login and discards everything before its answer, so the next command's
    answer is its own."""
    chan = FakeChannel(
        {
            SYNC: [SYNC_ANSWER],
            "xConfiguration H323": [b'*c xConfiguration H323 Mode: "Off"\nOK\n'],
        }
    )
    chan.pending = list(welcome)
    calls = _patch_connect(monkeypatch, None, chan)
    shell = ParamikoShell(TARGET.model_copy(update={"known_hosts": str(known_hosts)}))
    assert shell.send("xConfiguration H323") == '*c xConfiguration H323 Mode: "Off"\nOK\n'
    assert chan.sent == [b"xConfiguration H323 Mode\r", b"xConfiguration H323\r"]
    (call,) = calls
    assert (call["hostname"], call["port"], call["username"]) == ("10.0.0.12", 8022, "admin")
    assert call["password"] == PASSWORD  # handed to paramiko, and nowhere else
    assert call["look_for_keys"] is False and call["allow_agent"] is False
    assert isinstance(call["policy"], ssh_mod._RejectUnknown)  # no opt-in: unknown refused
    assert chan.timeout is not None
    shell.close()


@pytest.mark.parametrize(
    "welcome",
    [
        [b"TANDBERG Video Communication Server X14.0.7\n", b"SW Release Date: x\n\n"],
        [b"TANDBERG Video Communication Server X14.0.7\nSW Release Date: x\nOK\n"],
        [b"TANDBERG Video Communication Server X14.0.7\r\n", b"OK\r\n\r\nOK\r\n"],
        [b"TANDBERG Video Communication Server X14.0.7\n\nxConfiguration Alternates\r\n"],
        [],
    ],
    ids=["no-ok", "ok", "two-oks-crlf", "echoed", "silent"],
)
def test_a_settings_read_is_the_logins_own_read(
    monkeypatch: pytest.MonkeyPatch, known_hosts: Path, welcome: list[bytes]
) -> None:
    """``xConfiguration Alternates`` always answers with its peer-slot lines, so as the
    session's first command it is the login's read itself: no separate sync, one
    answer less per session, and its answer is its own past any welcome."""
    chan = FakeChannel(
        {
            "xConfiguration Alternates": [ALTERNATES.replace("\n", "\r\n").encode()],
            "xStatus Alternates": [STATUS.encode()],
        }
    )
    chan.pending = list(welcome)
    _patch_connect(monkeypatch, None, chan)
    target = TARGET.model_copy(update={"known_hosts": str(known_hosts)})
    a = SshAppliance(target, shell_factory=ParamikoShell)
    settings = a.read_settings()
    assert settings.peers == ("10.0.0.11", "10.0.0.12", "", "", "", "")
    assert a.read_status().local_slot == 2  # the next answer is still its own
    assert chan.sent == [b"xConfiguration Alternates\r", b"xStatus Alternates\r"]
    a.close()


def test_a_refused_settings_read_at_login_is_its_refusal(
    monkeypatch: pytest.MonkeyPatch, known_hosts: Path
) -> None:
    """An error block answers the login's read: it is that command's answer (refused),
    never a welcome to skip, and the session goes on."""
    chan = FakeChannel({"xConfiguration Alternates": [_error("No such node").encode()]})
    chan.pending = [b"TANDBERG Video Communication Server X14.0.7\n"]
    _patch_connect(monkeypatch, None, chan)
    a = SshAppliance(
        TARGET.model_copy(update={"known_hosts": str(known_hosts)}), shell_factory=ParamikoShell
    )
    with pytest.raises(ApplianceError, match="No such node") as info:
        a.read_settings()
    assert info.value.operation == "read settings"
    assert chan.sent == [b"xConfiguration Alternates\r"]


@pytest.mark.parametrize("first", ["xStatus Warnings", "xStatus Alternates", "xCommand Boot"])
def test_other_first_commands_still_sync_first(
    monkeypatch: pytest.MonkeyPatch, known_hosts: Path, first: str
) -> None:
    """A status read may answer with no line at all (no warnings) and a command may
    change something: neither is sent before the welcome is past; the cheap sync is."""
    chan = FakeChannel({SYNC: [SYNC_ANSWER], first: [b"OK\n"]})
    chan.pending = [b"TANDBERG Video Communication Server X14.0.7\nOK\n"]
    _patch_connect(monkeypatch, None, chan)
    shell = ParamikoShell(TARGET.model_copy(update={"known_hosts": str(known_hosts)}))
    assert shell.send(first) == "OK\n"
    assert chan.sent == [f"{SYNC}\r".encode(), f"{first}\r".encode()]
    shell.close()


def test_echo_and_crlf_of_a_pty_are_removed() -> None:
    """Under a pty the shell echoes the command and ends lines in CRLF."""
    echoed = b"xStatus Alternates\r\n" + STATUS.replace("\n", "\r\n").encode()
    chunks: list[bytes | Exception] = [echoed[i : i + 3] for i in range(0, len(echoed), 3)]
    answer = _shell(FakeChannel({"xStatus Alternates": chunks})).send("xStatus Alternates")
    assert answer == STATUS


def test_a_welcome_that_never_ends_is_a_timeout(
    monkeypatch: pytest.MonkeyPatch, known_hosts: Path
) -> None:
    chan = FakeChannel()  # the sync command is never answered
    chan.pending = [b"TANDBERG Video Communication Server X14.0.7\nOK\n"]
    _patch_connect(monkeypatch, None, chan)
    target = TARGET.model_copy(update={"known_hosts": str(known_hosts), "read_timeout_s": 0.05})
    shell = ParamikoShell(target)
    with pytest.raises(TimeoutError_, match="no complete answer to 'login'") as info:
        shell.send("xConfiguration H323")
    assert_clean(info.value)
    assert shell._chan is None


def test_an_endless_welcome_is_refused(monkeypatch: pytest.MonkeyPatch, known_hosts: Path) -> None:
    """The size cap holds during login too (a hostile or garbled peer)."""
    chan = FakeChannel()
    chan.pending = [b"TANDBERG " * (MAX_ANSWER_BYTES // 9 + 1)]
    _patch_connect(monkeypatch, None, chan)
    shell = ParamikoShell(TARGET.model_copy(update={"known_hosts": str(known_hosts)}))
    with pytest.raises(ApplianceError, match="answer to 'login' is too large") as info:
        shell.send("xConfiguration H323")
    assert_clean(info.value)
    assert shell._chan is None


def test_a_late_answer_is_never_read_as_the_next_one() -> None:
    """After a timeout the session is dropped: its late answer cannot be taken for
    the answer to the next command."""
    chan = FakeChannel({"xStatus Alternates": [b"*s Alternates: /\n"]})
    shell = _shell(chan, read_timeout_s=0.03)
    with pytest.raises(TimeoutError_):
        shell.send("xStatus Alternates")
    assert shell._chan is None


def _unknown_key(self: paramiko.SSHClient, hostname: str, **kwargs: Any) -> None:
    """What paramiko's connect does with a host key known_hosts lacks: ask the policy."""
    self._policy.missing_host_key(self, hostname, paramiko.ECDSAKey.generate())


@pytest.mark.parametrize(
    ("outcome", "error", "message"),
    [
        (
            paramiko.AuthenticationException("Authentication failed."),
            AuthError,
            "credentials refused",
        ),
        (
            paramiko.BadHostKeyException(
                "10.0.0.12", paramiko.ECDSAKey.generate(), paramiko.ECDSAKey.generate()
            ),
            TlsError,
            "possible impersonation",
        ),
        (_unknown_key, TlsError, "--accept-new-host-keys"),
        # No text matching: an SSH error that merely mentions known_hosts is no host
        # key verdict (the old code called it one).
        (
            paramiko.SSHException("Server '[10.0.0.12]:8022' not found in known_hosts"),
            TransportError,
            "SSH failed",
        ),
        (paramiko.SSHException("Error reading SSH protocol banner"), TransportError, "SSH failed"),
        (TimeoutError("timed out"), TimeoutError_, "timed out"),
        (ConnectionRefusedError(111, "Connection refused"), TransportError, "Connection refused"),
    ],
    ids=["auth", "bad-key", "unknown-key", "known-hosts-text", "banner", "timeout", "refused"],
)
def test_connect_errors_are_mapped(
    monkeypatch: pytest.MonkeyPatch,
    known_hosts: Path,
    outcome: Any,
    error: type[ExopsError],
    message: str,
) -> None:
    if isinstance(outcome, Exception):
        _patch_connect(monkeypatch, outcome)
    else:
        monkeypatch.setattr(paramiko.SSHClient, "connect", outcome)
    shell = ParamikoShell(TARGET.model_copy(update={"known_hosts": str(known_hosts)}))
    with pytest.raises(error, match=message) as info:
        shell.send("xStatus Alternates")
    assert type(info.value) is error
    assert_clean(info.value, "ssh connect")


def test_accepting_a_new_host_key_is_opt_in_and_recorded(
    monkeypatch: pytest.MonkeyPatch, known_hosts: Path
) -> None:
    chan = FakeChannel({SYNC: [SYNC_ANSWER]})
    calls = _patch_connect(monkeypatch, None, chan)
    target = TARGET.model_copy(
        update={"known_hosts": str(known_hosts), "accept_new_host_keys": True}
    )
    ParamikoShell(target)._connect()
    policy = calls[0]["policy"]
    assert isinstance(policy, ssh_mod._AcceptAndRecord)
    key = paramiko.ECDSAKey.generate()
    client = paramiko.SSHClient()
    policy.missing_host_key(client, "[10.0.0.12]:8022", key)
    assert client.get_host_keys().lookup("[10.0.0.12]:8022") is not None
    line = known_hosts.read_text()
    assert line == f"[10.0.0.12]:8022 {key.get_name()} {key.get_base64()}\n"


# -- routing: RoutedAppliance -----------------------------------------------------------------


def _rest(target: ConnectionTarget, cdb: bool, seen: list[str]) -> RestAppliance:
    def router(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        path = request.url.path
        if path.startswith(CDB.prefix):
            if not cdb:
                return httpx.Response(404, json={"Message": "CDB REST API access is disabled"})
            if path.endswith(CDB.alternates):
                recs = [{"index": i, "ip_address": "", "cdb_address": ""} for i in range(6)]
            elif path.endswith(CDB.mapping):
                recs = []
            elif path.endswith(CDB.h323):
                recs = [{"mode": "On"}]
            elif path.endswith(CDB.master):
                recs = [{"master_idx": -1}]
            else:
                recs = [
                    {
                        "cluster_name": "rest",
                        "tls_verify": "Permissive",
                        "ip_version": "IPv4",
                        "address_mapping": "Off",
                    }
                ]
            return httpx.Response(
                200, json=[{"peer": "10.0.0.12", "num_recs": len(recs), "records": recs}]
            )
        if path == REST.sysinfo:
            return httpx.Response(
                200, json={"SystemName": "rest", "Version": "X14.0.7", "ProductType": "VCS"}
            )
        if path in (REST.dns,):
            return httpx.Response(200, json={})
        if path in (REST.server_cert, REST.trust_store, REST.eventlog):
            return httpx.Response(200, text="")
        return httpx.Response(200, json=[])

    client = httpx.Client(transport=httpx.MockTransport(router), base_url="https://10.0.0.12")
    return RestAppliance(target, client=client, sleep=lambda s: None)


@pytest.mark.parametrize(
    ("transport", "cdb", "cluster_over", "name", "h323"),
    [
        ("ssh", True, "ssh", "ssh", False),  # H.323 from the CLI
        ("rest", False, "rest", "rest", False),  # no CDB, pinned to REST: H.323 read over SSH
        ("auto", True, "rest", "rest", True),  # H.323 from the CDB
        ("auto", False, "ssh", "rest+ssh", False),  # CDB off: H.323 from the CLI
    ],
)
def test_routing(
    lab: Lab, transport: str, cdb: bool, cluster_over: str, name: str, h323: bool
) -> None:
    lab.answers["xConfiguration H323"] = _config("H323", [("Mode", "Off")])
    target = TARGET.model_copy(update={"transport": transport})
    seen: list[str] = []
    rest = _rest(target, cdb, seen)
    ssh = SshAppliance(target, shell_factory=lab.factory, rest=rest)
    routed = RoutedAppliance(target, rest=rest, ssh=ssh)
    if cluster_over == "rest" and not cdb:
        with pytest.raises(ApplianceError, match="HTTP 404"):
            routed.read_settings()
    else:
        settings = routed.read_settings()
        assert (settings.cluster_name == "rest") is (cluster_over == "rest")
        assert ("xConfiguration Alternates" in lab.sent) is (cluster_over == "ssh")
    system = routed.read_system()
    assert system.name == ("exp-e-2" if transport == "ssh" else "rest")
    assert system.h323_enabled is h323
    assert routed.transport_name == name
    # Certificates and logs always over REST; commands always over SSH.
    assert routed.read_certificate() == (None, ())
    assert routed.read_log() == []
    assert routed.command(Command.FORCE_SYSTEM_KEY_UPDATE) == "OK"
    assert lab.sent[-1] == "xCommand ForceSystemKeyUpdate"
    routed.close()


def test_logs_fall_back_to_eventlog_over_ssh_when_rest_has_none(lab: Lab) -> None:
    """GET /api/provisioning/eventlog has no public evidence (MOCK-DEFINED): on a box
    that answers 404 the router reads `eventlog N` over SSH (INFERRED)."""
    seen: list[str] = []
    target = TARGET.model_copy(update={"transport": "auto"})

    def router(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(404, json={"Message": "Not Found"})

    client = httpx.Client(transport=httpx.MockTransport(router), base_url="https://10.0.0.12")
    rest = RestAppliance(target, client=client, sleep=lambda s: None)
    lab.answers["eventlog 3"] = "one\ntwo\nOK\n"
    routed = RoutedAppliance(
        target, rest=rest, ssh=SshAppliance(target, shell_factory=lab.factory, rest=rest)
    )
    assert routed.read_log(3) == ["one", "two"]
    assert seen == [REST.eventlog] and lab.sent[-1] == "eventlog 3"
    routed.close()


def test_restart_routing(lab: Lab) -> None:
    seen: list[str] = []
    target = TARGET.model_copy(update={"transport": "auto"})
    rest = _rest(target, True, seen)
    routed = RoutedAppliance(
        target, rest=rest, ssh=SshAppliance(target, shell_factory=lab.factory, rest=rest)
    )
    routed.command(Command.FORCE_SYSTEM_KEY_UPDATE)
    routed.restart()
    assert seen == [f"POST {REST.restart}"]
    assert lab.shells[0].closed  # the SSH session dies with the peer: dropped at once
    routed.close()
    ssh_target = TARGET.model_copy(update={"transport": "ssh"})
    rest = _rest(ssh_target, True, seen)
    routed = RoutedAppliance(
        ssh_target, rest=rest, ssh=SshAppliance(ssh_target, shell_factory=lab.factory, rest=rest)
    )
    routed.restart()
    assert lab.sent[-1] == "xCommand Boot"
    assert seen == [f"POST {REST.restart}"]  # nothing new over REST
    routed.close()


def test_unknown_transport_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="transport 'telnet'"):
        RoutedAppliance(TARGET.model_copy(update={"transport": "telnet"}))


def test_known_hosts_is_parsed_once_for_many_peers_and_again_when_it_changes(
    monkeypatch: pytest.MonkeyPatch, known_hosts: Path
) -> None:
    """A fleet's known_hosts holds a line per peer: parsing it for every peer's login
    made a gather of N peers cost N x N key parses (1,500 peers: minutes of CPU,
    issue 22). It is parsed once per content; each login's client still gets this
    peer's keys, and a line added meanwhile (--accept-new-host-keys) is seen."""
    keys = [paramiko.ECDSAKey.generate() for _ in range(3)]
    known_hosts.parent.mkdir(parents=True)
    known_hosts.write_text(
        f"[10.0.0.12]:8022 {keys[0].get_name()} {keys[0].get_base64()}\n"
        f"[10.0.0.13]:8022 {keys[1].get_name()} {keys[1].get_base64()}\n"
    )
    loads: list[str] = []

    class Counting(ssh_mod.KnownHosts):
        def __init__(self, path: str) -> None:
            loads.append(path)
            super().__init__(path)

    monkeypatch.setattr(ssh_mod, "KnownHosts", Counting)
    target = TARGET.model_copy(update={"known_hosts": str(known_hosts)})
    for _ in range(3):
        client = paramiko.SSHClient()
        ParamikoShell(target)._host_keys(client, known_hosts)
        got = client.get_host_keys().lookup("[10.0.0.12]:8022")
        assert got is not None and list(got.values()) == [keys[0]]
        assert client.get_host_keys().lookup("[10.0.0.13]:8022") is None  # only its own
    assert len(loads) == 1
    with known_hosts.open("a") as f:  # a new key recorded for the peer
        f.write(f"10.0.0.12 {keys[2].get_name()} {keys[2].get_base64()}\n")
    client = paramiko.SSHClient()
    ParamikoShell(target)._host_keys(client, known_hosts)
    assert len(loads) == 2
    plain = client.get_host_keys().lookup("10.0.0.12")
    assert plain is not None and list(plain.values()) == [keys[2]]


@pytest.mark.parametrize(
    ("version", "flags", "asks"),
    [
        ("X15.2.1", ("True", "True"), False),  # Expressway-E X14.2+: no option keys
        ("X14.2", ("True", "False"), False),  # Expressway-C, the first version without
        ("X14.0.7", ("True", "True"), True),  # Expressway before X14.2: keys exist
        ("X15.2.1", ("False", "True"), True),  # VCS keeps option keys on every version
        ("fifteen", ("True", "True"), True),  # version unknown: asked, the answer decides
    ],
)
def test_option_keys_are_not_asked_of_expressway_x142_and_later(
    appliance: SshAppliance, lab: Lab, version: str, flags: tuple[str, str], asks: bool
) -> None:
    """Expressway X14.2 and later have no option keys (Release Note X14.2.5): the
    system read does not ask for them (one CLI round less per peer) and says "none",
    not unknown. VCS, earlier versions and an unreadable version are asked."""
    series, expressway = flags
    lab.answers["xStatus SystemUnit"] = (
        SYSTEM_UNIT.replace('Version: "X14.0.7"', f'Version: "{version}"')
        .replace('ExpresswaySeries: "True"', f'ExpresswaySeries: "{series}"')
        .replace('      Expressway: "True"', f'      Expressway: "{expressway}"')
    )
    info = appliance.read_system()
    assert ("xStatus Options" in lab.sent) is asks
    if asks:
        assert [k.description for k in info.option_keys or ()] == ["Traversal Calls"]
    else:
        assert info.option_keys == () and "system.option_keys" not in appliance.last_unknown

"""read_peer_facts: an unreachable peer or a garbled answer is data, never a crash.

A fake appliance answers (or fails) each read as scripted; the last tests put
the real SshAppliance, over a scripted fake shell, under read_peer_facts so a
garbled CLI answer is seen end to end as ``PeerFacts.error``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from xapikit import alternates_answer

from exops.appliance.base import Command, ConnectionTarget, Write
from exops.appliance.ssh import SshAppliance
from exops.core.errors import ApplianceError, AuthError, TimeoutError_, TlsError, TransportError
from exops.core.models import (
    EMPTY_SLOTS,
    Alarm,
    Certificate,
    ClusterSettings,
    ClusterStatus,
    PeerState,
    PeerStatusEntry,
    Role,
    SystemInfo,
)
from exops.facts.gather import cluster_facts, read_peer_facts
from exops.facts.health import restart_pending
from exops.inventory import PeerSpec

SPEC = PeerSpec(
    name="exp-c-1",
    cluster="exp-c",
    hostname="10.0.0.11",
    port=443,
    ssh_port=22,
    address="10.0.0.11",
    fqdn="exp-c-1.example.com",
    role=Role.EXPRESSWAY_C,
    slot=1,
    transport="auto",
    username="admin",
)
SETTINGS = ClusterSettings(
    peers=("10.0.0.11", "10.0.0.12", *EMPTY_SLOTS[2:]), primary=1, cluster_name="exp-c.example.com"
)
STATUS = ClusterStatus(
    local_slot=1,
    database="Active",
    replication="Synchronised",
    peers=(
        PeerStatusEntry(slot=1, address="10.0.0.11", state=PeerState.ACTIVE, local=True),
        PeerStatusEntry(slot=2, address="10.0.0.12", state=PeerState.ACTIVE),
    ),
)
SYSTEM = SystemInfo(name="exp-c-1", version="X15.2.1", role=Role.EXPRESSWAY_C, platform="medium")
NOW = datetime.now(UTC)
CERT = Certificate(
    subject_cn="exp-c-1.example.com",
    sans=("exp-c-1.example.com",),
    issuer="exops lab CA",
    not_before=NOW - timedelta(days=1),
    not_after=NOW + timedelta(days=365),
    self_signed=False,
    fingerprint_sha256="00" * 32,
)


class FakeAppliance:
    """Answers each read from ``results``: a value, or an exception to raise."""

    transport_name = "rest"

    def __init__(self, **results: Any):
        self.host = SPEC.name
        self.results: dict[str, Any] = {
            "probe": 12.5,
            "read_settings": SETTINGS,
            "read_status": STATUS,
            "read_alarms": (),
            "read_system": SYSTEM,
            "read_certificate": (CERT, ("exops lab CA",)),
        }
        self.results.update(results)
        self.calls: list[str] = []

    def _answer(self, name: str) -> Any:
        self.calls.append(name)
        result = self.results[name]
        if isinstance(result, BaseException):
            raise result
        return result

    def probe(self) -> float:
        return float(self._answer("probe"))

    def read_settings(self) -> ClusterSettings:
        return self._answer("read_settings")  # type: ignore[no-any-return]

    def read_status(self) -> ClusterStatus:
        return self._answer("read_status")  # type: ignore[no-any-return]

    def read_alarms(self) -> tuple[Alarm, ...]:
        return self._answer("read_alarms")  # type: ignore[no-any-return]

    def read_system(self) -> SystemInfo:
        return self._answer("read_system")  # type: ignore[no-any-return]

    def read_certificate(self) -> tuple[Certificate | None, tuple[str, ...]]:
        return self._answer("read_certificate")  # type: ignore[no-any-return]

    def read_log(self, lines: int = 500) -> list[str]:
        return []

    def write(self, writes: Sequence[Write]) -> None:
        raise AssertionError("facts never write")

    def restart(self) -> None:
        raise AssertionError("facts never restart")

    def command(self, command: Command) -> str:
        raise AssertionError("facts never run commands")

    def close(self) -> None:
        pass


ALL_READS = [
    "probe",
    "read_settings",
    "read_status",
    "read_alarms",
    "read_system",
    "read_certificate",
]


def test_a_healthy_peer_is_fully_modelled() -> None:
    fake = FakeAppliance()
    facts = read_peer_facts(fake, SPEC)
    # The probe first (alone); the others run concurrently, in no set order.
    assert fake.calls[0] == "probe" and sorted(fake.calls) == sorted(ALL_READS)
    assert facts.reachable is True
    assert facts.error is None
    assert (facts.host, facts.address, facts.fqdn) == (
        "exp-c-1",
        "10.0.0.11",
        "exp-c-1.example.com",
    )
    assert facts.transport == "rest"
    assert facts.rtt_ms == 12.5
    assert facts.settings == SETTINGS
    assert facts.status == STATUS
    assert facts.system == SYSTEM
    assert facts.certificate == CERT
    assert facts.trust_store == ("exops lab CA",)
    assert facts.alarms == ()
    assert restart_pending(facts) is False
    assert facts.gathered_at is not None and facts.gathered_at.tzinfo is not None


def test_no_appliance_is_an_unreachable_peer() -> None:
    facts = read_peer_facts(None, SPEC, open_error="exp-c-1: no credentials for exp-c")
    assert facts.reachable is False
    assert facts.error == "exp-c-1: no credentials for exp-c"
    assert facts.settings is None and facts.status is None and facts.system is None
    assert facts.host == "exp-c-1" and facts.address == "10.0.0.11"
    assert read_peer_facts(None, SPEC).error == "not connected"


@pytest.mark.parametrize(
    "exc",
    [
        TransportError("cannot connect (Connection refused)", host="exp-c-1", operation="probe"),
        TimeoutError_("no answer within the timeout", host="exp-c-1", operation="probe"),
        AuthError("credentials refused (HTTP 401)", host="exp-c-1", operation="probe"),
        TlsError("HTTPS certificate not trusted", host="exp-c-1", operation="probe"),
    ],
    ids=["refused", "timeout", "auth", "tls"],
)
def test_an_unreachable_peer_is_data(exc: TransportError) -> None:
    fake = FakeAppliance(probe=exc)
    facts = read_peer_facts(fake, SPEC)
    assert fake.calls == ["probe"]  # nothing else is tried
    assert facts.reachable is False
    # A timeout also says how long exops gave the peer (issue 26).
    timed = r" \(gave up after \d+\.\d s\)" if isinstance(exc, TimeoutError_) else ""
    assert re.fullmatch(re.escape(str(exc)) + timed, facts.error), facts.error
    assert facts.error.startswith("exp-c-1 probe: ")
    assert facts.settings is None and facts.status is None and facts.alarms == ()
    assert restart_pending(facts) is False


def test_transport_failure_after_the_probe_stops_reading() -> None:
    """The connection died part-way (e.g. the peer is restarting): no more reads."""
    exc = TimeoutError_("no answer", host="exp-c-1", operation="read status")
    fake = FakeAppliance(read_status=exc)
    # One request at a time (reads in order): nothing is read after the failure.
    facts = read_peer_facts(fake, SPEC, per_peer=1)
    assert fake.calls == ["probe", "read_settings", "read_status"]
    assert re.fullmatch(r"exp-c-1 read status: no answer \(gave up after \d+\.\d s\)", facts.error)
    assert facts.system is None and facts.alarms == ()


def test_a_garbled_status_is_recorded_and_the_rest_still_modelled() -> None:
    exc = ApplianceError(
        "cluster status answer is malformed", host="exp-c-1", operation="read status"
    )
    fake = FakeAppliance(
        read_status=exc, read_alarms=(Alarm(id="20007", title="Restart required"),)
    )
    facts = read_peer_facts(fake, SPEC)
    # A garbled answer does not stop the other reads (concurrent: in no set order).
    assert sorted(fake.calls) == sorted(ALL_READS)
    assert facts.reachable is True
    assert facts.error == "exp-c-1 read status: cluster status answer is malformed"
    assert facts.status is None
    assert facts.settings == SETTINGS
    assert facts.system == SYSTEM
    assert facts.certificate == CERT
    assert restart_pending(facts) is True


def test_the_first_error_is_kept() -> None:
    fake = FakeAppliance(
        read_settings=ApplianceError("first", host="exp-c-1", operation="read settings"),
        read_system=ApplianceError("second", host="exp-c-1", operation="read system"),
    )
    facts = read_peer_facts(fake, SPEC)
    assert facts.error == "exp-c-1 read settings: first"
    assert facts.settings is None and facts.system is None
    assert facts.status == STATUS


def test_an_unmapped_exception_is_still_data() -> None:
    fake = FakeAppliance(read_alarms=KeyError("Id"))
    facts = read_peer_facts(fake, SPEC)
    assert facts.reachable is True
    assert facts.error == "alarms: unexpected KeyError: 'Id'"
    assert facts.alarms == ()
    assert facts.status == STATUS


def test_no_certificate_and_a_garbled_one() -> None:
    facts = read_peer_facts(FakeAppliance(read_certificate=(None, ())), SPEC)
    assert (facts.certificate, facts.trust_store, facts.error) == (None, (), None)
    bad = ApplianceError("server certificate is not valid PEM", host="exp-c-1", operation="x")
    facts = read_peer_facts(FakeAppliance(read_certificate=bad), SPEC)
    assert (facts.certificate, facts.trust_store) == (None, ())
    assert facts.error is not None and "not valid PEM" in facts.error
    assert facts.settings == SETTINGS


@pytest.mark.parametrize(
    ("alarms", "pending"),
    [
        ((Alarm(id="20007"),), True),
        ((Alarm(id="20007", status="lowered"),), False),
        ((Alarm(id="20101"), Alarm(id="20007", status="raised")), True),
        ((Alarm(id="20101"), Alarm(id="20004")), False),
        ((), False),
    ],
    ids=["raised", "lowered", "among-others", "other-alarms", "none"],
)
def test_restart_pending_from_alarm_20007(alarms: tuple[Alarm, ...], pending: bool) -> None:
    facts = read_peer_facts(FakeAppliance(read_alarms=alarms), SPEC)
    assert restart_pending(facts) is pending
    assert facts.alarms == alarms
    assert facts.raised_alarms == tuple(a for a in alarms if a.raised)


def test_cluster_facts_groups_peers() -> None:
    up = read_peer_facts(FakeAppliance(), SPEC)
    down = read_peer_facts(
        None, PeerSpec(**{**SPEC.__dict__, "name": "exp-c-2", "address": "10.0.0.12"})
    )
    facts = cluster_facts("exp-c", [up, down])
    assert facts.cluster == "exp-c"
    assert facts.peers == (up, down)
    assert facts.params == {}
    assert facts.peer("exp-c-2") is down
    assert facts.by_address("10.0.0.12") is down
    assert facts.by_address("10.0.0.99") is None
    with pytest.raises(KeyError):
        facts.peer("nope")
    assert cluster_facts("exp-c", [], {"new_peer": "x"}).params == {"new_peer": "x"}


def test_facts_are_immutable() -> None:
    facts = read_peer_facts(FakeAppliance(), SPEC)
    with pytest.raises(ValueError, match="frozen"):
        facts.reachable = False  # type: ignore[misc]


# -- end to end with the real SshAppliance over a scripted shell -------------------------

SSH_ANSWERS = {
    "xConfiguration H323": '*c xConfiguration H323 Mode: "On"\nOK\n',
    "xConfiguration Alternates": alternates_answer(["10.0.0.11", "10.0.0.12"], 1),
    # Garbled: the answer stops after the first peer and a stray prompt follows.
    "xStatus Alternates": '*s Alternates: /\n  LocalPeer: "1"\n  Peer 1:\nadmin> \nOK\n',
    "xStatus Warnings": (
        '*s Warnings: /\n  Warning 3:\n    ID: "e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6"\n'
        '    Reason: "Restart required - x"\n    State: "Unacknowledged"\n*s/end\n\nOK\n'
    ),
    "xStatus SystemUnit": (
        '*s SystemUnit: /\n  Software:\n    Version: "X15.2.1"\n    Configuration:\n'
        '      Expressway: "False"\n      ExpresswaySeries: "True"\n'
        '  Hardware:\n    Version: "VMware"\n*s/end\n\nOK\n'
    ),
    "xStatus Options": "*s Options: /\n*s/end\n\nOK\n",
    "xConfiguration IP DNS": '*c xConfiguration IP DNS Hostname: "exp-c-1"\nOK\n',
    "xConfiguration NTP": "OK\n",
}


class ScriptedShell:
    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def send(self, command: str) -> str:
        return self.answers[command]

    def close(self) -> None:
        pass


class Certs:
    def read_certificate(self) -> tuple[Certificate | None, tuple[str, ...]]:
        return CERT, ()


TARGET = ConnectionTarget(
    host="exp-c-1", hostname="10.0.0.11", password=SecretStr("facts-Secret-9"), transport="ssh"
)


def test_garbled_cli_status_through_the_real_ssh_appliance() -> None:
    app = SshAppliance(TARGET, shell_factory=lambda t: ScriptedShell(SSH_ANSWERS), rest=Certs())
    facts = read_peer_facts(app, SPEC)
    assert facts.reachable is True
    assert facts.transport == "ssh"
    assert facts.error is not None
    assert facts.error.startswith("exp-c-1 xStatus Alternates: ")
    assert "truncated" in facts.error  # says what was wrong
    assert facts.status is None
    # Partial data: everything else was read and modelled.
    assert facts.settings is not None and facts.settings.listed == ("10.0.0.11", "10.0.0.12")
    assert facts.system is not None and facts.system.platform is None  # not over SSH
    assert facts.system.hardware == "VMware"
    assert facts.certificate == CERT
    assert restart_pending(facts) is True


def test_unreachable_through_the_real_ssh_appliance() -> None:
    def refuse(target: ConnectionTarget) -> ScriptedShell:
        raise TransportError(
            "cannot connect over SSH (Connection refused)",
            host=target.host,
            operation="ssh connect",
        )

    facts = read_peer_facts(SshAppliance(TARGET, shell_factory=refuse), SPEC)
    assert facts.reachable is False
    assert facts.error == "exp-c-1 ssh connect: cannot connect over SSH (Connection refused)"
    assert "facts-Secret-9" not in facts.model_dump_json()

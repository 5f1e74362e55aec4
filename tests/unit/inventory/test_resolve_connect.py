"""How a peer's management hostname is resolved, and what a failure says (issue 26).

EXOPS_HOSTS_FILE is consulted first for the name exops connects to (as for the
cluster FQDNs), then the system resolver; a name neither knows is refused with
one line naming the resolver that was asked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from exops.appliance.base import ConnectionTarget
from exops.appliance.rest import RestAppliance, base_url
from exops.appliance.ssh import ParamikoShell
from exops.core.errors import TransportError
from exops.core.settings import Settings
from exops.inventory import PeerSpec, connection_target
from exops.inventory.resolve import management_address

NOWHERE = "peer-one.invalid"  # RFC 6761: never resolves


@pytest.fixture
def hosts(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    path.write_text("# lab\n127.0.0.9 peer-one.lab.example  other\n")
    return path


def test_the_hosts_file_is_asked_first(hosts: Path) -> None:
    assert management_address("peer-one.lab.example", str(hosts)) == (
        "127.0.0.9",
        f"the hosts file {hosts}",
    )
    assert management_address("PEER-ONE.lab.example", str(hosts))[0] == "127.0.0.9"


def test_a_name_the_hosts_file_lacks_goes_to_the_system_resolver(hosts: Path) -> None:
    address, resolver = management_address(NOWHERE, str(hosts))
    assert address is None
    assert resolver == f"the system resolver ({NOWHERE} is not in the hosts file {hosts})"
    assert management_address(NOWHERE, None) == (
        None,
        "the system resolver (no EXOPS_HOSTS_FILE set)",
    )
    missing = hosts.parent / "nope"
    assert "is not a readable file" in management_address(NOWHERE, str(missing))[1]


def test_an_ip_address_is_not_resolved(hosts: Path) -> None:
    assert management_address("10.0.0.1", str(hosts)) == (None, "")


def test_the_connection_target_carries_the_address_and_the_resolver(hosts: Path) -> None:
    spec = PeerSpec(
        name="p1",
        cluster="c1",
        hostname="peer-one.lab.example",
        port=443,
        ssh_port=22,
        address="10.0.0.11",
        fqdn="peer-one.lab.example",
        role=None,
        slot=1,
        transport="auto",
        username="admin",
    )
    target = connection_target(
        spec, Settings(hosts_file=str(hosts)), environ={"EXOPS_PASSWORD": "x"}
    )
    assert (target.hostname, target.address) == ("peer-one.lab.example", "127.0.0.9")
    assert base_url(target) == f"https://127.0.0.9:{target.port}"


def _nowhere(**extra: object) -> ConnectionTarget:
    return ConnectionTarget(
        host="p1",
        hostname=NOWHERE,
        password=SecretStr("x"),
        connect_timeout_s=2.0,
        read_timeout_s=2.0,
        resolver="the system resolver (no EXOPS_HOSTS_FILE set)",
        **extra,  # type: ignore[arg-type]
    )


def test_rest_names_the_resolver_asked() -> None:
    with pytest.raises(TransportError) as info:
        RestAppliance(_nowhere()).probe()
    message = str(info.value)
    assert f"{NOWHERE} does not resolve" in message, message
    assert "asked the system resolver (no EXOPS_HOSTS_FILE set)" in message, message
    assert "\n" not in message


def test_ssh_names_the_resolver_asked(tmp_path: Path) -> None:
    shell = ParamikoShell(_nowhere(known_hosts=str(tmp_path / "known_hosts")))
    with pytest.raises(TransportError) as info:
        shell.send("xConfiguration H323")
    message = str(info.value)
    assert f"{NOWHERE} does not resolve" in message, message
    assert "asked the system resolver (no EXOPS_HOSTS_FILE set)" in message, message

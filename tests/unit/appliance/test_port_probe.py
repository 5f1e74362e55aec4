"""The port probe a restart wait makes while a peer is down: a plain TCP connect to
the port its read uses, on a real socket (nothing sent, no TLS, no login)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from exops.appliance.base import ConnectionTarget, PortProbe, tcp_accepts
from exops.appliance.factory import RoutedAppliance
from exops.appliance.rest import RestAppliance
from exops.appliance.ssh import SshAppliance


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    yield server
    server.close()


def closed_port() -> int:
    """A port nothing listens on (bound, then released): a connect is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def target(https: int, ssh: int, transport: str = "auto") -> ConnectionTarget:
    return ConnectionTarget(
        host="p1",
        hostname="p1.example.com",  # never resolved: the address is given
        address="127.0.0.1",
        port=https,
        ssh_port=ssh,
        transport=transport,
        connect_timeout_s=2.0,
    )


def test_tcp_accepts_a_listening_port_and_not_a_closed_one(listening: socket.socket) -> None:
    port = int(listening.getsockname()[1])
    assert tcp_accepts("127.0.0.1", port, 2.0) is True
    assert tcp_accepts("127.0.0.1", closed_port(), 2.0) is False
    assert tcp_accepts("name-that-does-not-resolve.invalid", port, 2.0) is False


def test_each_transport_probes_the_port_its_reads_use(listening: socket.socket) -> None:
    open_port, shut = int(listening.getsockname()[1]), closed_port()
    # HTTPS open, SSH closed: REST (and auto, whose uptime read is REST) accept; SSH not.
    t = target(https=open_port, ssh=shut)
    rest = RestAppliance(t)
    try:
        assert isinstance(rest, PortProbe) and rest.accepts_connections()
        assert not SshAppliance(t).accepts_connections()
        assert RoutedAppliance(t, rest=rest).accepts_connections()
        ssh_routed = RoutedAppliance(target(https=open_port, ssh=shut, transport="ssh"))
        assert not ssh_routed.accepts_connections()
        ssh_routed.close()
    finally:
        rest.close()
    # SSH open, HTTPS closed: the other way round.
    t = target(https=shut, ssh=open_port, transport="ssh")
    routed = RoutedAppliance(t)
    try:
        assert routed.accepts_connections() and SshAppliance(t).accepts_connections()
        assert not RoutedAppliance(target(https=shut, ssh=open_port)).accepts_connections()
    finally:
        routed.close()

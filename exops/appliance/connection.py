"""The Nornir connection plugin ``exops_appliance``: one appliance per host."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from exops.appliance.base import PEER_CONCURRENCY, ConnectionTarget
from exops.appliance.factory import RoutedAppliance
from exops.appliance.rest import DeadlineTransport, RestAppliance, ssl_context

NAME = "exops_appliance"


class ApplianceConnection:
    """Nornir ``ConnectionPlugin``: ``connection`` is the peer's ``Appliance``."""

    def __init__(self) -> None:
        self.connection: RoutedAppliance | None = None

    def open(
        self,
        hostname: str | None,
        username: str | None,
        password: str | None,
        port: int | None,
        platform: str | None,
        extras: dict[str, Any] | None = None,
        configuration: Any = None,
    ) -> None:
        extras = dict(extras or {})
        target = extras.pop("target", None)
        if not isinstance(target, ConnectionTarget):
            # Plain Nornir use: build the target from the host and its extras.
            target = ConnectionTarget(
                host=str(extras.pop("name", hostname)),
                hostname=str(hostname),
                port=port or 443,
                username=username or "admin",
                password=SecretStr(password or ""),
                **extras,
            )
        self.connection = RoutedAppliance(target, rest=rest_appliance(target))

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def rest_appliance(target: ConnectionTarget) -> RestAppliance:
    """The REST transport with a pool of ``PEER_CONCURRENCY`` connections.

    The gather sends up to that many requests to a peer at once
    (``exops.facts.gather``); the client's own default pool (2) would queue the rest.
    Kept across restarts: the transport re-creates its client on the same pool.
    """
    import httpx

    pool = DeadlineTransport(  # every exchange under its total deadline (issue 26)
        verify=ssl_context(target),  # one per CA bundle, shared
        limits=httpx.Limits(
            max_connections=PEER_CONCURRENCY, max_keepalive_connections=PEER_CONCURRENCY
        ),
    )
    return RestAppliance(target, transport=pool)


def register() -> None:
    """Register the plugin with Nornir (the entry point does it too)."""
    from nornir.core.plugins.connections import ConnectionPluginRegister

    if NAME not in ConnectionPluginRegister.available:
        ConnectionPluginRegister.register(NAME, ApplianceConnection)

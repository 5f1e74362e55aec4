"""Gather facts: read every peer of a cluster in parallel into ``ClusterFacts``.

Each read is separate, so a peer that answers some questions and garbles
others still yields what it answered; the first error is kept on the peer
(``PeerFacts.error``). A transport failure (unreachable, timeout, refused
credentials, TLS) on any read marks the peer unreachable and stops reading
it: a peer that stops answering half-way is not one to plan changes on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from exops.appliance.base import Appliance
from exops.errors import ApplianceError, AuthError, TimeoutError_, TlsError, TransportError
from exops.inventory import PeerSpec
from exops.models import ClusterFacts, PeerFacts, SystemInfo

# Facts fields and the appliance call that fills each, in reading order.
# The probe comes first: it also proves reachability and authentication.
_READS: tuple[tuple[str, Callable[[Appliance], Any]], ...] = (
    ("rtt_ms", lambda a: a.probe()),
    ("settings", lambda a: a.read_settings()),
    ("status", lambda a: a.read_status()),
    ("alarms", lambda a: a.read_alarms()),
    ("system", lambda a: a.read_system()),
    ("certificate", lambda a: a.read_certificate()),
)
# What waits and verifies poll: reachability, settings, cluster status, alarms
# (4 reads instead of 17 per peer; no system, certificate or trust store).
LIGHT_READS = _READS[:4]


def read_peer_facts(
    appliance: Appliance | None,
    spec: PeerSpec,
    *,
    open_error: str | None = None,
    light: bool = False,
) -> PeerFacts:
    """Read one peer (``light``: only what waits poll). Never raises for appliance
    or transport trouble."""
    base: dict[str, Any] = {"host": spec.name, "address": spec.address, "fqdn": spec.fqdn}
    now = datetime.now(UTC)
    if appliance is None:
        return PeerFacts(
            **base, reachable=False, error=open_error or "not connected", gathered_at=now
        )
    values: dict[str, Any] = {}
    error: str | None = None
    for name, read in LIGHT_READS if light else _READS:
        try:
            values[name] = read(appliance)
        except TransportError as exc:
            # Unreachable, timed out, refused credentials or TLS: stop reading.
            return PeerFacts(
                **base,
                reachable=False,
                error=str(exc),
                unreachable_kind=unreachable_kind(exc),
                gathered_at=now,
            )
        except ApplianceError as exc:
            error = error or str(exc)
        except Exception as exc:  # an unmapped surprise on one peer is still data
            error = error or f"{name}: unexpected {type(exc).__name__}: {exc}"
    cert = values.pop("certificate", None)
    if cert is not None:
        values["certificate"], values["trust_store"] = cert
    return PeerFacts(
        **base,
        reachable=True,
        error=error,
        unknown=unknown_fields(appliance, values.get("system")),
        transport=str(getattr(appliance, "transport_name", "")),
        gathered_at=now,
        **values,
    )


SYSTEM_FIELDS = ("version", "role", "platform", "h323_enabled")


def unknown_fields(appliance: Appliance, system: SystemInfo | None) -> dict[str, str]:
    """Every system fact the peer did not give, with why (never a guessed default)."""
    if system is None:
        return {}
    said = dict(getattr(appliance, "last_unknown", {}) or {})
    out = {}
    for name in SYSTEM_FIELDS:
        if getattr(system, name) is None:
            key = f"system.{name}"
            out[key] = said.get(key, "not offered by this appliance or transport")
    return out


def unreachable_kind(exc: TransportError) -> str:
    """``tls`` | ``auth`` | ``timeout`` | ``connect``: why a peer did not answer."""
    for kind, cls in (("tls", TlsError), ("auth", AuthError), ("timeout", TimeoutError_)):
        if isinstance(exc, cls):
            return kind
    return "connect"


def cluster_facts(
    cluster: str, peers: list[PeerFacts], params: dict[str, Any] | None = None
) -> ClusterFacts:
    return ClusterFacts(
        cluster=cluster,
        peers=tuple(peers),
        gathered_at=datetime.now(UTC),
        params=params or {},
    )

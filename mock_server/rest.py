"""The HTTPS REST front end of one simulated peer (aiohttp), per docs/contract.md."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from mock_server.lab import MAX_PEERS, Lab, Peer, _version_at_least

OK = {"Message": "The operation was successful"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def _error(status: int, message: str) -> web.Response:
    return _json({"Message": message}, status)


def make_app(lab: Lab, peer: Peer) -> web.Application:
    app = web.Application(middlewares=[_middleware(lab, peer)], client_max_size=64 * 1024)
    r = app.router
    r.add_get("/api/provisioning/sysinfo", lambda q: _json(sysinfo(lab, peer)))
    for prefix in ("/api", "/api/v1"):
        r.add_get(
            f"{prefix}/provisioning/common/cluster/peers",
            lambda q: _json([{"PeerAddress": a} for a in peer.saved["peers"] if a]),
        )
        r.add_get(
            f"{prefix}/provisioning/common/dns/dnsserver",
            lambda q: _json(
                [{"index": i, "address": a} for i, a in enumerate(peer.dns_servers, 1)]
            ),
        )
        r.add_get(
            f"{prefix}/provisioning/common/time/ntpserver",
            lambda q: _json(
                [{"index": i, "Address": a} for i, a in enumerate(peer.ntp_servers, 1)]
            ),
        )
    r.add_get(
        "/api/provisioning/common/dns/dns",
        lambda q: _json({"SystemHostName": peer.hostname, "DomainName": peer.domain}),
    )
    r.add_get("/api/provisioning/optionkey", lambda q: _json(peer.option_keys))
    r.add_get(
        "/api/provisioning/certs/server",
        lambda q: web.Response(text=(peer.cert.cert_pem if peer.cert else b"").decode()),
    )
    r.add_get(
        "/api/provisioning/certs/root",
        lambda q: web.Response(text=b"".join(peer.trust_store).decode()),
    )
    r.add_get(
        "/api/provisioning/common/cdbrestapiaccess", lambda q: _json({"Enabled": peer.cdb_rest})
    )
    r.add_get("/api/provisioning/eventlog", lambda q: _eventlog(peer, q))
    r.add_post("/api/provisioning/restart", lambda q: _restart(lab, peer))
    r.add_get("/api/management/{table:.+}", lambda q: _cdb_get(lab, peer, q))
    r.add_post("/api/management/{table:.+}", lambda q: _cdb_post(lab, peer, q))
    return app


def _garbage(mode: str, body: Any) -> web.Response:
    """A 200 whose body is not what the API promises (fault ``garbage``)."""
    original = bytes(body or b"")
    if mode == "truncated":
        data = original[: max(len(original) // 2, 1)]
    elif mode == "oversized":
        data = b"[" + b" " * (5 * 1024 * 1024) + b"]"
    else:  # junk
        data = b"<html><body>Service Unavailable</body></html>\x00\xff"
    return web.Response(status=200, body=data, content_type="application/json")


def _middleware(lab: Lab, peer: Peer) -> Any:
    expected = "Basic " + base64.b64encode(f"admin:{lab.password}".encode()).decode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        write = request.method in ("POST", "PUT", "DELETE")
        path = request.path_qs
        status: Any = None
        try:
            delay = lab.latency_ms(peer.name) / 2000.0
            slow = lab.fault_for("slow", peer.name, "rest")
            if slow:
                delay += float(slow.get("seconds", 1.0))
            if delay:
                await asyncio.sleep(delay)
            drop = lab.fault_for("drop", peer.name, "rest")
            if drop:
                lab.use_fault(drop)
                status = "dropped"
                if request.transport:
                    request.transport.abort()
                raise ConnectionResetError("dropped by fault")
            if not secrets.compare_digest(request.headers.get("Authorization", ""), expected):
                status = 401
                return _error(401, "Authentication failed")
            failing = lab.fault_for("http_error", peer.name)
            if failing and path.startswith(failing.get("path_prefix", "/")):
                lab.use_fault(failing)
                status = int(failing.get("status", 500))
                return _error(status, "Internal server error (injected)")
            if (
                write
                and _version_at_least(peer.version, (14, 2))
                and "X-CSRF-Header" not in request.headers
            ):
                status = 403
                return _error(403, "CSRF header missing")
            response = await handler(request)
            status = response.status
            garbage = lab.fault_for("garbage", peer.name, "rest")
            if (
                garbage
                and not write
                and path.startswith(garbage.get("path_prefix", "/api/"))
                and isinstance(response, web.Response)
            ):
                lab.use_fault(garbage)
                status = "garbage"
                return _garbage(str(garbage.get("mode", "junk")), response.body)
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            lab.record(
                peer, "rest", request.method, path, write and status not in (401, 403), status
            )

    return middleware


def sysinfo(lab: Lab, peer: Peer) -> dict[str, Any]:
    return {
        "SystemName": peer.name,
        "Version": peer.version,
        "ProductType": peer.role,
        "PlatformSize": peer.platform,
        "HardwareType": peer.hardware,
        "SerialNumber": peer.serial,
        "UptimeSeconds": peer.uptime(lab.time_scale),
        "Lan1Address": peer.ip,
        "Lan2Address": peer.lan2,
    }


async def _eventlog(peer: Peer, request: web.Request) -> web.Response:
    try:
        lines = max(1, min(int(request.query.get("lines", "500")), 5000))
    except ValueError:
        return _error(400, "lines must be a number")
    return web.Response(text="\n".join(list(peer.log)[-lines:]) + "\n")


async def _restart(lab: Lab, peer: Peer) -> web.Response:
    # Answer first, then go down (as the appliance does).
    asyncio.get_running_loop().call_later(0.05, lab.restart, peer)
    return _json(OK)


def _single(peer: Peer, rec: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"peer": peer.ip, "num_recs": 1, "records": [rec]}]


def _many(peer: Peer, recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"peer": peer.ip, "num_recs": len(recs), "records": recs}]


def cdb_tables(lab: Lab, peer: Peer) -> dict[str, list[dict[str, Any]]]:
    s = peer.saved
    local = peer.local_slot(peer.active)
    statuses = []
    for i, addr in enumerate(peer.active["peers"]):
        if addr:
            statuses.append(
                {
                    "uuid": peer.uuid if peer.designates(addr) else f"peer-{i}",
                    "peer": addr,
                    "index": i,
                    "state": peer.states.get(addr, "Unknown"),
                    "local_peer": i + 1 == local,
                }
            )
    master = int(s["master"]) - 1 if s["master"] else -1
    return {
        "configuration/alternates": _many(
            peer,
            [{"index": i, "ip_address": a, "cdb_address": a} for i, a in enumerate(s["peers"])],
        ),
        "configuration/alternatesmaster": _single(peer, {"master_idx": master}),
        "configuration/cluster": _single(
            peer,
            {
                "cluster_name": s["name"],
                "tls_verify": "Enforcing" if s["tls"] == "Enforce" else "Permissive",
                "ip_version": s["ipver"],
                "address_mapping": s["map_mode"],
            },
        ),
        "configuration/clusteraddressmapping": _many(
            peer, [{"index": i, "name": n, "address": a} for i, (n, a) in enumerate(s["map"])]
        ),
        "configuration/h323": _single(peer, {"mode": "On" if peer.h323 else "Off"}),
        "configuration/clusterpeer": _many(
            peer, [{"uuid": r["uuid"], "index": r["index"], "peer": r["peer"]} for r in statuses]
        ),
        "status/clusterpeer": _many(peer, statuses),
        "status/clusterdatabase": _single(
            peer,
            {
                "status": peer.database,
                "replication": peer.replication,
                "last_sync": _iso(peer.last_sync),
                "next_sync": _iso(peer.last_sync + lab.interval if peer.last_sync else None),
                "factory_reset_pending": peer.factory_reset_pending(),
            },
        ),
        "status/alarm": _many(peer, [a.record() for a in peer.alarms.values()]),
        "status/system": _single(
            peer, {"hardware_serial_number": peer.serial, "version_description": peer.version}
        ),
    }


def _iso(ts: float | None) -> str:
    from mock_server.lab import iso

    return iso(ts)


async def _cdb_get(lab: Lab, peer: Peer, request: web.Request) -> web.Response:
    if not peer.cdb_rest:
        return _error(404, "CDB REST API access is disabled")
    table = request.match_info["table"].rstrip("/")
    tables = cdb_tables(lab, peer)
    if table not in tables:
        return _error(404, f"No such table: {table}")
    return _json(tables[table])


# table -> field -> (settings key, value check); row tables take an index.
_WRITABLE: dict[str, dict[str, str]] = {
    "configuration/alternates": {"ip_address": "peers"},
    "configuration/alternatesmaster": {"master_idx": "master"},
    "configuration/cluster": {
        "cluster_name": "name",
        "tls_verify": "tls",
        "ip_version": "ipver",
        "address_mapping": "map_mode",
    },
    "configuration/clusteraddressmapping": {"name": "map_name", "address": "map_address"},
    "configuration/h323": {"mode": "h323"},
}


async def _cdb_post(lab: Lab, peer: Peer, request: web.Request) -> web.Response:
    if not peer.cdb_rest:
        return _error(404, "CDB REST API access is disabled")
    parts = request.match_info["table"].strip("/").split("/")
    form = await request.post()
    raw = form.get("value")
    if not isinstance(raw, str):
        return _error(400, "Missing form field 'value'")
    try:
        value = json.loads(raw)
    except ValueError:
        return _error(400, "Field 'value' is not valid JSON")
    index: int | None = None
    if len(parts) == 5 and parts[2] == "index":
        table, field = "/".join(parts[:2]), parts[4]
        try:
            index = int(parts[3]) + 1
        except ValueError:
            return _error(400, "index must be a number")
        if not 1 <= index <= MAX_PEERS:
            return _error(400, f"index out of range 0-{MAX_PEERS - 1}")
    elif len(parts) == 3:
        table, field = "/".join(parts[:2]), parts[2]
    else:
        return _error(404, "Expected /api/management/<table>[/index/<n>]/<field>")
    key = _WRITABLE.get(table, {}).get(field)
    if key is None:
        return _error(404, f"{table}/{field} is not writable")
    error = apply_setting(lab, peer, key, value, index)
    return _error(400, error) if error else _json(OK)


def apply_setting(lab: Lab, peer: Peer, key: str, value: Any, index: int | None) -> str | None:
    """Validate and commit one setting; returns an error reason or None."""
    if key in ("peers", "map_name", "map_address"):
        if index is None:
            return "this field needs an index"
        if not isinstance(value, str) or len(value) > 253 or any(c.isspace() for c in value):
            return "Invalid value"
        lab.save(peer, key, value, index)
    elif key == "master":
        if not isinstance(value, int) or isinstance(value, bool) or not -1 <= value < MAX_PEERS:
            return "Invalid value"
        lab.save(peer, "master", value + 1 if value >= 0 else 0)
    elif key == "tls":
        mode = {"Permissive": "Permissive", "Enforcing": "Enforce", "Enforce": "Enforce"}.get(
            str(value)
        )
        if mode is None:
            return "Invalid value: expected Permissive or Enforcing"
        lab.save(peer, "tls", mode)
    elif key == "ipver":
        if value not in ("IPv4", "IPv6"):
            return "Invalid value: expected IPv4 or IPv6"
        lab.save(peer, "ipver", value)
    elif key == "map_mode":
        if value not in ("On", "Off"):
            return "Invalid value: expected On or Off"
        lab.save(peer, "map_mode", value)
    elif key == "name":
        if not isinstance(value, str) or len(value) > 253:
            return "Invalid value"
        lab.save(peer, "name", value)
    elif key == "h323":
        if value not in ("On", "Off"):
            return "Invalid value: expected On or Off"
        lab.set_h323(peer, value == "On")
        lab.evaluate(peer)
    return None

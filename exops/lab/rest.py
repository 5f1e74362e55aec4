"""The HTTPS REST front end of one simulated peer (aiohttp), per docs/contract.md.

Provisioning/status REST (sections 1-2 of the contract) and the cluster
database REST (section 3) with the CONFIRMED grammar
``/api/management/<table>[/<field>/<value>...][?peer=local|<ip>][&sizeonly=true|norecs]``.
This module parses the wire (CDB paths, forms, the CDB's own value
spellings) and renders answers; validation and commits live in the lab model
(``Lab.check_setting``, ``Lab.save_setting``), faults in ``exops.lab.faults``.
Every 4xx/5xx answer carries ``{"Message": "..."}``.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from exops.lab import faults, settings
from exops.lab.certs_api import add_routes as add_cert_routes
from exops.lab.certs_api import server_pem
from exops.lab.lab import Lab, Peer, _version_at_least, iso
from exops.lab.settings import MAX_PEERS, SETTING_RULES, TLS_CDB
from exops.lab.upgrade import upgrades_of

OK = {"Message": "The operation was successful"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CDB_PREFIX = "/api/management/"
FORM = "application/x-www-form-urlencoded"

# "The Expressway REST API is compliant with RAML version 0.8" (REST API Summary Guide
# X14.2): the header is CONFIRMED; the resources listed are the lab's (MOCK-DEFINED text).
RAML = """#%RAML 0.8
title: Expressway REST API (exops lab)
version: v1
baseUri: https://{host}/api
mediaType: application/json
/provisioning:
  /sysinfo:
    get:
  /restart:
    post:
  /optionkey:
    get:
  /eventlog:
    description: the lab only (MOCK-DEFINED; a real box has no REST event log)
    get:
  /certs:
    /server:
      get:
    /root:
      get:
  /common:
    /cluster/peers:
      get:
    /dns/dns:
      get:
      put:
    /dns/dnsserver:
      get:
      post:
      put:
      delete:
    /time/ntpserver:
      get:
      post:
      put:
      delete:
    /cdbrestapiaccess:
      get:
      put:
/management/{table}:
  get:
  post:
  delete:
"""


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"Message": message}, status=status, headers=headers)


def make_app(lab: Lab, peer: Peer) -> web.Application:
    app = web.Application(middlewares=[_middleware(lab, peer)], client_max_size=64 * 1024)
    r = app.router
    r.add_get("/api/provisioning/sysinfo", lambda q: _json(sysinfo(lab, peer)))
    r.add_get("/api/raml", lambda q: web.Response(text=RAML, content_type="application/raml+yaml"))
    for prefix in ("/api", "/api/v1"):
        r.add_get(
            f"{prefix}/provisioning/common/cluster/peers",
            lambda q: _json([{"PeerAddress": a} for a in peer.saved.peers if a]),
        )
        for path, servers, key, wrapper in (
            ("dns/dnsserver", "dns_servers", "address", DNS_WRAPPER),
            ("time/ntpserver", "ntp_servers", "Address", None),
        ):
            route = f"{prefix}/provisioning/common/{path}"
            handler = _server_list(peer, servers, key, wrapper)
            for method in ("GET", "POST", "PUT", "DELETE"):
                r.add_route(method, route, handler)
        r.add_get(f"{prefix}/provisioning/common/dns/dns", lambda q: _json(_dns(peer)))
        r.add_put(f"{prefix}/provisioning/common/dns/dns", lambda q: _put_dns(peer, q))
        r.add_get(
            f"{prefix}/provisioning/common/cdbrestapiaccess",
            lambda q: _json({"Enabled": peer.cdb_rest}),
        )
        r.add_put(f"{prefix}/provisioning/common/cdbrestapiaccess", lambda q: _put_cdb(peer, q))
    r.add_get("/api/provisioning/optionkey", lambda q: _option_keys(peer))
    r.add_get("/api/provisioning/certs/server", lambda q: web.Response(text=server_pem(peer)))
    add_cert_routes(r, lab, peer)
    r.add_get(
        "/api/provisioning/certs/root",
        lambda q: web.Response(text=b"".join(peer.trust_store).decode()),
    )
    r.add_get("/api/provisioning/eventlog", lambda q: _eventlog(peer, q))
    r.add_post("/api/provisioning/restart", lambda q: _restart(lab, peer))
    r.add_get("/api/management/{path:.+}", lambda q: _cdb_get(lab, peer, q))
    r.add_post("/api/management/{path:.+}", lambda q: _cdb_post(lab, peer, q))
    r.add_delete("/api/management/{path:.+}", lambda q: _cdb_delete(lab, peer, q))
    upgrades_of(lab).routes(r, peer)  # sftpconfig, upgrade, upgradestatus (exops/lab/upgrade.py)
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
            gate = faults.fault_gate(lab, peer, "rest", path, write)
            if gate.delay_s:
                await asyncio.sleep(gate.delay_s)
            if gate.drop:
                status = "dropped"
                if request.transport:
                    request.transport.abort()
                raise ConnectionResetError("dropped by fault")
            if not secrets.compare_digest(request.headers.get("Authorization", ""), expected):
                status = 401
                return _error(401, "Authentication failed")
            if lab.replay is not None:
                response = await _replayed(lab, peer, request)
                status = response.status
                return response
            injected = faults.fault_answer(lab, peer, "rest", path, write)
            if injected is not None:
                status = injected[0]
                return _error(*injected)
            if (
                write
                and _version_at_least(peer.version, (14, 2))
                and "X-CSRF-Header" not in request.headers
            ):
                status = 403
                return _error(403, "CSRF header missing")
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                # aiohttp's own 404/405/413 as the API's JSON error form.
                headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
                response = _error(exc.status, exc.reason, headers)
            status = response.status
            mode = faults.garbage(lab, peer, path, write) if status == 200 else None
            if mode is not None and isinstance(response, web.Response):
                status = "garbage"
                response = _garbage(mode, response.body)
            if gate.late_s:  # the request took effect; its answer comes after the deadline
                await asyncio.sleep(gate.late_s)
            if gate.trickle_s and isinstance(response, web.Response):
                await _trickle(request, response, gate.trickle_s)
                raise ConnectionResetError("answer trickled out by fault")
            return response
        finally:
            accepted = write and isinstance(status, int) and status < 400
            lab.record(peer, "rest", request.method, path, accepted, status)

    return middleware


async def _trickle(request: web.Request, response: web.Response, interval: float) -> None:
    """Fault ``trickle``: the whole answer (status line, headers, body) one byte per
    ``interval`` seconds straight onto the connection, which is then closed."""
    body = bytes(response.body or b"") if isinstance(response.body, bytes | bytearray) else b""
    head = [f"HTTP/1.1 {response.status} {response.reason}"]
    head += [f"{k}: {v}" for k, v in response.headers.items() if k.lower() != "content-length"]
    head += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    raw = "\r\n".join(head).encode() + body
    transport = request.transport
    for i in range(len(raw)):
        if transport is None or transport.is_closing():
            return  # the client gave up
        transport.write(raw[i : i + 1])
        await asyncio.sleep(interval)
    if transport is not None:
        transport.close()


async def _replayed(lab: Lab, peer: Peer, request: web.Request) -> web.Response:
    """``up --replay``: the recorded answer, or 599 naming the unrecorded request."""
    form = dict(await request.post()) if request.method != "GET" and request.can_read_body else {}
    found = lab.replay.rest(peer.name, request.method, request.path_qs, form or None)
    if found is None:
        return _error(599, f"not recorded: {request.method} {request.path_qs}")
    ctype = str(found.get("headers", {}).get("content-type", "application/json"))
    mime, _, params = ctype.partition(";")
    charset = params.partition("charset=")[2].strip() or None
    return web.Response(
        status=int(found["status"]),
        body=str(found.get("body", "")).encode(charset or "utf-8"),
        content_type=mime.strip() or None,
        charset=charset,
    )


def sysinfo(lab: Lab, peer: Peer) -> dict[str, Any]:
    """MOCK-DEFINED body (the path is CONFIRMED, the fields are not)."""
    return {
        "SystemName": peer.name,
        "Version": peer.version,
        "ProductType": peer.role,
        "PlatformSize": peer.platform,
        "HardwareType": peer.hardware,
        "SerialNumber": peer.serial,
        "UptimeSeconds": peer.uptime(lab.time_scale),
        # The peer's own clock, in simulated time since its (wall-clock) boot, so
        # that SystemTime - UptimeSeconds is its boot time also in compressed time.
        "SystemTime": _system_time(lab, peer),
        "Lan1Address": peer.lan1 or peer.ip,
        "Lan2Address": peer.lan2,
    }


def _system_time(lab: Lab, peer: Peer) -> str:
    return peer.system_time(lab.time_scale)


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


# -- provisioning writes (CONFIRMED methods; bodies as in docs/contract.md section 2) --------


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        return _error(400, "Body is not valid JSON")
    if not isinstance(data, dict):
        return _error(400, "Body must be a JSON object")
    return data


def _text_ok(value: Any, limit: int = 253) -> bool:
    return isinstance(value, str) and len(value) <= limit and not any(c.isspace() for c in value)


def _dns(peer: Peer) -> dict[str, Any]:
    return {"SystemHostName": peer.hostname, "DomainName": peer.domain}


async def _put_dns(peer: Peer, request: web.Request) -> web.Response:
    data = await _body(request)
    if isinstance(data, web.Response):
        return data
    unknown = set(data) - {"SystemHostName", "DomainName"}
    if unknown or not data:
        return _error(400, f"Expected SystemHostName and/or DomainName, got {sorted(data)}")
    if not all(_text_ok(v) for v in data.values()):
        return _error(400, "Invalid value: expected a host or domain name")
    peer.hostname = data.get("SystemHostName", peer.hostname)
    peer.domain = data.get("DomainName", peer.domain)
    return _json(OK)


# The guide's wrapper of a DNS server row (CONFIRMED: REST API Summary Guide X14.2,
# GET .../dns/dnsserver answers {"DefaultDNSServers": {"index": 2, "address": ...}};
# POST and PUT send the same wrapper). No wrapper is documented for NTP.
DNS_WRAPPER = "DefaultDNSServers"
SERVER_LIST_FORMS = ("documented", "list", "undocumented")


def server_rows(servers: list[str], key: str) -> list[dict[str, Any]]:
    """One row per configured server (indices from 1). NTP rows carry the guide's
    other fields (names CONFIRMED, values MOCK-DEFINED)."""
    rows: list[dict[str, Any]] = []
    for i, address in enumerate(servers, 1):
        if key == "Address":  # NTP: the guide's body
            rows.append(
                {"index": i, "KeyId": 0, "Hash": "sha1", "Authentication": "disabled", key: address}
            )
        else:
            rows.append({"index": i, key: address})
    return rows


def server_answer(form: str, servers: list[str], key: str, wrapper: str | None) -> Any:
    """The GET answer in the peer's ``server_list_form``.

    ``documented``: the guide's shape - DNS the wrapped object, NTP one object; several
    servers a list of those (a list is not shown by the guide; MOCK-DEFINED), none ``[]``.
    ``list``: a JSON list of rows. ``undocumented``: a list of bare addresses, a shape
    no source shows (tests: exops must read it as unknown)."""
    if form == "undocumented":
        return list(servers)
    rows = server_rows(servers, key)
    if form == "list":
        return rows
    items: list[Any] = [{wrapper: r} for r in rows] if wrapper else rows
    return items[0] if len(items) == 1 else items


def _option_keys(peer: Peer) -> web.Response:
    """The peer's option keys (body MOCK-DEFINED: a list of {Key, Description, Count}).
    Expressway X14.2+ has no option keys: 404 (MOCK-DEFINED answer). The
    ``undocumented`` form answers an object keyed by description (no source shows it)."""
    if not peer.has_option_keys:
        return _error(404, "Option keys are not used on this version (Smart Licensing)")
    if peer.server_list_form == "undocumented":
        return _json({"OptionKeys": {str(k["Description"]): k["Key"] for k in peer.option_keys}})
    return _json(peer.option_keys)


def _server_list(peer: Peer, attr: str, key: str, wrapper: str | None) -> Handler:
    """GET/POST/PUT/DELETE of the DNS or NTP server list (up to 5, indices from 1).
    A POST/PUT body may come in the guide's wrapper (DNS) or bare."""

    async def handle(request: web.Request) -> web.Response:
        servers: list[str] = getattr(peer, attr)
        if request.method == "GET":
            return _json(server_answer(peer.server_list_form, servers, key, wrapper))
        data = await _body(request)
        if isinstance(data, web.Response):
            return data
        if wrapper and set(data) == {wrapper}:
            data = data[wrapper]
            if not isinstance(data, dict):
                return _error(400, f"{wrapper} must be a JSON object")
        index = data.get("index")
        if request.method != "POST" and (
            isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= len(servers)
        ):
            return _error(404, f"No server with index {index!r}")
        if request.method == "DELETE":
            del servers[index - 1]
            return _json(OK)
        address = data.get(key)
        if not _text_ok(address) or not address:
            return _error(400, f"Invalid value for {key}: expected an address")
        if request.method == "POST":
            if len(servers) >= 5:
                return _error(400, "At most 5 servers")
            servers.append(address)
        else:
            servers[index - 1] = address
        return _json(OK)

    return handle


async def _put_cdb(peer: Peer, request: web.Request) -> web.Response:
    data = await _body(request)
    if isinstance(data, web.Response):
        return data
    enabled = data.get("Enabled")
    if not isinstance(enabled, bool) or set(data) != {"Enabled"}:
        return _error(400, 'Expected {"Enabled": true|false}')
    peer.cdb_rest = enabled
    return _json(OK)


# -- the cluster database ---------------------------------------------------------------


def cdb_records(lab: Lab, peer: Peer) -> dict[str, list[dict[str, Any]]]:
    """Every CDB table of one peer: table -> its records (saved settings)."""
    s = peer.saved
    local = peer.local_slot(peer.active)
    statuses = []
    for i, addr in enumerate(peer.active.peers):
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
    return {
        "configuration/alternates": [
            {"index": i, "ip_address": a, "cdb_address": a} for i, a in enumerate(s.peers)
        ],
        "configuration/alternatesmaster": [{"master_idx": s.master - 1 if s.master else -1}],
        "configuration/cluster": [
            {
                "cluster_name": s.name,
                "tls_verify": TLS_CDB[s.tls],
                "ip_version": str(s.ipver),
                "address_mapping": str(s.map_mode),
            }
        ],
        "configuration/clusteraddressmapping": [
            {"index": i, "name": n, "address": a} for i, (n, a) in enumerate(s.map)
        ],
        "configuration/h323": [{"mode": "On" if peer.h323 else "Off"}],
        "configuration/clusterpeer": [
            {"uuid": r["uuid"], "index": r["index"], "peer": r["peer"]} for r in statuses
        ],
        "configuration/dns": [{"host_name": peer.hostname, "domain_name": peer.domain}],
        "configuration/system": [{"maintenance_mode": "on" if peer.maintenance_mode else "off"}],
        "configuration/service": [
            {"name": name, "mode": "off"} for name in ("c_mgmt", "c_cal", "c_ucmc")
        ],
        "status/clusterpeer": statuses,
        "status/clusterdatabase": [
            {
                "status": peer.database,
                "replication": peer.replication,
                "last_sync": iso(peer.last_sync),
                "next_sync": iso(peer.last_sync + lab.interval if peer.last_sync else None),
                "factory_reset_pending": peer.factory_reset_pending(),
            }
        ],
        "status/alarm": [a.record() for a in peer.alarms.values()],
        "status/system": [
            {"hardware_serial_number": peer.serial, "version_description": peer.version}
        ],
    }


TABLES = (
    "configuration/alternates",
    "configuration/alternatesmaster",
    "configuration/cluster",
    "configuration/clusteraddressmapping",
    "configuration/h323",
    "configuration/clusterpeer",
    "configuration/dns",
    "configuration/system",
    "configuration/service",
    "status/clusterpeer",
    "status/clusterdatabase",
    "status/alarm",
    "status/system",
)

# (table, field) -> settings key, from the shared rule table.
_WRITABLE: dict[tuple[str, str], str] = {(r.table, r.field): r.key for r in SETTING_RULES.values()}
_ROW_KEY: dict[str, str | None] = {r.table: r.row_key for r in SETTING_RULES.values()}


def _cell(value: Any) -> str:
    """A record value as the URL grammar compares it (booleans lowercase)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_cdb_path(request: web.Request) -> tuple[str, list[tuple[str, str]]] | web.Response:
    """``<table>[/<field>/<value>...]`` of the raw path, segments URL-decoded."""
    raw = request.rel_url.raw_path[len(CDB_PREFIX) :].strip("/")
    parts = [unquote_plus(p) for p in raw.split("/")]
    table = "/".join(parts[:2])
    if table not in TABLES:
        return _error(404, f"No such table: {table}")
    rest = parts[2:]
    if len(rest) % 2:
        return _error(400, f"Expected {CDB_PREFIX}<table>[/<field>/<value>...], got {raw}")
    return table, list(zip(rest[::2], rest[1::2], strict=True))


def _select(
    records: list[dict[str, Any]], filters: list[tuple[str, str]], table: str
) -> list[dict[str, Any]] | web.Response:
    fields = set().union(*(r.keys() for r in records)) if records else set()
    for name, _ in filters:
        if records and name not in fields:
            return _error(400, f"No such field in {table}: {name}")
    return [r for r in records if all(_cell(r.get(f)) == v for f, v in filters)]


async def _cdb_get(lab: Lab, peer: Peer, request: web.Request) -> web.Response:
    if not peer.cdb_rest:
        return _error(404, "CDB REST API access is disabled")
    parsed = _parse_cdb_path(request)
    if isinstance(parsed, web.Response):
        return parsed
    table, filters = parsed
    sizeonly = request.query.get("sizeonly")
    if sizeonly not in (None, "true", "norecs"):
        return _error(400, "sizeonly must be true or norecs")
    which = request.query.get("peer")
    members = [peer, *lab.db_group(peer)]
    if which == "local":
        members = [peer]
    elif which is not None:
        members = [p for p in members if p.designates(which)]
    answer = []
    for member in members:
        records = cdb_records(lab, member)[table]
        selected = _select(records, filters, table)
        if isinstance(selected, web.Response):
            return selected
        if sizeonly == "true":  # counts the whole table, ignoring filters
            answer.append({"peer": member.ip, "num_recs": len(records), "records": []})
        elif sizeonly == "norecs":
            answer.append({"peer": member.ip, "num_recs": len(selected), "records": []})
        else:
            answer.append({"peer": member.ip, "num_recs": len(selected), "records": selected})
    return _json(answer)


async def _cdb_row(
    lab: Lab, peer: Peer, request: web.Request
) -> tuple[str, dict[str, Any], int | None] | web.Response:
    """The one local row a write path selects: (table, record, 1-based row index)."""
    if not peer.cdb_rest:
        return _error(404, "CDB REST API access is disabled")
    parsed = _parse_cdb_path(request)
    if isinstance(parsed, web.Response):
        return parsed
    table, filters = parsed
    if table.startswith("status/"):
        return _error(405, f"{table} is a status table (read-only)")
    selected = _select(cdb_records(lab, peer)[table], filters, table)
    if isinstance(selected, web.Response):
        return selected
    if not selected:
        return _error(404, f"No such record in {table}")
    if len(selected) > 1:
        return _error(400, f"The path selects {len(selected)} records of {table}; name one")
    record = selected[0]
    index = record.get("index")
    row = index + 1 if _ROW_KEY.get(table) == "index" and isinstance(index, int) else None
    return table, record, row


async def _cdb_post(lab: Lab, peer: Peer, request: web.Request) -> web.Response:
    """POST <table>[/<keyfield>/<keyvalue>] with a form body of <field>=<value> pairs.

    The row is the one record the path selects (a single-record table needs no
    key). Every field is validated before any is committed.
    """
    found = await _cdb_row(lab, peer, request)
    if isinstance(found, web.Response):
        return found
    table, record, row = found
    if request.content_type != FORM:
        return _error(415, f"Expected {FORM}")
    form = await request.post()
    if not form:
        return _error(400, "No fields to write")
    staged: list[tuple[str, Any]] = []
    extra: list[tuple[str, str]] = []
    for name, value in form.items():
        if not isinstance(value, str):
            return _error(400, f"{name}: expected a text value")
        if name in record and _ROW_KEY.get(table) == name:
            if _cell(record[name]) != value:
                return _error(400, f"{name} is the row key and cannot change")
            continue
        key = _WRITABLE.get((table, name))
        if key is not None:
            typed, reason = _decode(key, value)
            reason = reason or lab.check_setting(key, typed, row)
            if reason is not None:
                return _error(400, f"{name}: {reason}")
            staged.append((key, typed))
        elif _other_field(table, name, value) is not None:
            return _error(400, f"{name}: {_other_field(table, name, value)}")
        else:
            extra.append((name, value))
    source = _source(request)
    for key, value in staged:
        reason = lab.save_setting(peer, key, value, row, via="web", source=source)
        if reason is not None:  # validated above; a failure here is a mock bug
            return _error(500, f"{key}: {reason}")
    for name, value in extra:
        _apply_other(peer, name, value)
    if extra:
        lab.evaluate(peer)  # the maintenance alarm follows a maintenance_mode write at once
    return _json(OK)


def _decode(key: str, text: str) -> tuple[Any, str | None]:
    """A CDB field's text as the lab's typed value: ``(value, None)`` or ``(None, reason)``.

    ``master_idx`` is 0-based here (-1 unset), the lab's ``master`` a 1-based slot.
    """
    if key != "master":
        return settings.parse_text(key, text)
    if not re.fullmatch(r"-?[0-9]{1,2}", text):
        return None, "Invalid value: expected a number"
    idx = int(text)
    if not -1 <= idx < MAX_PEERS:
        return None, f"Invalid value: master_idx must be -1..{MAX_PEERS - 1}"
    return idx + 1, None


def _source(request: web.Request) -> tuple[str, int] | None:
    peername = request.transport.get_extra_info("peername") if request.transport else None
    if isinstance(peername, tuple) and len(peername) >= 2:
        return str(peername[0]), int(peername[1])
    return None


def _other_field(table: str, name: str, value: str) -> str | None:
    """Reason a non-cluster field write is refused, or None when it is writable."""
    if (table, name) == ("configuration/dns", "host_name") or (
        table,
        name,
    ) == ("configuration/dns", "domain_name"):
        return None if _text_ok(value) else "Invalid value"
    if (table, name) == ("configuration/system", "maintenance_mode"):
        return None if value in ("on", "off") else "Invalid value: expected on or off"
    if (table, name) == ("configuration/service", "mode"):
        return None if value in ("on", "off") else "Invalid value: expected on or off"
    return f"No writable field {name} in {table}"


def _apply_other(peer: Peer, name: str, value: str) -> None:
    if name == "host_name":
        peer.hostname = value
    elif name == "domain_name":
        peer.domain = value
    elif name == "maintenance_mode":
        peer.maintenance_mode = value == "on"
    # configuration/service mode: accepted, not modelled (the services never run here)


async def _cdb_delete(lab: Lab, peer: Peer, request: web.Request) -> web.Response:
    """DELETE on a row path: a peer slot or an address-mapping row is emptied."""
    found = await _cdb_row(lab, peer, request)
    if isinstance(found, web.Response):
        return found
    table, _, row = found
    source = _source(request)
    if table == "configuration/alternates" and row is not None:
        reason = lab.save_setting(peer, "peers", "", row, via="web", source=source)
    elif table == "configuration/clusteraddressmapping" and row is not None:
        reason = lab.save_setting(
            peer, "map_name", "", row, via="web", source=source
        ) or lab.save_setting(peer, "map_address", "", row, via="web", source=source)
    else:
        return _error(405, f"Records of {table} cannot be deleted")
    return _error(400, reason) if reason else _json(OK)

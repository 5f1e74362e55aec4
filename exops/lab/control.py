"""The lab's control API for tests (plain HTTP on 127.0.0.1, never on peer listeners)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from exops.lab import certs_api
from exops.lab.lab import Lab
from exops.lab.traffic import traffic_of
from exops.lab.upgrade import snapshot as upgrade_state

PATCHABLE = {
    "role",
    "version",
    "platform",
    "h323",
    "cdb_rest",
    "cert",
    "lan2",
    "option_keys",
    "dns_servers",
    "ntp_servers",
    "ssh_welcome",
    "server_list_form",
}
SSH_WELCOMES = ("plain", "ok")  # exops.lab.ssh.welcome
SERVER_LIST_FORMS = ("documented", "list", "undocumented")  # exops.lab.rest.server_answer
# The operator's hand (exops/lab/traffic.py): maintenance mode as set on the web page
# (the evidence shows no machine form), and a peer's calls and registrations.
TRAFFIC = {"maintenance_mode", "calls", "registrations"}


def make_control_app(lab: Lab, listeners: Any, started: float) -> web.Application:
    app = web.Application()
    r = app.router

    def snapshot(peer: Any) -> dict[str, Any]:
        return {**lab.snapshot(peer), **traffic_of(lab).state(peer), **upgrade_state(lab, peer)}

    async def state(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "peers": {n: snapshot(p) for n, p in lab.peers.items()},
                "faults": list(lab.faults.values()),
            }
        )

    async def peer_state(request: web.Request) -> web.Response:
        peer = lab.peers.get(request.match_info["peer"])
        if peer is None:
            return web.json_response({"error": "unknown peer"}, status=404)
        return web.json_response(snapshot(peer))

    async def requests(request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response([q for q in lab.requests if q["seq"] > since])

    async def add_fault(request: web.Request) -> web.Response:
        try:
            fid = lab.inject(await request.json())
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"id": fid})

    async def clear_fault(request: web.Request) -> web.Response:
        return web.json_response({"cleared": lab.clear(request.match_info.get("fid"))})

    async def list_faults(_: web.Request) -> web.Response:
        return web.json_response(list(lab.faults.values()))

    async def patch_peer(request: web.Request) -> web.Response:
        peer = lab.peers.get(request.match_info["peer"])
        if peer is None:
            return web.json_response({"error": "unknown peer"}, status=404)
        changes = await request.json()
        unknown = set(changes) - PATCHABLE - TRAFFIC
        if unknown:
            return web.json_response({"error": f"not patchable: {sorted(unknown)}"}, status=400)
        if changes.get("ssh_welcome", "plain") not in SSH_WELCOMES:
            return web.json_response(
                {"error": f"ssh_welcome: expected one of {', '.join(SSH_WELCOMES)}"}, status=400
            )
        if changes.get("server_list_form", "documented") not in SERVER_LIST_FORMS:
            return web.json_response(
                {"error": f"server_list_form: expected one of {', '.join(SERVER_LIST_FORMS)}"},
                status=400,
            )
        traffic = traffic_of(lab)
        try:
            traffic.seed(peer, changes.pop("calls", None), changes.pop("registrations", None))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if "maintenance_mode" in changes:
            traffic.set_maintenance(peer, bool(changes.pop("maintenance_mode")), time.time())
        for key, value in changes.items():
            if key == "cert":
                peer.cert_mode = value
                peer.cert = lab.ca.issue(peer.fqdn, peer.ip, value)
                listeners.new_cert(peer)
                if peer.running and lab.reachable(peer):
                    await listeners.close(peer)
                    await listeners.open(peer)
            elif key == "h323":
                lab.set_h323(peer, bool(value))
            else:
                setattr(peer, key, value)
        lab.evaluate(peer)
        return web.json_response(snapshot(peer))

    async def metrics(_: web.Request) -> web.Response:
        now = time.time()
        restarts = [
            {
                "peer": x["peer"],
                "downtime_s": (x.get("booted") or now) - x["down_at"],
                # wall-clock times: request accepted, listeners closed, booted (None: not yet)
                "requested_at": x.get("requested_at", x["down_at"]),
                "down_at": x["down_at"],
                "booted": x.get("booted"),
            }
            for x in lab.restarts
        ]
        return web.json_response(
            {
                "time_scale": lab.time_scale,
                "replication_interval_s": lab.interval,
                "restart_downtime_s": lab.restart_s,  # REST restart (~3 min documented)
                "reboot_downtime_s": lab.reboot_s,  # xCommand Boot (~5 min documented)
                "restart_grace_s": lab.grace_s,
                "restarts": restarts,
                "restart_downtime_total_s": sum(r["downtime_s"] for r in restarts),
                "listeners_up": len(listeners.runners),
                "peers": len(lab.peers),
                "startup_s": getattr(lab, "listeners_up_s", None),
                "requests": len(lab.requests),
            }
        )

    async def logs(request: web.Request) -> web.Response:
        peer = lab.peers.get(request.match_info["peer"])
        if peer is None:
            return web.json_response({"error": "unknown peer"}, status=404)
        return web.Response(text="\n".join(peer.log) + "\n")

    r.add_get("/state", state)
    r.add_get("/state/{peer}", peer_state)
    r.add_get("/requests", requests)
    r.add_post("/faults", add_fault)
    r.add_get("/faults", list_faults)
    r.add_delete("/faults", clear_fault)
    r.add_delete("/faults/{fid}", clear_fault)
    r.add_patch("/peers/{peer}", patch_peer)
    r.add_get("/metrics", metrics)
    r.add_get("/logs/{peer}", logs)
    r.add_post("/ca/sign", lambda q: certs_api.sign_handler(lab, q))  # tests sign CSRs
    return app

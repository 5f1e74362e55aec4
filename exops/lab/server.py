"""Serve a lab: build the peers, start every listener, the control API and the tick."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import ssl
import time
from pathlib import Path
from typing import Any

import asyncssh
import yaml
from aiohttp import web

from exops.lab import sftp
from exops.lab import ssh as ssh_front
from exops.lab.certs import LabCA
from exops.lab.lab import RESTART_GRACE_S, Lab, Peer
from exops.lab.rest import make_app
from exops.lab.settings import ClusterSettings

LICENCE_KEYS = {
    "Expressway-C": [
        ("Rich Media Sessions", 10),
        ("Room System Registration", 5),
        ("Desktop System Registration", 5),
    ],
    "Expressway-E": [("Rich Media Sessions", 10), ("Advanced Networking", None)],
    "VCS": [("Traversal Calls", 10), ("Non-Traversal Calls", 50)],
}
COMMON_KEYS = [("H323-SIP Interworking Gateway", None), ("Microsoft Interoperability", None)]


def option_keys(role: str, cluster: int) -> list[dict[str, Any]]:
    keys = [
        {"Key": f"116341{cluster:02d}{i:02d}-1-AB12", "Description": d, "Count": c}
        for i, (d, c) in enumerate(COMMON_KEYS)
    ]
    keys += [
        {"Key": f"116342{cluster:02d}{i:02d}-1-CD34", "Description": d, "Count": c}
        for i, (d, c) in enumerate(LICENCE_KEYS.get(role, []))
    ]
    return keys


class Listeners:
    """Opens and closes one peer's HTTPS and SSH listeners (restarts, faults)."""

    def __init__(self, lab: Lab, https_port: int, ssh_port: int, state: Path) -> None:
        self.lab, self.https_port, self.ssh_port = lab, https_port, ssh_port
        self.runners: dict[str, web.AppRunner] = {}
        self.ssh: dict[str, asyncssh.SSHAcceptor] = {}
        self.conns: dict[str, set[asyncssh.SSHServerConnection]] = {}
        self.host_keys: dict[str, asyncssh.SSHKey] = {}
        self.ssl: dict[str, ssl.SSLContext] = {}
        self.state = state
        pub = state / "id_ed25519.pub"
        self.authorized = asyncssh.import_authorized_keys(pub.read_text()) if pub.exists() else None
        self.pending: set[asyncio.Task[Any]] = set()
        self.closing: dict[str, asyncio.Task[Any]] = {}

    def context(self, peer: Peer) -> ssl.SSLContext:
        if peer.cert is None:  # every peer gets one when added: never an assert
            raise RuntimeError(f"{peer.name} has no certificate")
        folder = self.state / "peers" / peer.name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cert.pem").write_bytes(peer.cert.cert_pem)
        key = folder / "key.pem"
        key.write_bytes(peer.cert.key_pem)
        key.chmod(0o600)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(folder / "cert.pem", key)
        return ctx

    async def open(self, peer: Peer) -> None:
        if peer.name not in self.ssl:
            self.ssl[peer.name] = self.context(peer)
        runner = web.AppRunner(
            make_app(self.lab, peer), access_log=None, handle_signals=False, shutdown_timeout=0.1
        )
        await runner.setup()
        site = web.TCPSite(
            runner,
            peer.ip,
            self.https_port,
            ssl_context=self.ssl[peer.name],
            reuse_address=True,
            backlog=128,
        )
        await site.start()
        self.runners[peer.name] = runner
        conns = self.conns.setdefault(peer.name, set())
        self.ssh[peer.name] = await ssh_front.start(
            self.lab, peer, self.ssh_port, self.host_keys[peer.name], self.authorized, conns
        )

    async def close(self, peer: Peer) -> None:
        acceptor = self.ssh.pop(peer.name, None)
        if acceptor is not None:
            acceptor.close()
        for conn in list(self.conns.get(peer.name, ())):
            conn.abort()
        runner = self.runners.pop(peer.name, None)
        if runner is not None:
            await runner.cleanup()

    def schedule(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)
        return task

    def down(self, peer: Peer) -> None:
        self.closing[peer.name] = self.schedule(self.close(peer))

    def up(self, peer: Peer) -> None:
        async def reopen() -> None:
            # Wait for this peer's own close only: waiting for every pending task
            # deadlocked when two peers came back in the same tick (each reopen
            # waited for the other's).
            closing = self.closing.pop(peer.name, None)
            if closing is not None and not closing.done():
                await asyncio.wait({closing})
            if peer.name not in self.runners:
                await self.open(peer)

        self.schedule(reopen())

    def new_cert(self, peer: Peer) -> None:
        self.ssl[peer.name] = self.context(peer)


def build_lab(cfg: dict[str, Any], password: str, ca: LabCA) -> Lab:
    grace = cfg.get("restart_grace")
    lab = Lab(
        time_scale=cfg["time_scale"],
        password=password,
        ca=ca,
        restart_grace=RESTART_GRACE_S if grace is None else float(grace),
    )
    subnet = cfg["subnet"]
    overrides: dict[str, dict[str, Any]] = cfg.get("spec") or {}
    if "clusters" in overrides:  # a clone of a real cluster (exops/lab/clone.py)
        from exops.lab.clone import build_clone

        build_clone(lab, overrides, subnet)
        return lab
    for c in range(1, cfg["clusters"] + 1):
        for k in range(1, cfg["peers"] + 1):
            name = f"c{c}-p{k}"
            o = overrides.get(name, {})
            role = o.get("role", overrides.get("all", {}).get("role", "Expressway-C"))
            peer = Peer(
                name=name,
                cluster=c,
                index=k,
                ip=f"{subnet}.{c}.{10 + k}",
                fqdn=f"{name}.lab.example.com",
                role=role,
                version=o.get("version", "X15.2.1"),
                platform=o.get("platform", "medium"),
                h323=o.get("h323", True),
                cdb_rest=bool(o.get("cdb_rest", cfg.get("cdb_rest", False))),
                cert_mode=o.get("cert", "ok"),
                lan2=o.get(
                    "lan2",
                    f"192.0.2.{c * 10 + k}"
                    if role == "Expressway-E" and o.get("dual_nic")
                    else None,
                ),
                option_keys=o.get("option_keys", option_keys(role, c)),
                server_list_form=o.get(
                    "server_list_form", cfg.get("server_list_form", "documented")
                ),
            )
            lab.add(peer)
    if cfg.get("preset") == "formed":
        for c in range(1, cfg["clusters"] + 1):
            members = [p for p in lab.peers.values() if p.cluster == c]
            for p in members:
                s = ClusterSettings(master=1, name=f"c{c}.lab.example.com")
                for i, m in enumerate(members):
                    s.peers[i] = m.ip
                p.saved, p.active = s, s.copy()
                p.listed_since = {m.ip: 0.0 for m in members}
                p.last_sync = time.time()
    return lab


def sftp_env(store: sftp.SftpStore | None) -> dict[str, str]:
    """``lab.env``'s lines for the image store (empty without one)."""
    if store is None or not store.images:
        return {}
    image = store.images[0]
    return {
        "EXOPS_LAB_SFTP": store.url,
        "EXOPS_SFTP_PASSWORD": store.password,
        "EXOPS_LAB_IMAGE": image.name,
        "EXOPS_LAB_IMAGE_SHA512": image.sha512,
        "EXOPS_LAB_IMAGE_VERSION": image.version,
    }


def write_files(
    state: Path,
    cfg: dict[str, Any],
    lab: Lab,
    password: str,
    control_url: str,
    keys: dict[str, asyncssh.SSHKey],
) -> None:
    inv = state / "inventory"
    inv.mkdir(parents=True, exist_ok=True)
    hosts: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    names: dict[str, str] = getattr(lab, "cluster_names", {})
    for p in lab.peers.values():
        group = p.group or f"c{p.cluster}"
        hosts[p.name] = {
            "hostname": p.ip,
            "port": cfg["https_port"],
            "groups": [group],
            "data": {
                # A clone lists its peers under the real cluster's addresses.
                "address": p.aliases[0] if p.aliases else p.ip,
                "fqdn": p.fqdn,
                "role": p.role,
                "ssh_port": cfg["ssh_port"],
                "slot": p.index,
            },
        }
        groups[group] = {
            "data": {
                "cluster_name": names.get(group, f"c{p.cluster}.lab.example.com"),
                "transport": cfg.get("transport", "auto"),
            }
        }
    (inv / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    (inv / "groups.yaml").write_text(yaml.safe_dump(groups, sort_keys=False))
    (inv / "defaults.yaml").write_text(yaml.safe_dump({"username": "admin"}))
    (state / "ca.pem").write_bytes(lab.ca.pem)
    (state / "hosts").write_text(
        "".join(f"{getattr(p, 'hosts_ip', None) or p.ip} {p.fqdn}\n" for p in lab.peers.values())
    )
    (state / "known_hosts").write_text(
        "".join(
            f"[{p.ip}]:{cfg['ssh_port']} {keys[p.name].export_public_key().decode().strip()}\n"
            for p in lab.peers.values()
        )
    )
    env = {
        "EXOPS_INVENTORY": str(inv),
        "EXOPS_PASSWORD": password,
        "EXOPS_CA_BUNDLE": str(state / "ca.pem"),
        "EXOPS_KNOWN_HOSTS": str(state / "known_hosts"),
        "EXOPS_HOSTS_FILE": str(state / "hosts"),
        "EXOPS_LAB_CONTROL": control_url,
    }
    env.update(sftp_env(getattr(lab, "sftp", None)))  # exops/lab/sftp.py: the image store
    lab_env = state / "lab.env"
    lab_env.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    lab_env.chmod(0o600)
    (state / "control.url").write_text(control_url + "\n")


def announce_ready(lab: Lab, state: Path, seconds: float) -> None:
    """The lab's first tick, then the ready file that ``up`` (and every test) waits for.
    Before its first tick no peer has looked at its cluster: a formed cluster's peers
    answer "Unknown" for one another, and a restart asked right after ``up`` was
    refused as unhealthy. Atomic: ``up`` must never read the file half-written."""
    from exops.lab.traffic import traffic_of

    now = time.time()
    lab.tick(now)
    traffic_of(lab).tick(now)
    ready = state / "ready.tmp"
    ready.write_text(json.dumps({"pid": os.getpid(), "seconds": seconds}))
    ready.replace(state / "ready")


async def serve(cfg: dict[str, Any], state: Path) -> None:
    from exops.lab.control import make_control_app

    started = time.monotonic()
    password = secrets.token_urlsafe(18)
    ca = LabCA()
    lab = build_lab(cfg, password, ca)
    if cfg.get("replay"):
        from exops.lab.replay import Replay

        lab.replay = Replay(Path(cfg["replay"]))
    if not (state / "id_ed25519").exists():
        user_key = asyncssh.generate_private_key("ssh-ed25519")
        user_key.write_private_key(str(state / "id_ed25519"))
        (state / "id_ed25519").chmod(0o600)
        user_key.write_public_key(str(state / "id_ed25519.pub"))
    listeners = Listeners(lab, cfg["https_port"], cfg["ssh_port"], state)
    for p in lab.peers.values():
        listeners.host_keys[p.name] = asyncssh.generate_private_key("ssh-ed25519")
    lab.on_down, lab.on_up, lab.on_cert = listeners.down, listeners.up, listeners.new_cert
    await asyncio.gather(*(listeners.open(p) for p in lab.peers.values()))
    newer = sftp.next_version([p.version for p in lab.peers.values()])
    lab.sftp = await sftp.start(state, newer)  # type: ignore[attr-defined]
    spec = cfg.get("spec") or {}
    for f in spec.get("faults") or [] if "clusters" in spec else []:
        lab.inject(dict(f))  # a clone: peers that did not answer the real read
    control = web.AppRunner(
        make_control_app(lab, listeners, started), access_log=None, handle_signals=False
    )
    await control.setup()
    site = web.TCPSite(control, "127.0.0.1", cfg.get("control_port", 0))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    write_files(state, cfg, lab, password, f"http://127.0.0.1:{port}", listeners.host_keys)
    lab.listeners_up_s = time.monotonic() - started  # type: ignore[attr-defined]
    announce_ready(lab, state, lab.listeners_up_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tick = max(min(lab.interval / 8, 1.0), 0.02)
    from exops.lab.traffic import traffic_of

    while not stop.is_set():
        now = time.time()
        lab.tick(now)
        traffic_of(lab).tick(now)  # calls, registrations, maintenance mode after a restart
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=tick)
    for p in list(lab.peers.values()):
        await listeners.close(p)
    lab.sftp.close()  # type: ignore[attr-defined]
    await control.cleanup()

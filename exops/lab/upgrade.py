"""A peer's software upgrade over REST, as the evidence shows it (docs/contract.md
section "Rolling upgrade").

Evidence (interface-2026-12.md Table A, "upgrade: upload/install" (c) and
"upgrade: progress", REST API Summary Guide X14.2, CONFIRMED):

* ``PUT /api/v1/provisioning/common/sftpconfig`` ``{"SftpServer", "Username",
  "Password", "RsaKey"}``: where the peer pulls images from;
* ``POST /api/v1/provisioning/common/upgrade`` ``{"ImageDownloadMode": "sftp",
  "UpgradeFileLocationSftpPath", "UpgradeFileName", "UpgradeFileSha512",
  "ClusterUpgrade": "no", "WaitForCallDisconnect": 0, "AutoReboot": "yes"}`` ->
  ``{"Message": "Upgrade request created successfully"}`` ("ClusterUpgrade" only
  supports "no": one peer per request);
* ``GET /api/v1/status/common/upgradestatus`` -> ``[{"StatusUpdateTime":
  "22-05-18T13-23-36", "UpgradeStatus": "UPGD_STARTED"}]``; states UPGD_INITIATED,
  UPGD_FILE_DOWNLOADING, UPGD_FILE_DOWNLOADED, UPGD_FILE_DOWNLOADFAILED,
  UPGD_WAIT_FOR_CALLDISCONNECT, UPGD_STARTED, UPGD_REBOOT, UPGD_FAILED,
  UPGD_SUCCESSFUL ("After reboot").

What the lab does: the peer really connects to the SFTP server named in its
sftpconfig (asyncssh client), fetches the file, checks its SHA-512, reads the
version the image installs, walks the states, reboots through the lab's own
restart machinery (``Lab.restart(reboot=True)``: the restart grace, then the
documented ~5 minute reboot, scaled) and boots on the new version
(``Lab.on_boot``), where the status reads UPGD_SUCCESSFUL.

MOCK-DEFINED (no public source shows them; docs/contract.md): which state a wrong
SHA-512 gives (UPGD_FAILED, after UPGD_FILE_DOWNLOADED); the error answers
(400/409 with ``{"Message"}``); the answer before any upgrade (``[]``); a port in
``SftpServer`` (``host:port``; the guide names no port field); the time each
state lasts; that peers on different versions after an upgrade neither talk nor
replicate (the evidence's "cluster communication failures and cluster replication
errors during the rollout", "no replication to peers on another version"), so the
communication/replication alarms are raised until every peer runs one version.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import asyncssh
from aiohttp import web

from exops.lab.lab import Lab, Peer
from exops.lab.sftp import image_version

PATHS = {
    "sftpconfig": "/api/v1/provisioning/common/sftpconfig",
    "upgrade": "/api/v1/provisioning/common/upgrade",
    "status": "/api/v1/status/common/upgradestatus",
}
STATES = (
    "UPGD_INITIATED",
    "UPGD_FILE_DOWNLOADING",
    "UPGD_FILE_DOWNLOADED",
    "UPGD_FILE_DOWNLOADFAILED",
    "UPGD_WAIT_FOR_CALLDISCONNECT",
    "UPGD_STARTED",
    "UPGD_REBOOT",
    "UPGD_FAILED",
    "UPGD_SUCCESSFUL",
)
FINAL = ("UPGD_FILE_DOWNLOADFAILED", "UPGD_FAILED", "UPGD_SUCCESSFUL")
SFTP_FIELDS = ("SftpServer", "Username", "Password", "RsaKey")
UPGRADE_FIELDS = (
    "ImageDownloadMode",
    "UpgradeFileLocationSftpPath",
    "UpgradeFileName",
    "UpgradeFileSha512",
    "ClusterUpgrade",
    "WaitForCallDisconnect",
    "AutoReboot",
)
CREATED = {"Message": "Upgrade request created successfully"}  # CONFIRMED answer
# Simulated seconds each step takes (MOCK-DEFINED; scaled by the lab's time scale).
INITIATE_S = 5.0
INSTALL_S = 120.0
CALL_POLL_S = 10.0
SHA512 = re.compile(r"[0-9a-fA-F]{128}")


def stamp(ts: float) -> str:
    """``StatusUpdateTime`` as the evidence shows it: ``22-05-18T13-23-36``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%y-%m-%dT%H-%M-%S")


@dataclass
class Job:
    file: str
    state: str
    at: float
    version: str = ""  # what the image installs (known once downloaded)
    history: list[tuple[float, str]] = field(default_factory=list)

    def move(self, state: str) -> None:
        self.state, self.at = state, time.time()
        self.history.append((self.at, state))


class Upgrades:
    """Every peer's sftpconfig and upgrade job (one lab)."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.sftp: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, Job] = {}
        self.upgraded: set[str] = set()  # peers that booted on an image installed here
        self.tasks: set[asyncio.Task[Any]] = set()
        lab.on_boot = self.booted
        lab.split = self.split

    # -- the wire ------------------------------------------------------------------
    def routes(self, router: web.UrlDispatcher, peer: Peer) -> None:
        router.add_put(PATHS["sftpconfig"], lambda q: self.put_sftp(peer, q))
        router.add_post(PATHS["upgrade"], lambda q: self.post_upgrade(peer, q))
        router.add_get(PATHS["status"], lambda q: web.json_response(self.status(peer)))

    async def put_sftp(self, peer: Peer, request: web.Request) -> web.Response:
        data = await _object(request)
        if isinstance(data, web.Response):
            return data
        unknown = sorted(set(data) - set(SFTP_FIELDS))
        if unknown:
            return _error(400, f"Unknown field: {unknown[0]}")
        for name in ("SftpServer", "Username"):
            if not isinstance(data.get(name), str) or not data[name].strip():
                return _error(400, f"{name} is required")
        for name in ("Password", "RsaKey"):
            if name in data and not isinstance(data[name], str):
                return _error(400, f"{name} must be a string")
        self.sftp[peer.name] = dict(data)
        peer.emit(
            "httpd", Event="System Configuration Changed", Detail="sftp configuration changed"
        )
        return web.json_response({"Message": "The operation was successful"})

    async def post_upgrade(self, peer: Peer, request: web.Request) -> web.Response:
        data = await _object(request)
        if isinstance(data, web.Response):
            return data
        problem = self._refusal(peer, data)
        if problem:
            return _error(409 if "in progress" in problem else 400, problem)
        job = Job(file=str(data["UpgradeFileName"]), state="", at=time.time())
        job.move("UPGD_INITIATED")
        self.jobs[peer.name] = job
        peer.emit("upgrade", Event="Upgrade Requested", Detail=f"image {job.file}")
        task = asyncio.get_running_loop().create_task(self._run(peer, job, dict(data)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.json_response(CREATED)

    def _refusal(self, peer: Peer, data: dict[str, Any]) -> str:
        unknown = sorted(set(data) - set(UPGRADE_FIELDS))
        if unknown:
            return f"Unknown field: {unknown[0]}"
        job = self.jobs.get(peer.name)
        if job is not None and job.state not in FINAL:
            return f"An upgrade is already in progress ({job.state})"
        if data.get("ImageDownloadMode") != "sftp":
            return 'ImageDownloadMode: only "sftp" is supported'
        if data.get("ClusterUpgrade", "no") != "no":
            return 'ClusterUpgrade: only "no" is supported'
        for name in ("UpgradeFileLocationSftpPath", "UpgradeFileName"):
            if not isinstance(data.get(name), str) or not data[name].strip():
                return f"{name} is required"
        if "/" in data["UpgradeFileName"]:
            return "UpgradeFileName must be a file name"
        if not isinstance(data.get("UpgradeFileSha512"), str) or not SHA512.fullmatch(
            data["UpgradeFileSha512"]
        ):
            return "UpgradeFileSha512 must be 128 hexadecimal digits"
        wait = data.get("WaitForCallDisconnect", 0)
        if isinstance(wait, bool) or not isinstance(wait, int) or wait < 0:
            return "WaitForCallDisconnect must be a whole number, 0 or more"
        if data.get("AutoReboot", "yes") not in ("yes", "no"):
            return 'AutoReboot: "yes" or "no"'
        if peer.name not in self.sftp:
            return "No SFTP server configured (PUT sftpconfig first)"
        return ""

    def status(self, peer: Peer) -> list[dict[str, str]]:
        job = self.jobs.get(peer.name)
        if job is None:
            return []
        return [{"StatusUpdateTime": stamp(job.at), "UpgradeStatus": job.state}]

    # -- the peer's own work ---------------------------------------------------------
    def _sleep(self, simulated_s: float) -> Any:
        return asyncio.sleep(max(simulated_s * self.lab.time_scale, 0.0))

    async def _run(self, peer: Peer, job: Job, body: dict[str, Any]) -> None:
        await self._sleep(INITIATE_S)
        job.move("UPGD_FILE_DOWNLOADING")
        path = str(PurePosixPath(body["UpgradeFileLocationSftpPath"]) / body["UpgradeFileName"])
        try:
            data = await self._fetch(self.sftp[peer.name], path)
        except (OSError, asyncssh.Error, ValueError) as exc:
            job.move("UPGD_FILE_DOWNLOADFAILED")
            peer.emit("upgrade", Event="Upgrade Failed", Detail=f"download failed: {exc}")
            return
        job.move("UPGD_FILE_DOWNLOADED")
        await self._sleep(INITIATE_S)
        version = image_version(data)
        if hashlib.sha512(data).hexdigest() != body["UpgradeFileSha512"].lower() or not version:
            job.move("UPGD_FAILED")
            peer.emit("upgrade", Event="Upgrade Failed", Detail="image verification failed")
            return
        job.version = version
        limit = time.time() + float(body.get("WaitForCallDisconnect", 0)) * 60 * self.lab.time_scale
        while self._calls(peer) and time.time() < limit:
            if job.state != "UPGD_WAIT_FOR_CALLDISCONNECT":
                job.move("UPGD_WAIT_FOR_CALLDISCONNECT")
            await self._sleep(CALL_POLL_S)
        job.move("UPGD_STARTED")
        await self._sleep(INSTALL_S)
        job.move("UPGD_REBOOT")
        peer.emit("upgrade", Event="Upgrade Installed", Detail=f"{version} on the next reboot")
        if body.get("AutoReboot", "yes") == "yes":
            self.lab.restart(peer, reboot=True)

    async def _fetch(self, config: dict[str, Any], path: str) -> bytes:
        host, _, port = str(config["SftpServer"]).rpartition(":")
        if not host or not port.isdigit():
            host, port = str(config["SftpServer"]), "22"
        async with (
            asyncssh.connect(
                host,
                int(port),
                username=str(config["Username"]),
                password=str(config.get("Password", "")),
                known_hosts=None,
                client_keys=None,
                connect_timeout=10,
            ) as conn,
            conn.start_sftp_client() as client,
            client.open(path, "rb") as f,
        ):
            data = await f.read()
        if not isinstance(data, bytes):
            raise ValueError("not a binary file")
        return data

    def _calls(self, peer: Peer) -> int:
        from exops.lab.traffic import traffic_of

        return sum(traffic_of(self.lab).of(peer).calls.values())

    # -- hooks in the lab model ------------------------------------------------------
    def booted(self, peer: Peer) -> None:
        """``Lab._boot``: a peer with an installed image boots on its version."""
        job = self.jobs.get(peer.name)
        if job is None or job.state != "UPGD_REBOOT" or not job.version:
            return
        peer.version = job.version
        self.upgraded.add(peer.name)
        job.move("UPGD_SUCCESSFUL")
        peer.emit("upgrade", Event="Upgrade Completed", Detail=f"running {peer.version}")

    def split(self, x: Peer, y: Peer) -> bool:
        """Peers on different versions after an upgrade here do not talk (mixed cluster)."""
        return x.version != y.version and bool({x.name, y.name} & self.upgraded)


async def _object(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        return _error(400, "Body is not valid JSON")
    if not isinstance(data, dict):
        return _error(400, "Body must be a JSON object")
    return data


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"Message": message}, status=status)


def upgrades_of(lab: Lab) -> Upgrades:
    """The lab's upgrade model (created on first use)."""
    found = getattr(lab, "upgrades", None)
    if not isinstance(found, Upgrades):
        found = Upgrades(lab)
        lab.upgrades = found  # type: ignore[attr-defined]
    return found


def snapshot(lab: Lab, peer: Peer) -> dict[str, Any]:
    """The control API's view of one peer's upgrade (``/state``)."""
    ups = upgrades_of(lab)
    job = ups.jobs.get(peer.name)
    upgrade = None
    if job is not None:
        history = [state for _, state in job.history]
        upgrade = {"file": job.file, "state": job.state, "version": job.version, "history": history}
    return {"upgrade": upgrade, "sftp_server": (ups.sftp.get(peer.name) or {}).get("SftpServer")}

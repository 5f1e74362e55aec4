"""The lab's upgrade forms over real sockets: its SFTP server, and a peer that pulls an
image over SFTP, checks its SHA-512, walks the upgradestatus states, reboots through
the lab's restart machinery and comes back on the new version (exops/lab/upgrade.py)."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any
from urllib.parse import urlsplit

import asyncssh
import pytest
from labkit import CSRF, Rest, wait_for

from exops.lab.sftp import image_version, version_tuple

pytestmark = pytest.mark.integration

SFTP = "/api/v1/provisioning/common/sftpconfig"
UPGRADE = "/api/v1/provisioning/common/upgrade"
STATUS = "/api/v1/status/common/upgradestatus"


@pytest.fixture
def lab(lab_factory: Any) -> Any:
    return lab_factory(peers=3, time_scale=0.01, preset="formed", cdb_rest=True)


@pytest.fixture
def rest(lab: Any) -> Any:
    client = Rest(lab)
    yield client
    client.close()


def _sftp_config(lab: Any) -> dict[str, str]:
    url = urlsplit(lab.env["EXOPS_LAB_SFTP"])
    return {
        "SftpServer": f"{url.hostname}:{url.port}",
        "Username": url.username or "",
        "Password": lab.env["EXOPS_SFTP_PASSWORD"],
        "RsaKey": "",
    }


def _request(lab: Any, sha512: str | None = None, name: str | None = None) -> dict[str, Any]:
    return {
        "ImageDownloadMode": "sftp",
        "UpgradeFileLocationSftpPath": urlsplit(lab.env["EXOPS_LAB_SFTP"]).path,
        "UpgradeFileName": name or lab.env["EXOPS_LAB_IMAGE"],
        "UpgradeFileSha512": sha512 or lab.env["EXOPS_LAB_IMAGE_SHA512"],
        "ClusterUpgrade": "no",
        "WaitForCallDisconnect": 0,
        "AutoReboot": "yes",
    }


def _status(rest: Any, peer: str) -> str:
    r = rest.get(peer, STATUS)
    assert r.status_code == 200, r.text
    body = r.json()
    return str(body[-1]["UpgradeStatus"]) if body else ""


def _start(lab: Any, rest: Any, peer: str, **kw: Any) -> None:
    r = rest.client.put(rest.url(peer, SFTP), json=_sftp_config(lab), headers=CSRF)
    assert r.status_code == 200, r.text
    r = rest.post(peer, UPGRADE, json=_request(lab, **kw))
    assert r.status_code == 200, r.text
    assert r.json() == {"Message": "Upgrade request created successfully"}


def test_lab_env_names_a_real_sftp_server_holding_a_newer_image(lab: Any) -> None:
    env = lab.env
    assert version_tuple(env["EXOPS_LAB_IMAGE_VERSION"]) > version_tuple("X15.2.1")
    url = urlsplit(env["EXOPS_LAB_SFTP"])
    assert url.scheme == "sftp" and url.hostname == "127.0.0.1" and url.port

    async def fetch() -> bytes:
        async with (
            asyncssh.connect(
                url.hostname or "",
                url.port or 22,
                username=url.username,
                password=env["EXOPS_SFTP_PASSWORD"],
                known_hosts=None,
                client_keys=None,
            ) as conn,
            conn.start_sftp_client() as sftp,
        ):
            assert env["EXOPS_LAB_IMAGE"] in await sftp.listdir(url.path)
            async with sftp.open(f"{url.path}/{env['EXOPS_LAB_IMAGE']}", "rb") as f:
                data: bytes = await f.read()
            with pytest.raises(asyncssh.SFTPError):  # a read-only store
                await sftp.open(f"{url.path}/new.tar.gz", "wb")
            return data

    data = asyncio.run(fetch())
    assert hashlib.sha512(data).hexdigest() == env["EXOPS_LAB_IMAGE_SHA512"]
    assert image_version(data) == env["EXOPS_LAB_IMAGE_VERSION"]


def test_a_peer_pulls_the_image_walks_the_states_reboots_and_runs_the_new_version(
    lab: Any, rest: Any
) -> None:
    target = lab.env["EXOPS_LAB_IMAGE_VERSION"]
    assert rest.get("c1-p2", STATUS).json() == []  # never upgraded (MOCK-DEFINED answer)
    _start(lab, rest, "c1-p2")
    seen: list[str] = []

    def done() -> bool:
        state = lab.control.peer_state("c1-p2")
        up = state["upgrade"] or {}
        seen[:] = up.get("history", [])
        return bool(state["version"] == target and state["running"])

    wait_for(done, "c1-p2 on the new version", timeout=60)
    assert seen == [
        "UPGD_INITIATED",
        "UPGD_FILE_DOWNLOADING",
        "UPGD_FILE_DOWNLOADED",
        "UPGD_STARTED",
        "UPGD_REBOOT",
        "UPGD_SUCCESSFUL",
    ]
    wait_for(lambda: _status(rest, "c1-p2") == "UPGD_SUCCESSFUL", "status after boot", 30)
    body = rest.get("c1-p2", STATUS).json()
    assert set(body[0]) == {"StatusUpdateTime", "UpgradeStatus"}
    # A reboot through the lab's machinery: one restart of c1-p2, the reboot downtime.
    metrics = lab.control.metrics()
    (reboot,) = [r for r in metrics["restarts"] if r["peer"] == "c1-p2"]
    assert reboot["downtime_s"] >= metrics["reboot_downtime_s"] * 0.9
    assert rest.get("c1-p2", "/api/provisioning/sysinfo").json()["Version"] == target
    # A mixed cluster: the upgraded peer and the others no longer talk (alarms 20004/20006).
    wait_for(lambda: {"20004", "20006"} <= rest.raised("c1-p1"), "mixed-version alarms", 30)
    others = lab.control.state()["peers"]
    assert others["c1-p1"]["version"] != target


def test_a_wrong_hash_fails_the_upgrade_and_the_peer_stays(lab: Any, rest: Any) -> None:
    _start(lab, rest, "c1-p1", sha512="ab" * 64)
    wait_for(lambda: _status(rest, "c1-p1") == "UPGD_FAILED", "UPGD_FAILED", 30)
    state = lab.control.peer_state("c1-p1")
    assert state["version"] == "X15.2.1" and state["running"]
    assert state["upgrade"]["history"][-2:] == ["UPGD_FILE_DOWNLOADED", "UPGD_FAILED"]
    assert not [r for r in lab.control.metrics()["restarts"] if r["peer"] == "c1-p1"]


def test_a_missing_file_is_a_download_failure(lab: Any, rest: Any) -> None:
    _start(lab, rest, "c1-p3", name="s42700x99_0_0.tar.gz")
    wait_for(lambda: _status(rest, "c1-p3") == "UPGD_FILE_DOWNLOADFAILED", "download failed", 30)


def test_bad_requests_are_refused(lab: Any, rest: Any) -> None:
    r = rest.post("c1-p1", UPGRADE, json=_request(lab))
    assert r.status_code == 400 and "sftpconfig" in r.json()["Message"]  # no SFTP server yet
    r = rest.client.put(rest.url("c1-p1", SFTP), json=_sftp_config(lab), headers=CSRF)
    assert r.status_code == 200
    for change, word in (
        ({"ClusterUpgrade": "yes"}, "ClusterUpgrade"),
        ({"UpgradeFileSha512": "abc"}, "UpgradeFileSha512"),
        ({"ImageDownloadMode": "http"}, "ImageDownloadMode"),
    ):
        r = rest.post("c1-p1", UPGRADE, json={**_request(lab), **change})
        assert r.status_code == 400 and word in r.json()["Message"], r.text
    r = rest.post("c1-p1", UPGRADE, json=_request(lab), csrf=False)
    assert r.status_code == 403  # a write without the CSRF header (X14.2+)
    assert rest.get("c1-p1", STATUS).json() == []

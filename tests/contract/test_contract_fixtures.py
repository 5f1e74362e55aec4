"""The wire contract's fixtures (tests/fixtures/contract/cdb) replayed through exops's
read path: each fixture becomes one exchange of a transcript, the replay table
(exops.lab.replay) answers exops's RestAppliance through httpx.MockTransport,
and what exops parses must be what the fixture holds. No sockets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from paths import FIXTURES as FIXTURES_ROOT
from pydantic import SecretStr

from exops.appliance.base import ConnectionTarget
from exops.appliance.knowledge import CDB
from exops.appliance.record import TRANSCRIPT_SCHEMA
from exops.appliance.rest import RestAppliance
from exops.core.errors import ApplianceError, TransportError
from exops.lab.replay import NOT_RECORDED, Replay

FIXTURES = FIXTURES_ROOT / "contract" / "cdb"
PEER = "p1"
TARGET = ConnectionTarget(host=PEER, hostname="10.0.0.11", password=SecretStr("pw"), retries=0)
READ_PATH = (
    "alternates_local",
    "alternatesmaster_local",
    "cluster_local",
    "clusteraddressmapping_local",
    "clusterdatabase_local",
    "clusterpeer_status_local",
    "alarm_local",
    "h323_local",
)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def transcript(
    tmp_path: Path, names: list[str], *, repeat: int = 1, path: str | None = None
) -> Replay:
    """A transcript of the fixtures' exchanges (``path``: asked under another path)."""
    lines = [{"schema": TRANSCRIPT_SCHEMA, "peer": PEER}]
    for name in names:
        f = fixture(name)
        method, _, asked = f["request"].partition(" ")
        for _ in range(repeat):
            lines.append(
                {
                    "iface": "rest",
                    "method": method,
                    "path": path or asked,
                    "form": None,
                    "status": f["status"],
                    "headers": {"content-type": "application/json"},
                    "body": json.dumps(f["body"]),
                }
            )
    (tmp_path / f"{PEER}.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return Replay(tmp_path)


def appliance(replay: Replay) -> RestAppliance:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        found = replay.rest(PEER, request.method, path, None)
        if found is None:
            return httpx.Response(
                NOT_RECORDED, json={"Message": f"not recorded: {request.method} {path}"}
            )
        return httpx.Response(found["status"], content=found["body"].encode(),
                              headers=found["headers"])  # fmt: skip

    return RestAppliance(TARGET, transport=httpx.MockTransport(handle), sleep=lambda s: None)


def test_the_contract_fixtures_read_back_as_their_facts(tmp_path: Path) -> None:
    app = appliance(transcript(tmp_path, list(READ_PATH)))
    settings = app.read_settings()
    rows = sorted(fixture("alternates_local")["body"][0]["records"], key=lambda r: r["index"])
    assert list(settings.peers) == [r["ip_address"] for r in rows]
    master = fixture("alternatesmaster_local")["body"][0]["records"][0]["master_idx"]
    assert settings.primary == master + 1
    cluster = fixture("cluster_local")["body"][0]["records"][0]
    assert settings.cluster_name == cluster["cluster_name"]
    status = app.read_status()
    records = fixture("clusterpeer_status_local")["body"][0]["records"]
    assert [(e.slot, e.address, e.state.value) for e in status.peers] == [
        (r["index"] + 1, r["peer"], r["state"]) for r in records
    ]
    alarms = app.read_alarms()
    assert [a.id for a in alarms] == [r["id"] for r in fixture("alarm_local")["body"][0]["records"]]
    mode = fixture("h323_local")["body"][0]["records"][0]["mode"]
    assert app.read_h323() is (mode == "On")


def test_cdb_off_and_not_running_replay_as_exops_reads_them(tmp_path: Path) -> None:
    # CDB REST off: every /api/management/ path answers 404, exops's probe of it too.
    probe = CDB.read(CDB.master)
    off = appliance(transcript(tmp_path, ["disabled_404"], path=probe))
    assert off.cdb_available() is False
    busy = appliance(transcript(tmp_path, ["not_running_503"], repeat=3))
    busy.deadline_s = 1.0
    with pytest.raises(TransportError, match="not fully running"):
        busy.read_settings()


def test_an_unrecorded_request_is_named(tmp_path: Path) -> None:
    app = appliance(transcript(tmp_path, ["alternates_local"]))
    with pytest.raises(ApplianceError, match=f"HTTP 599: not recorded: GET {CDB.prefix}"):
        app.read_status()

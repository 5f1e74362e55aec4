"""Recorded sessions (exops.appliance.record) and their replay table (exops.lab.replay), no sockets.

Every exchange of a RestAppliance lands in the peer's transcript with its
method, path, form, status, headers and body, and no secret: no
Authorization or cookie header, no password in any field (plain, URL- or
base64-encoded), no private key. The replay table answers in recorded order.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from exops.appliance import record
from exops.appliance.base import ConnectionTarget, Field, Write
from exops.appliance.knowledge import CDB, REST
from exops.appliance.rest import RestAppliance
from exops.appliance.ssh import _sync_answer
from exops.lab.replay import Replay, spec_from

PASSWORD = "Pa55-w0rd/with+odd=chars"
TARGET = ConnectionTarget(
    host="exp-c-1", hostname="10.0.0.11", port=8443, password=SecretStr(PASSWORD)
)
KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[record.Recording]:
    rec = record.start(tmp_path / "rec")
    yield rec
    record.stop()


def _handler(request: httpx.Request) -> httpx.Response:
    headers = {"Set-Cookie": f"SESSION=abc; pw={PASSWORD}", "Content-Type": "application/json"}
    if request.url.path == REST.sysinfo:
        body = {"Version": "X15.2.1", "Note": f"echo {PASSWORD}", "Key": KEY}
        return httpx.Response(200, json=body, headers=headers)
    if request.method == "POST":
        return httpx.Response(200, json={"Message": "The operation was successful"})
    return httpx.Response(404, json={"Message": "Not found"})


def _all_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()))


def test_rest_exchanges_are_recorded_without_any_secret(recording: record.Recording) -> None:
    app = RestAppliance(TARGET, transport=httpx.MockTransport(_handler))
    app._json(REST.sysinfo)
    app.write([Write(field=Field.CLUSTER_NAME, value=f"name-{PASSWORD}")])
    app.close()
    path = recording.directory / "exp-c-1.jsonl"
    header, exchanges = record.load_transcript(path)
    assert header["peer"] == "exp-c-1" and header["hostname"] == "10.0.0.11"
    get, post = exchanges
    assert (get["method"], get["path"], get["status"]) == ("GET", REST.sysinfo, 200)
    assert json.loads(get["body"])["Version"] == "X15.2.1"
    assert "set-cookie" not in get["headers"] and "authorization" not in get["headers"]
    assert post["method"] == "POST" and post["path"] == CDB.row(CDB.cluster)
    assert post["form"] == {"cluster_name": f"name-{record.REDACTED}"}
    raw = _all_bytes(recording.directory)
    for secret in (
        PASSWORD,
        base64.b64encode(f"admin:{PASSWORD}".encode()).decode(),
        "Pa55-w0rd%2Fwith%2Bodd%3Dchars",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    ):
        assert secret.encode() not in raw, secret
    assert (recording.directory / "exp-c-1.jsonl").stat().st_mode & 0o077 == 0


def test_nothing_is_recorded_unless_switched_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record.stop()
    monkeypatch.delenv(record.ENV_VAR, raising=False)
    assert record.recorder_for(TARGET) is None
    monkeypatch.setenv(record.ENV_VAR, str(tmp_path / "env-rec"))
    try:
        rec = record.recorder_for(TARGET)
        assert rec is not None and rec.path == tmp_path / "env-rec" / "exp-c-1.jsonl"
    finally:
        record.stop()


def test_scrubbers() -> None:
    assert record.scrub_form({"password": "x", "name": "a"}) == {
        "password": record.REDACTED,
        "name": "a",
    }
    assert record.scrub_headers(
        {"Authorization": "Basic x", "Cookie": "c", "X-A": "s3"}, ["s3"]
    ) == {"x-a": record.REDACTED}
    assert "PRIVATE KEY-----\nMII" not in record.scrub_text("a" + KEY + "b")


def test_ssh_sync_answer_drops_the_welcome() -> None:
    text = 'TANDBERG Video Communication Server X15\n\n*c xConfiguration H323 Mode: "On"\nOK\n'
    assert _sync_answer(text) == '*c xConfiguration H323 Mode: "On"\nOK\n'


def _transcript(directory: Path, peer: str, lines: list[dict[str, object]]) -> None:
    header = {"schema": record.TRANSCRIPT_SCHEMA, "peer": peer}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{peer}.jsonl").write_text(
        "\n".join(json.dumps(x) for x in [header, *lines]) + "\n"
    )


def test_replay_answers_in_order_and_names_what_was_not_recorded(tmp_path: Path) -> None:
    rest = {"iface": "rest", "method": "GET", "path": "/a?x=1", "form": None, "headers": {}}
    _transcript(
        tmp_path,
        "p1",
        [
            {**rest, "status": 200, "body": "first"},
            {**rest, "status": 200, "body": "second"},
            {"iface": "ssh", "command": "xStatus  Alternates", "answer": "OK"},
            {"iface": "rest", "method": "GET", "path": "/down", "status": None, "error": "x"},
        ],
    )
    replay = Replay(tmp_path)
    bodies = [replay.rest("p1", "GET", "/a?x=1", None)["body"] for _ in range(3)]  # type: ignore[index]
    assert bodies == ["first", "second", "second"]
    assert replay.rest("p1", "GET", "/a?x=2", None) is None
    assert replay.rest("p1", "GET", "/down", None) is None  # no answer was recorded
    assert replay.ssh("p1", "xStatus Alternates") == "OK\n"
    assert replay.ssh("p1", "xStatus SystemUnit") is None
    assert replay.rest("p2", "GET", "/a?x=1", None) is None
    assert spec_from(replay) == {
        "clusters": {"replay": {"cluster_name": "", "peers": [{"name": "p1"}]}}
    }


def test_replay_refuses_a_directory_without_transcripts(tmp_path: Path) -> None:
    from exops.lab.replay import ReplayError

    with pytest.raises(ReplayError, match=r"no \*\.jsonl"):
        Replay(tmp_path)
    (tmp_path / "x.jsonl").write_text('{"schema": "other"}\n')
    with pytest.raises(ReplayError, match=r"not an exops\.transcript/1"):
        Replay(tmp_path)

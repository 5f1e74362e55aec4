"""The replay suite: recorded sessions served back by `python -m exops.lab up --replay`
and read by exops's read path (`status`, `probe`).

``transcripts/<name>/`` holds what `exops probe -c c1 --record DIR` wrote against
the lab (one JSON-lines transcript per peer and the manifest; no secret). A
user's session recorded on real appliances becomes a regression test the
same way: add its directory and the facts it must give.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent / "transcripts"

# What each recording must read back as: (host, slot, primary?, state, replication,
# version, role, transport) per peer, and the route the cluster settings came over.
EXPECTED = {
    "lab-cdb-off": ("ssh", "rest+ssh"),
    "lab-cdb-on": ("cdb-rest", "rest"),
}


def _exops(lab: Any, tmp_path: Path, *args: str, expect: int = 0) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXOPS_")}
    env.update(lab.env)
    env["EXOPS_STATE_DIR"] = str(tmp_path / "state")
    env["EXOPS_LOCK_DIR"] = str(tmp_path / "state" / "locks")
    proc = subprocess.run(
        [sys.executable, "-m", "exops", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == expect, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_recorded_session_reads_back_as_the_same_facts(
    lab_factory: Any, tmp_path: Path, name: str
) -> None:
    route, transport = EXPECTED[name]
    manifest = json.loads((HERE / name / "manifest.json").read_text())
    addresses = [p["address"] for p in manifest["clusters"][0]["peers"]]
    lab = lab_factory(replay=HERE / name)

    status = _exops(lab, tmp_path, "status", "-c", "c1")
    cluster = status["clusters"][0]
    assert cluster["verdict"] == "healthy", cluster["reasons"]
    assert cluster["primary_host"] == "c1-p1"
    rows = [
        (p["host"], p["slot"], p["listed_as"], p["state"], p["replication"], p["version"],
         p["role"], p["transport"])
        for p in cluster["peers"]
    ]  # fmt: skip
    assert rows == [
        (f"c1-p{i}", i, addresses[i - 1], "Active", "Synchronised", "X15.2.1", "Expressway-C",
         transport)
        for i in (1, 2, 3)
    ]  # fmt: skip

    probe = _exops(lab, tmp_path, "probe", "-c", "c1")
    assert probe["complete"] is True
    for peer in probe["peers"]:
        fields = {f["name"]: f for f in peer["fields"]}
        assert fields["settings.peers"]["via"] == route
        assert fields["settings.peers"]["value"] == ", ".join([*addresses, "-", "-", "-"])
        assert fields["settings.primary"]["value"] == "1"
    assert all(v["can_run"] for v in probe["runbooks"])


def test_the_transcripts_hold_no_credential() -> None:
    for path in HERE.rglob("*"):
        if path.is_file():
            text = path.read_text().lower()
            assert "authorization" not in text and "private key-----\nmii" not in text, path
            for line in text.splitlines():
                doc = json.loads(line) if path.suffix == ".jsonl" else {}
                assert "set-cookie" not in doc.get("headers", {}), path

"""Replay recorded transcripts: ``python -m exops.lab up --replay DIR``.

``DIR`` holds what ``exops ... --record DIR`` wrote: ``manifest.json`` (the
clusters and peers) and one ``<peer>.jsonl`` transcript per peer (schema
``exops.transcript/1``: a header line, then one line per exchange). Each
peer answers a recorded request with the recorded answer, in the recorded
order (the last answer repeats once they are used up); a request that was
never recorded gets HTTP 599 ``{"Message": "not recorded: GET /path"}`` or,
over SSH, a CLI error block whose reason is ``not recorded: <line>``.
Credentials are the lab's own (the transcripts hold none).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

SCHEMA = "exops.transcript/1"
NOT_RECORDED = 599


class ReplayError(ValueError):
    pass


def _form_key(form: Any) -> str:
    return json.dumps(form or {}, sort_keys=True)


def _line_key(line: str) -> str:
    return " ".join(line.split())


class Replay:
    """The recorded answers of every peer, served in order."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._lock = threading.Lock()
        self.rest_answers: dict[str, dict[tuple[str, str, str], list[dict[str, Any]]]] = (
            defaultdict(lambda: defaultdict(list))
        )
        self.ssh_answers: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self.headers: dict[str, dict[str, Any]] = {}
        self._used: dict[tuple[str, str, Any], int] = defaultdict(int)
        files = sorted(directory.glob("*.jsonl"))
        if not files:
            raise ReplayError(f"{directory}: no *.jsonl transcript")
        for path in files:
            self._load(path)

    def _load(self, path: Path) -> None:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        try:
            header = json.loads(lines[0]) if lines else {}
        except ValueError as exc:
            raise ReplayError(f"{path}: line 1 is not JSON") from exc
        if header.get("schema") != SCHEMA or not header.get("peer"):
            raise ReplayError(f"{path}: not an {SCHEMA} transcript (no header line)")
        peer = str(header["peer"])
        self.headers[peer] = header
        for n, line in enumerate(lines[1:], start=2):
            try:
                x = json.loads(line)
            except ValueError as exc:
                raise ReplayError(f"{path}: line {n} is not JSON") from exc
            if x.get("iface") == "rest" and isinstance(x.get("status"), int):
                key = (str(x["method"]), str(x["path"]), _form_key(x.get("form")))
                self.rest_answers[peer][key].append(x)
            elif x.get("iface") == "ssh":
                self.ssh_answers[peer][_line_key(str(x["command"]))].append(str(x["answer"]))

    def manifest(self) -> dict[str, Any] | None:
        path = self.directory / "manifest.json"
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise ReplayError(f"{path}: not JSON") from exc
        return data if isinstance(data, dict) else None

    def _next(self, peer: str, key: Any, answers: list[Any]) -> Any:
        with self._lock:
            n = self._used[(peer, "k", key)]
            self._used[(peer, "k", key)] = n + 1
            return answers[min(n, len(answers) - 1)]

    def rest(self, peer: str, method: str, path: str, form: Any) -> dict[str, Any] | None:
        """The recorded answer (``status``, ``headers``, ``body``) or None."""
        key = (method, path, _form_key(form))
        answers = self.rest_answers.get(peer, {}).get(key)
        return self._next(peer, key, answers) if answers else None

    def ssh(self, peer: str, line: str) -> str | None:
        key = _line_key(line)
        answers = self.ssh_answers.get(peer, {}).get(key)
        if not answers:
            return None
        answer = str(self._next(peer, key, answers))
        return answer if answer.endswith("\n") else answer + "\n"


def spec_from(replay: Replay) -> dict[str, Any]:
    """A ``clusters:`` clone spec of the recorded peers (manifest, else one cluster)."""
    manifest = replay.manifest() or {}
    clusters: dict[str, Any] = {}
    placed: set[str] = set()
    for c in manifest.get("clusters") or []:
        peers = []
        for p in c.get("peers") or []:
            peers.append(
                {
                    "name": p["name"],
                    "address": p.get("address"),
                    "fqdn": p.get("fqdn"),
                    "role": p.get("role") or "Expressway-C",
                }
            )
            placed.add(str(p["name"]))
        clusters[str(c["name"])] = {"cluster_name": c.get("cluster_name", ""), "peers": peers}
    rest = [p for p in replay.headers if p not in placed]
    if rest:
        clusters["replay"] = {"cluster_name": "", "peers": [{"name": p} for p in sorted(rest)]}
    return {"clusters": clusters}

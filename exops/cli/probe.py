"""``exops probe`` and ``exops rehearse``: the command functions (registered in app.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from exops.core.files import check_writable_target, write_text

PROBE_REPORT = "probe.json"  # written beside the transcripts by --record


def _start_recording(env: Any, cluster: str, record: Path | None) -> None:
    from exops.appliance import record as rec

    if record is None:
        return
    recording = rec.start(record)
    recording.write_manifest(rec.manifest_of(env.inventory, [cluster]))


def probe(
    env: Any, cluster: str, *, peer: str | None = None, json_out: bool = False,
    record: Path | None = None,
) -> int:  # fmt: skip
    """Read-only first contact; exit 0 when every peer was read fully, 1 otherwise."""
    from exops.appliance import record as rec
    from exops.tools.probe import probe_cluster

    _start_recording(env, cluster, record)
    try:
        report = probe_cluster(env, cluster, peer)
    finally:
        if record is not None:
            rec.stop()
    doc = report.to_doc()
    if record is not None:
        # The report beside the transcripts: DIR is the one bundle to send back
        # (docs/probe.md). No secret reaches it (the transcripts are scrubbed the same way).
        text = rec.scrub_text(json.dumps(doc, indent=2), report.secrets)
        (record / PROBE_REPORT).write_text(text + "\n")
        (record / PROBE_REPORT).chmod(0o600)
    if json_out:
        print(json.dumps(doc, indent=2))
    else:
        print(render_probe(doc))
        if record is not None:
            print(
                f"recorded: {record} (the redacted bundle to send back: docs/probe.md; "
                f"replay: python -m exops.lab up --replay {record} ...)"
            )
    return report.exit_code


def render_probe(doc: dict[str, Any]) -> str:
    out = [f"probe of cluster {doc['cluster']}"]
    for p in doc["peers"]:
        out.append("")
        state = "read fully" if p["complete"] else "NOT read fully"
        out.append(
            f"{p['host']} ({p['hostname']}, listed as {p['address']}, transport "
            f"{p['transport']}): {state}"
        )
        out.append(f"  version {p['version'] or '?'}, product/role {p['role'] or '?'}")
        for i in p["interfaces"]:
            out.append(f"  {i['name']:<18} {i['state']:<12} {i['detail']}")
        for f in p["fields"]:
            if f["status"] == "parsed":
                out.append(
                    f"  [ok] {f['name']} = {f['value']}  via {f['via']}; "
                    f"{_for_operators(f['contract'])}"
                )
            elif f["status"] == "n/a":
                out.append(f"  [na] {f['name']}: not applicable ({f['value']})")
            elif f["status"] == "unknown":
                out.append(f"  [--] {f['name']}: unknown ({f['error']}) via {f['via']}")
            else:
                out.append(
                    f"  [!!] {f['name']}: UNREADABLE via {f['via']} {f['source']}: {f['error']}"
                )
                out.append(f"       raw answer: {f['raw']}")
        if p.get("forms"):
            out.append("  forms with no public evidence, as this box answered them:")
            for m in p["forms"]:
                out.append(f"    [{m['form']}] {m['request']}")
                out.append(f"        unproven: {m['part']}")
                out.append(f"        answered: {m['answered']}")
        if p.get("forms_not_met"):
            out.append(f"  not sent this time: {', '.join(p['forms_not_met'])}")
    out.append("")
    out.append(
        "runbooks: whether the interfaces each one needs answer (not whether it would run "
        "now: its preflight checks the cluster; see `exops RUNBOOK -c "
        f"{doc['cluster']} --dry-run`)"
    )
    for v in doc["runbooks"]:
        out.append(f"  {v['runbook']:<20} {_verdict_words(v['verdict'])}")
    marks = {m for m in EVIDENCE_MARKS if any(m in line for line in out)}
    if marks:
        out.append("")
        out.append("evidence marks (how sure exops is of each form it read):")
        out += [f"  {m}: {EVIDENCE_MARKS[m]}" for m in EVIDENCE_MARKS if m in marks]
    return "\n".join(out)


# What an evidence mark means, for the person reading a probe (knowledge.py, docs/contract.md).
EVIDENCE_MARKS = {
    "CONFIRMED": "seen in Cisco's public documentation or on an appliance",
    "INFERRED": "deduced from public sources, not seen verbatim",
    "MOCK-DEFINED": (
        "no public form exists; exops and its simulator define one, so a value read this "
        "way is exops's best guess: compare it with the web UI before relying on it"
    ),
}


def _for_operators(contract: str) -> str:
    """``SETTING_RULES[peer_address]: ...`` -> ``matched ...``: where the value came from,
    without exops's internal table names."""
    import re

    text = re.sub(r"SETTING_RULES\[[^\]]+\](?:\.cli)?:\s*", "", contract)
    return f"matched {text}" if text else contract


def _verdict_words(verdict: str) -> str:
    """The probe's verdict as what it means: the interfaces answer (or not, and why)."""
    if verdict == "can run":
        return "interfaces answer"
    return verdict.replace("cannot run, because", "interfaces missing:", 1)


def rehearse(
    env: Any,
    runbook: str,
    cluster: str,
    params: dict[str, Any],
    *,
    time_scale: float = 0.01,
    inject: list[str] | None = None,
    fmt: str | None = None,
    json_out: bool = False,
    out: Path | None = None,
    keep: Path | None = None,
) -> int:
    """Rehearse ``runbook`` on a simulated clone of ``cluster``; the run's exit code."""
    from exops.report import file_format
    from exops.tools.rehearse import parse_inject, render
    from exops.tools.rehearse import rehearse as run_rehearsal

    shown = "json" if json_out else (fmt or "text")
    saved = file_format(fmt, out)
    faults = [parse_inject(i) for i in inject or []]
    if out is not None:  # refused before the rehearsal starts
        check_writable_target(out, "--out")
    result = run_rehearsal(
        env, runbook, cluster, params, time_scale=time_scale, faults=faults, keep_dir=keep,
        progress=lambda line: print(line, file=sys.stderr),
    )  # fmt: skip
    text = render(result, shown)
    print(text)
    if out is not None:
        write_text(out, (text if saved == shown else render(result, saved)) + "\n", "--out")
    return result.exit_code

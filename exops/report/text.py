"""Compact plain-text renderings for the terminal (no markup)."""

from __future__ import annotations

from exops.report.view import PlanView, RunView


def plan_text(v: PlanView) -> str:
    out = [f"exops plan: {v.runbook} on cluster {v.cluster}"]
    out.append(f"  created {v.created}  exops {v.version}  facts {v.digest}")
    if v.params:
        out.append("  params  " + "  ".join(f"{k}={val}" for k, val in v.params))
    if v.refused:
        out.append(f"  REFUSED: {v.refused}")
    if v.preflight:
        out += ["", "Preflight"]
        width = max(len(c.name) for c in v.preflight)
        for c in v.preflight:
            out.append(f"  {c.outcome.upper():<4}  {c.name:<{width}}  {c.summary}")
            if c.outcome != "pass":
                out += [f"        {host}: {seen}" for host, seen in c.evidence]
    if v.actions:
        out += ["", "Actions"]
        kw = max(len(a.kind) for a in v.actions)
        hw = max(len(a.host) for a in v.actions)
        iw = max(len(a.id) for a in v.actions)
        for a in v.actions:
            out.append(f"  {a.id:<{iw}}  {a.kind:<{kw}}  {a.host:<{hw}}  {a.step}")
            why = (f"why: {a.reason}",) if a.reason else ()
            out += [f"  {'':<{iw}}    - {d}" for d in (*why, *a.details)]
    if v.skipped:
        out += ["", "Already in place"]
        out += [f"  ok: {step} on {host}: {reason}" for step, host, reason in v.skipped]
    if v.not_done:
        out += ["", "Skipped, NOT done"]
        out += [f"  skip: {step} on {host}: {reason}" for step, host, reason in v.not_done]
    if v.risks:
        out += ["", "Risks"]
        out += [f"  ! {r.title}: {r.detail}" for r in v.risks]
    if v.warnings:
        out += ["", "Warnings"]
        out += [f"  ! {w}" for w in v.warnings]
    out += ["", v.summary]
    return "\n".join(out) + "\n"


def run_text(r: RunView) -> str:
    """A journal record for the terminal (``exops show RUN``): what ran, with which
    parameters, how it ended and how long it took; a failure's error and what to
    do first; every step; the plan as it was applied; how to roll back."""
    out = [f"exops run {r.run_id}: {r.runbook} on cluster {r.cluster} - {r.status}"]
    out.append(f"  exit {r.exit_code}  took {took(r.started, r.finished)}  by {r.user}@{r.host}")
    out.append(f"  started {r.started}  finished {r.finished}")
    out.append(
        "  params  " + ("  ".join(f"{k}={val}" for k, val in r.params) if r.params else "(none)")
    )
    if r.plan is not None and r.plan.refused:
        out += ["", f"REFUSED: {r.plan.refused}"]
    for s in r.failures:
        out += ["", f"{s.status.upper()} step {s.action_id} '{s.step}' on {s.host}"]
        out += [f"  {label}: {text}" for label, text in s.notes]
    if r.steps:
        out += ["", "Steps"]
        for s in r.steps:
            line = f"  {s.seq:>3}  {s.action_id:<5} {s.status:<8} {s.kind:<9} {s.host:<16} "
            out.append(line + f"{s.duration:>8}  {s.step}")
            out += [f"         {label}: {text}" for label, text in s.notes]
    if r.plan is not None:
        out += ["", "Plan (as it was applied)"]
        out += [f"  {line}" if line else "" for line in plan_text(r.plan).splitlines()]
    out += ["", "How to roll back"]
    out += [f"  $ {rb.command}   # {rb.backup}" for rb in r.rollbacks]
    out += [f"  {r.rollback_note}"]
    out += ["", r.summary]
    return "\n".join(out) + "\n"


def took(started: str, finished: str) -> str:
    """``4 min 12 s`` between two ISO times; "-" when either is missing or unreadable."""
    from datetime import datetime

    from exops.report.view import fmt_duration

    try:
        seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started))
    except (TypeError, ValueError):
        return "-"
    return fmt_duration(max(0.0, seconds.total_seconds()))

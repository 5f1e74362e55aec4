#!/usr/bin/env python3
"""A small mutation runner for the code where a wrong answer hurts most.

Each mutation is one deliberate bug, a small textual replacement (flip a
comparison, drop a rule, invert a condition). For each, the file is patched in
place, the killer tests run, and the file is restored. A mutation is *caught*
when the tests fail on an assertion; one the tests let through is a survivor,
and so is one caught only by pytest's timeout (a hang is not a test that says
what is wrong).

Two sets:

- ``safety`` (the default): safety rules (exops/apply/safety.py), the
  ClusterSettings validators, the Executor's handlers, the planner's guards;
  killed by ``tests/unit/apply/test_safety.py``, ``test_executor.py`` and
  ``tests/unit/plan/test_planner.py``.
- ``sample``: issue 28's sample of 23 across safety rules, preflight checks,
  the plan digest, the cluster lock, waits, the journal and verify conditions,
  with the seven that once survived the whole unit suite; each names the
  focused tests that kill it.

Killers: ``focused`` (the default: the set's own tests, ``-n 0``) or ``unit``
(the whole unit suite, ``tests/unit -n 1``: slow, several minutes a mutation).

    .venv/bin/python scripts/mutate.py                          # the safety set, focused
    .venv/bin/python scripts/mutate.py --set sample             # issue 28's sample, focused
    .venv/bin/python scripts/mutate.py --set sample --killer unit   # ... by the unit suite
    .venv/bin/python scripts/mutate.py --set sample --list      # list them
    .venv/bin/python scripts/mutate.py -k R2                    # only ids containing R2

Each line says which test caught the mutation. Exit 0 when every mutation is
caught, 1 otherwise (the survivors are listed), 2 when the killer tests fail
without any mutation.
"""

# ruff: noqa: E501  (the mutation table holds long single-line source fragments)
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ("tests/unit/apply/test_safety.py", "tests/unit/apply/test_executor.py", "tests/unit/plan/test_planner.py")


@dataclass(frozen=True)
class Mutation:
    id: str
    path: str
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...] = TESTS  # the focused tests that must catch it


MUTATIONS: tuple[Mutation, ...] = (
    # -- exops/apply/safety.py ------------------------------------------------------------
    Mutation(
        "R1-drop",
        "exops/apply/safety.py",
        "    if not result.is_empty:\n        return\n    ok, why",
        "    return\n    ok, why",
    ),
    Mutation(
        "R1-invert",
        "exops/apply/safety.py",
        "    if not result.is_empty:\n        return",
        "    if result.is_empty:\n        return",
    ),
    Mutation(
        "R1-leaver-any-host",
        "exops/apply/safety.py",
        "if decommission is None or host != decommission:",
        "if decommission is None:",
    ),
    Mutation(
        "R1-leaver-still-listed",
        "exops/apply/safety.py",
        "    if still:\n        return False",
        "    if not still:\n        return False",
    ),
    Mutation(
        "R1-others-include-self",
        "exops/apply/safety.py",
        "        if p.host != host\n        and p.reachable",
        "        if p.reachable",
    ),
    Mutation(
        "R3-drop-validity",
        "exops/apply/safety.py",
        '        if value != "" and not is_address(value):',
        "        if False:",
    ),
    Mutation(
        "R3-empty-is-falsy",
        "exops/apply/safety.py",
        'if value != "" and not is_address(value):',
        "if value and not is_address(value):",
    ),
    Mutation(
        "R3-drop-gap",
        "exops/apply/safety.py",
        "if not result.is_empty and _gaps(result) - _gaps(current):",
        "if False:",
    ),
    Mutation(
        "R3-enforce-off",
        "exops/apply/safety.py",
        "enforce = result.tls_mode is TlsMode.ENFORCE or (",
        "enforce = result.tls_mode is not TlsMode.ENFORCE and (",
    ),
    Mutation(
        "R3-fqdn-any",
        "exops/apply/safety.py",
        "by_fqdn = bool(cluster_list) and all(is_fqdn(a) for a in cluster_list)",
        "by_fqdn = bool(cluster_list) and all(not is_fqdn(a) for a in cluster_list)",
    ),
    Mutation(
        "R3-ip-version",
        "exops/apply/safety.py",
        "if family is not None and family is not result.ip_version:",
        "if family is not None and family is result.ip_version and False:",
    ),
    Mutation(
        "R3-own-list",
        "exops/apply/safety.py",
        "cluster_list = ref.listed if ref is not None and ref.listed else current.listed",
        "cluster_list = current.listed",
    ),
    Mutation(
        "R5-drop", "exops/apply/safety.py", "    if result.primary_address is None:", "    if False:"
    ),
    Mutation(
        "R5-no-peer-writes",
        "exops/apply/safety.py",
        "touches = any(w.field in (Field.PRIMARY, Field.PEER_ADDRESS) for w in writes)",
        "touches = any(w.field is Field.PRIMARY for w in writes)",
    ),
    Mutation(
        "R4-drop", "exops/apply/safety.py", "    if target.is_empty and not leaver:", "    if False:"
    ),
    Mutation(
        "R4-invert-leaver",
        "exops/apply/safety.py",
        "    if target.is_empty and not leaver:",
        "    if target.is_empty and leaver:",
    ),
    Mutation(
        "R2-leaver-skip-always",
        "exops/apply/safety.py",
        "    if leaver:\n        return  # R2a",
        "    if True:\n        return  # R2a",
    ),
    Mutation(
        "R2-unknown-ignored",
        "exops/apply/safety.py",
        '    if unknown:\n        raise SafetyError(\n            "R2"',
        '    if False:\n        raise SafetyError(\n            "R2"',
    ),
    Mutation(
        "R2-unreachable-ok",
        "exops/apply/safety.py",
        '    if not member.reachable:\n        return f"is unreachable',
        '    if False:\n        return f"is unreachable',
    ),
    Mutation(
        "R2-unreadable-ok",
        "exops/apply/safety.py",
        "    if member.status is None or member.settings is None:",
        "    if False:",
    ),
    Mutation(
        "R2-database-ignored",
        "exops/apply/safety.py",
        '    if database in ACTIVE:\n        return ""',
        '    if True:\n        return ""',
    ),
    Mutation(
        "R2b-any-failure",
        "exops/apply/safety.py",
        "if not_active and all(designates(target, e.address) for e in not_active):",
        "if not_active and any(designates(target, e.address) for e in not_active):",
    ),
    Mutation(
        "R2-self-counted",
        "exops/apply/safety.py",
        "if other != host and (problem := _member_down(",
        "if (problem := _member_down(",
    ),
    Mutation(
        "R7-primary-ok",
        "exops/apply/safety.py",
        "    if designates(peer, primary):",
        "    if not designates(peer, primary):",
    ),
    Mutation(
        "R7-unreachable-ok",
        "exops/apply/safety.py",
        '    if not peer.reachable:\n        raise SafetyError(\n            "R7"',
        '    if False:\n        raise SafetyError(\n            "R7"',
    ),
    Mutation(
        "R7-dispute-ok",
        "exops/apply/safety.py",
        "    dispute = primary_dispute(facts)\n    if dispute:",
        "    dispute = primary_dispute(facts)\n    if False:",
    ),
    Mutation(
        "R8-drop",
        "exops/apply/safety.py",
        "    _check_r8(host, current, result, facts)\n",
        "",
    ),
    Mutation(
        "R8-judge-only-the-written-peer",
        "exops/apply/safety.py",
        "    judged = [\n        host,\n        *dict.fromkeys(",
        "    judged = [\n        host,\n        *dict.fromkeys(() if True else",
    ),
    Mutation(
        "R8-judged-peers-vote",
        "exops/apply/safety.py",
        "        cluster = (*result.listed, *cluster_list_without(fresh, who))",
        '        cluster = (*result.listed, *cluster_list_without(fresh, ""))',
    ),
    Mutation(
        "trusted-any-file",
        "exops/apply/safety.py",
        "    if runbook != load_shipped(runbook.name):  # the shipped file, unchanged",
        "    if False:",
    ),
    Mutation(
        "trusted-any-name",
        "exops/apply/safety.py",
        "param = SHIPPED_DECOMMISSIONING.get(runbook.name)",
        'param = "peer"',
    ),
    # -- exops/core/models.py (R6) -----------------------------------------------------------------
    Mutation(
        "R6-duplicates-ok",
        "exops/core/models.py",
        "            if key in seen:",
        "            if False:",
    ),
    Mutation(
        "R6-primary-range",
        "exops/core/models.py",
        "        if not 0 <= value <= MAX_PEERS:",
        "        if not 0 <= value <= MAX_PEERS + 1:",
    ),
    Mutation(
        "R6-slot-count",
        "exops/core/models.py",
        "        if len(value) != MAX_PEERS:",
        "        if len(value) > MAX_PEERS:",
    ),
    Mutation(
        "R6-addresses-ok",
        "exops/core/models.py",
        "            if not is_address(a):",
        "            if False:",
    ),
    # -- exops/apply/executor.py handlers ----------------------------------------------------------------
    Mutation(
        "apply-configure-unguarded",
        "exops/apply/executor.py",
        "        # Safety rules R1/R3/R5 on a fresh read, right before the write.\n        _guard(",
        "        # Safety rules R1/R3/R5 on a fresh read, right before the write.\n        (lambda *a: None)(",
    ),
    Mutation(
        "apply-restart-unguarded",
        "exops/apply/executor.py",
        "        # Safety rules R2/R4 on a fresh read of the target and its cluster, right before.\n        target = app.read_settings()\n        _guard(",
        "        # Safety rules R2/R4 on a fresh read of the target and its cluster, right before.\n        target = app.read_settings()\n        (lambda *a: None)(",
    ),
    Mutation(
        "apply-command-unguarded",
        "exops/apply/executor.py",
        "        command = action.command\n        _guard(",
        "        command = action.command\n        (lambda *a: None)(",
    ),
    Mutation(
        "apply-trusts-action-flag",
        "exops/apply/executor.py",
        "                decommission=self.options.decommission,\n            ),\n        )\n        app.write(writes)",
        "                decommission=action.host if action.decommission else None,\n            ),\n        )\n        app.write(writes)",
    ),
    Mutation(
        "apply-stale-facts",
        "exops/apply/executor.py",
        "                apply_writes(current, writes),",
        "                action.after or current,",
    ),
    Mutation(
        "apply-no-divergence",
        "exops/apply/executor.py",
        "            if action.after is None or not _progressed(action.before, current, action.after):",
        "            if False:",
    ),
    Mutation(
        "apply-no-reread",
        "exops/apply/executor.py",
        "        if action.after is not None and found != action.after:",
        "        if False:",
    ),
    # -- exops/plan/planner.py guards -----------------------------------------------------------
    Mutation(
        "planner-empty-config-ok",
        "exops/plan/planner.py",
        "        if wanted.is_empty and not peer.saved.is_empty and not step.decommission:",
        "        if False:",
    ),
    Mutation(
        "planner-empty-restart-ok",
        "exops/plan/planner.py",
        "        if peer.saved is not None and peer.saved.is_empty and not step.decommission:",
        "        if False:",
    ),
    Mutation(
        "planner-preflight-ignored",
        "exops/plan/planner.py",
        "            if failed:\n                raise Refused(",
        "            if False:\n                raise Refused(",
    ),
    Mutation(
        "planner-unreachable-ok",
        "exops/plan/planner.py",
        '        if not peer.reachable and step.kind != "wait":',
        "        if False:",
    ),
    Mutation(
        "planner-tls-new-peer-off",
        "exops/plan/planner.py",
        "            and self.view.tls_enforced\n",
        "            and False\n",
    ),
    Mutation(
        "planner-pending-ignored",
        "exops/plan/planner.py",
        '        if spec.when == "pending" and not peer.pending:',
        '        if spec.when == "pending" and peer.pending:',
    ),
    Mutation(
        "planner-unreadable-cluster",
        "exops/plan/planner.py",
        "        if not any(p.reachable for p in self.state.values()):",
        "        if False:",
    ),
    Mutation(
        "view-listing-by-ip",
        "exops/facts/view.py",
        "        if self.by_fqdn and self.fqdn(host):",
        "        if False:",
    ),
)


# -- issue 28's sample: 23 across the code where a wrong answer hurts most -----------------------
_EXECUTOR = ("tests/unit/apply/test_executor.py",)
_SAFETY = ("tests/unit/apply/test_safety.py",)
_PREFLIGHT = ("tests/unit/plan/test_preflight.py",)
_LOCK = ("tests/unit/state/test_lock.py",)
_WAITS = ("tests/unit/apply/test_waits.py", "tests/unit/apply/test_executor.py")
_RUNS = ("tests/unit/run/test_runner.py",)
_VERIFY = ("tests/unit/apply/test_verify.py", *_RUNS)

SAMPLE: tuple[Mutation, ...] = (
    # The seven that once survived the whole unit suite (issue 28).
    Mutation(
        "restart-back-on-any-answer",  # the first answer after the request taken for "back"
        "exops/apply/executor.py",
        "            if reset or uptime + 1 <= now - requested:  # booted after the request",
        "            if True:  # booted after the request",
        _EXECUTOR,
    ),
    Mutation(
        "R3-enforce-of-the-cluster-ignored",  # only the peer's own TLS mode counts
        "exops/apply/safety.py",
        "    enforce = result.tls_mode is TlsMode.ENFORCE or (\n"
        "        ref is not None and ref.tls_mode is TlsMode.ENFORCE\n"
        "    )",
        "    enforce = result.tls_mode is TlsMode.ENFORCE",
        (*_SAFETY, *_EXECUTOR),
    ),
    Mutation(
        "factory-reset-unformed-ignored",
        "exops/plan/preflight.py",
        "        pending = pending and (view.listed(p.host) or not view.clustered)",
        "        pending = pending and view.listed(p.host)",
        _PREFLIGHT,
    ),
    Mutation(
        "size-one-more-than-max",
        "exops/plan/preflight.py",
        "    if size > MAX_PEERS:",
        "    if size > MAX_PEERS + 1:",
        _PREFLIGHT,
    ),
    Mutation(
        "lock-kept-on-unlinked-file",
        "exops/state/flock.py",
        "        if _same_file(fd, path):\n            return fd\n        os.close(fd)\n",
        "        return fd\n",
        _LOCK,
    ),
    Mutation(
        "resume-ignores-a-run-left-running",
        "exops/state/base.py",
        'UNFINISHED_STATUSES = ("failed", "interrupted", "running")',
        'UNFINISHED_STATUSES = ("failed", "interrupted")',
        ("tests/unit/state/test_journal.py", *_RUNS),
    ),
    Mutation(
        "wait-timeout-not-capped",  # a runbook's timeout_s above EXOPS_SETTLE_TIMEOUT
        "exops/apply/executor.py",
        "        timeout = min(action.timeout_s or self.options.settle_timeout, "
        "self.options.settle_timeout)",
        "        timeout = action.timeout_s or self.options.settle_timeout",
        _EXECUTOR,
    ),
    # The rest of the sample.
    Mutation(
        "restart-timeout-not-capped",  # ... and above EXOPS_RESTART_TIMEOUT
        "exops/apply/executor.py",
        "        timeout = min(\n"
        "            action.timeout_s or self.options.restart_timeout, self.options.restart_timeout\n"
        "        )",
        "        timeout = action.timeout_s or self.options.restart_timeout",
        _EXECUTOR,
    ),
    Mutation(
        "wait-gives-up-three-times-late",
        "exops/apply/waits.py",
        "            if elapsed >= timeout:",
        "            if elapsed >= 3 * timeout:",
        _WAITS,
    ),
    Mutation(
        "wait-poll-not-bounded",
        "exops/apply/waits.py",
        "    return min(max(elapsed * POLL_FRACTION, MIN_POLL_S), max_poll)",
        "    return max(elapsed * POLL_FRACTION, MIN_POLL_S)",
        _WAITS,
    ),
    Mutation(
        "R1-dropped",
        "exops/apply/safety.py",
        "    if not result.is_empty:\n        return\n    ok, why",
        "    return\n    ok, why",
        _SAFETY,
    ),
    Mutation(
        "R2-unreachable-member-ok",
        "exops/apply/safety.py",
        '    if not member.reachable:\n        return f"is unreachable',
        '    if False:\n        return f"is unreachable',
        _SAFETY,
    ),
    Mutation(
        "R4-dropped",
        "exops/apply/safety.py",
        "    if target.is_empty and not leaver:",
        "    if False:",
        _SAFETY,
    ),
    Mutation(
        "R7-command-on-the-primary",
        "exops/apply/safety.py",
        "    if designates(peer, primary):",
        "    if not designates(peer, primary):",
        _SAFETY,
    ),
    Mutation(
        "cluster-health-check-passes",
        "exops/plan/preflight.py",
        '    return _result("cluster_health", not bad, summary, evidence)',
        '    return _result("cluster_health", True, summary, evidence)',
        ("tests/unit/plan/test_fail_closed.py", "tests/unit/plan/test_planner.py"),
    ),
    Mutation(
        "plan-digest-unchecked",
        "exops/plan/model.py",
        "    if not isinstance(given, str) or given != content_digest(doc):",
        "    if not isinstance(given, str):",
        ("tests/unit/plan/test_plan_file.py",),
    ),
    Mutation(
        "plan-digest-without-the-actions",
        "exops/plan/model.py",
        '    body = {k: v for k, v in doc.items() if k != "digest"}',
        '    body = {k: v for k, v in doc.items() if k not in ("digest", "actions")}',
        ("tests/unit/plan/test_plan_file.py",),
    ),
    Mutation(
        "lock-holder-not-recorded",
        "exops/state/flock.py",
        "        _write_holder_fd(fd, holder)\n",
        "",
        _LOCK,
    ),
    Mutation(
        "lock-timeout-ignored",
        "exops/state/flock.py",
        "    fd = _lock_fd(path, cluster, max(0.0, timeout_s))",
        "    fd = _lock_fd(path, cluster, 0.0)",
        _LOCK,
    ),
    Mutation(
        "journal-not-redacted",
        "exops/state/base.py",
        "    return json.dumps(redact(value), default=str)",
        "    return json.dumps(value, default=str)",
        ("tests/unit/state/test_journal.py",),
    ),
    Mutation(
        "journal-resumes-the-oldest-failure",
        "exops/state/sqlite.py",
        'f" AND status IN ({marks}) ORDER BY started DESC, id DESC LIMIT 1",',
        'f" AND status IN ({marks}) ORDER BY started ASC, id ASC LIMIT 1",',
        ("tests/unit/state/test_journal.py",),
    ),
    Mutation(
        "verify-cluster-healthy-always",
        "exops/apply/verify.py",
        '    if problems:\n        return False, "; ".join(problems)\n'
        '    return True, "cluster healthy"',
        '    if False:\n        return False, "; ".join(problems)\n'
        '    return True, "cluster healthy"',
        _VERIFY,
    ),
    Mutation(
        "verify-peer-healthy-always",
        "exops/apply/verify.py",
        '    return (not problems), "; ".join(problems) or "healthy"',
        '    return True, "; ".join(problems) or "healthy"',
        _VERIFY,
    ),
)

SETS = {"safety": MUTATIONS, "sample": SAMPLE}


UNIT = ("tests/unit",)
KILL_TIMEOUT_S = 120  # pytest-timeout per test: a hang is reported, not waited out


def run_tests(tests: tuple[str, ...], killer: str) -> tuple[bool, str]:
    """(passed, the first failing test or "") of one run of the killer tests."""
    workers = ["-n", "1"] if killer == "unit" else ["-n", "0"]
    cmd = [
        sys.executable, "-m", "pytest", "-q", "-x", *workers, "-p", "no:randomly",
        "-o", f"timeout={KILL_TIMEOUT_S}", *(UNIT if killer == "unit" else tests),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    if proc.returncode == 0:
        return True, ""
    failed = re.search(r"^(?:FAILED|ERROR) (\S+)", out, re.MULTILINE)
    by = failed.group(1) if failed else f"pytest exit {proc.returncode}"
    if "+++ Timeout +++" in out or "Failed: Timeout" in out:
        by = "TIMEOUT " + by
    return False, by


def apply(m: Mutation) -> str:
    path = ROOT / m.path
    text = path.read_text()
    if text.count(m.old) != 1:
        raise SystemExit(
            f"mutation {m.id}: the text to mutate occurs {text.count(m.old)} times in {m.path}"
        )
    path.write_text(text.replace(m.old, m.new))
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--set", choices=sorted(SETS), default="safety")
    parser.add_argument("--killer", choices=("focused", "unit"), default="focused")
    parser.add_argument("-k", default="", help="only mutations whose id contains this")
    args = parser.parse_args()
    chosen = [m for m in SETS[args.set] if args.k in m.id]
    if args.list:
        for m in chosen:
            print(f"{m.id:34} {m.path}")
        return 0
    for m in chosen:  # every mutation applies (the code it targets still exists)
        original = apply(m)
        (ROOT / m.path).write_text(original)
    baseline = sorted({t for m in chosen for t in m.tests})
    ok, by = run_tests(tuple(baseline), args.killer)
    if not ok:
        print(f"the killer tests fail without any mutation ({by}): fix them first", file=sys.stderr)
        return 2
    survivors = []
    t0 = time.monotonic()
    for m in chosen:
        original = apply(m)
        try:
            passed, by = run_tests(m.tests, args.killer)
        finally:
            (ROOT / m.path).write_text(original)
        caught = not passed and not by.startswith("TIMEOUT")
        verdict = "caught  " if caught else "SURVIVED"
        print(f"{verdict} {m.id:34} {m.path:28} {by or 'every test passed'}", flush=True)
        if not caught:
            survivors.append(m.id)
    caught_n = len(chosen) - len(survivors)
    print(
        f"mutation score ({args.set}, {args.killer} tests): {caught_n}/{len(chosen)} caught"
        f" ({100 * caught_n / max(len(chosen), 1):.0f} %), {len(survivors)} survivors,"
        f" in {time.monotonic() - t0:.0f} s"
    )
    if survivors:
        print("survivors: " + ", ".join(survivors))
    return 0 if not survivors else 1


if __name__ == "__main__":
    sys.exit(main())

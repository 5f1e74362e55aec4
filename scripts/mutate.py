#!/usr/bin/env python3
"""A small mutation runner for the safety-critical code.

Each mutation is one deliberate bug, a single-line textual replacement in
exops/apply/safety.py, the Executor's handlers in exops/apply/executor.py, or a guard in
exops/plan/planner.py (flip a comparison, drop a rule, invert a condition).
For each, the file is patched in place, the unit tests run
(``pytest -q -x -n 0 -p no:randomly`` on the safety, apply and planner tests),
and the file is restored. A mutation is *caught* when the tests fail.

    .venv/bin/python scripts/mutate.py            # every mutation
    .venv/bin/python scripts/mutate.py --list     # list them
    .venv/bin/python scripts/mutate.py -k R2      # only those whose id contains R2

Exit 0 when every mutation is caught, 1 otherwise (the survivors are listed).
"""

# ruff: noqa: E501  (the mutation table holds long single-line source fragments)
from __future__ import annotations

import argparse
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


def run_tests() -> bool:
    """True when the unit tests pass."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:randomly", *TESTS]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    return proc.returncode == 0


def apply(m: Mutation) -> str:
    path = ROOT / m.path
    text = path.read_text()
    if text.count(m.old) != 1:
        raise SystemExit(
            f"mutation {m.id}: the line to mutate occurs {text.count(m.old)} times in {m.path}"
        )
    path.write_text(text.replace(m.old, m.new))
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("-k", default="", help="only mutations whose id contains this")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if args.k in m.id]
    if args.list:
        for m in chosen:
            print(f"{m.id:28} {m.path}")
        return 0
    for m in chosen:  # every mutation applies (the code it targets still exists)
        original = apply(m)
        (ROOT / m.path).write_text(original)
    if not run_tests():
        print("the unit tests fail without any mutation: fix them first", file=sys.stderr)
        return 2
    survivors = []
    t0 = time.monotonic()
    for m in chosen:
        original = apply(m)
        try:
            caught = not run_tests()
        finally:
            (ROOT / m.path).write_text(original)
        print(f"{'caught  ' if caught else 'SURVIVED'} {m.id:28} {m.path}", flush=True)
        if not caught:
            survivors.append(m.id)
    caught_n = len(chosen) - len(survivors)
    print(
        f"mutation score: {caught_n}/{len(chosen)} caught"
        f" ({100 * caught_n / max(len(chosen), 1):.0f} %) in {time.monotonic() - t0:.0f} s"
    )
    if survivors:
        print("survivors: " + ", ".join(survivors))
    return 0 if not survivors else 1


if __name__ == "__main__":
    sys.exit(main())

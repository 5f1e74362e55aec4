"""Kill matrix (issue 11 item 4): SIGKILL exops right after each write, re-run, converge.

For every shipped runbook that writes, a clean lab is shaped for it and a
dry run gives the number W of writes the run sends (settings, restarts,
commands). Then for each N in 1..W, on a fresh lab: run the command and
SIGKILL exops right after the lab accepted its N-th write (``killkit``), re-run
the same command with ``--yes`` and check, on the mock's true state:

- the re-run exits 0 and the documented end state holds;
- no peer is in a factory-reset state except the intended leaver;
- a third run plans no write.

A cell that fails is collected, and the test names every failed cell at the
end (a kill point is a finding, not a crash of the matrix).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from clikit import Cli, cli_for, last_seq
from killkit import assert_no_reset, eventually, plans_no_write, run_killed, settled, writes_of

pytestmark = pytest.mark.integration

SCALE = 0.003
FAST = {
    "EXOPS_RESTART_TIMEOUT": "8",
    "EXOPS_SETTLE_TIMEOUT": "8",
    "EXOPS_READ_TIMEOUT": "3",
    "EXOPS_CONNECT_TIMEOUT": "2",
    "EXOPS_MAX_POLL_INTERVAL": "0.2",
}
P = ("c1-p1", "c1-p2", "c1-p3")


def _healthy(
    lab: Any, peers: tuple[str, ...], expect: Callable[[str, dict[str, Any]], str | None]
) -> None:
    def check() -> tuple[bool, str]:
        problems = []
        for peer in peers:
            s = lab.control.peer_state(peer)
            if s["database"] != "Active" or s["alarms"]:
                problems.append(f"{peer}: database {s['database']}, alarms {s['alarms']}")
            wrong = expect(peer, s)
            if wrong:
                problems.append(f"{peer}: {wrong}")
        return not problems, "; ".join(problems)

    eventually(check, timeout=10)


def _listing(
    lab: Any, members: tuple[str, ...], master: int, by: str = "ip"
) -> Callable[[str, dict[str, Any]], str | None]:
    names = [lab.peers[p] if by == "ip" else lab.fqdns[p] for p in members]
    want = [*names, *[""] * (6 - len(names))]

    def expect(peer: str, s: dict[str, Any]) -> str | None:
        got = s["saved"]["peers"]
        if got != want or s["saved"]["master"] != master:
            return f"lists {got} master {s['saved']['master']}, want {want} master {master}"
        if s["active"]["peers"] != want:
            return f"in force {s['active']['peers']}"
        return None

    return expect


@dataclass
class Scenario:
    name: str
    peers: int
    preset: str
    setup: tuple[tuple[str, ...], ...]
    args: tuple[str, ...]
    end_state: Callable[[Any], None]
    leavers: tuple[str, ...] = ()
    spec: dict[str, Any] = field(default_factory=dict)


def _create_end(lab: Any) -> None:
    _healthy(lab, ("c1-p1",), _listing(lab, ("c1-p1",), 1))
    for p in ("c1-p2", "c1-p3"):
        assert not any(lab.control.peer_state(p)["saved"]["peers"]), p


def _add_end(lab: Any) -> None:
    _healthy(lab, P, _listing(lab, P, 1))


def _remove_end(lab: Any) -> None:
    _healthy(lab, ("c1-p1", "c1-p3"), _listing(lab, ("c1-p1", "c1-p3"), 1))
    gone = lab.control.peer_state("c1-p2")
    assert gone["saved"]["peers"] == [""] * 6 and gone["active"]["peers"] == [""] * 6, gone["saved"]


def _enforce_end(lab: Any) -> None:
    base = _listing(lab, P, 1, by="fqdn")

    def expect(peer: str, s: dict[str, Any]) -> str | None:
        if s["saved"]["tls"] != "Enforce" or s["active"]["tls"] != "Enforce":
            return f"tls saved {s['saved']['tls']} in force {s['active']['tls']}"
        return base(peer, s)

    _healthy(lab, P, expect)


def _switch_end(lab: Any) -> None:
    _healthy(lab, P, _listing(lab, P, 2))


def _fqdn_end(lab: Any) -> None:
    _healthy(lab, P, _listing(lab, P, 1, by="fqdn"))


def _mapping_end(lab: Any) -> None:
    def expect(peer: str, s: dict[str, Any]) -> str | None:
        names = {row[0] for row in s["saved"]["map"] if row[0]}
        if s["saved"]["map_mode"] != "On" or names != {lab.fqdns[p] for p in ("c1-p1", "c1-p2")}:
            return f"mapping {s['saved']['map_mode']} {s['saved']['map']}"
        return None

    _healthy(lab, ("c1-p1", "c1-p2"), expect)


SCENARIOS = [
    Scenario("create-cluster", 3, "unclustered", (), ("create-cluster", "-c", "c1"), _create_end),
    Scenario(
        "add-peer",
        3,
        "unclustered",
        (("create-cluster", "-c", "c1"), ("add-peer", "-c", "c1", "--peer", "c1-p2")),
        ("add-peer", "-c", "c1", "--peer", "c1-p3"),
        _add_end,
    ),
    Scenario(
        "remove-peer",
        3,
        "formed",
        (),
        ("remove-peer", "-c", "c1", "--peer", "c1-p2"),
        _remove_end,
        leavers=("c1-p2",),
    ),
    Scenario(
        "enforce-tls",
        3,
        "formed",
        (("convert-fqdn", "-c", "c1"),),
        ("enforce-tls", "-c", "c1"),
        _enforce_end,
    ),
    Scenario(
        "switch-primary",
        3,
        "formed",
        (),
        ("switch-primary", "-c", "c1", "--peer", "c1-p2"),
        _switch_end,
    ),
    Scenario("convert-fqdn", 3, "formed", (), ("convert-fqdn", "-c", "c1"), _fqdn_end),
    Scenario(
        "address-mapping",
        2,
        "formed",
        (),
        ("address-mapping", "-c", "c1"),
        _mapping_end,
        spec={"all": {"role": "Expressway-E"}},
    ),
]


def _lab(lab_factory: Any, tmp_path: Path, sc: Scenario, tag: str) -> tuple[Any, Cli]:
    lab = lab_factory(clusters=1, peers=sc.peers, time_scale=SCALE, preset=sc.preset, spec=sc.spec)
    home = tmp_path / tag
    home.mkdir()
    cli = cli_for(lab, home, **FAST)
    for args in sc.setup:
        cli(*args, "--yes")
    settled(lab)
    return lab, cli


def kill_cell(lab: Any, cli: Cli, tmp_path: Path, sc: Scenario, n: int) -> str | None:
    """One cell: kill after write N, re-run, check. Returns the finding (None: converged)."""
    members = tuple(p for p, s in lab.control.state()["peers"].items() if any(s["saved"]["peers"]))
    killed = run_killed(lab, cli, tmp_path, sc.args, n)
    if not killed.killed:
        return f"not killed at write {n} (exit {killed.code}, {len(killed.writes)} writes)"
    try:
        settled(lab)
        assert_no_reset(lab, sc.leavers, members)
        seq = last_seq(lab)
        rerun = cli(*sc.args, "--yes", expect=None)
        assert rerun.returncode == 0, (
            f"re-run exit {rerun.returncode}: {rerun.stderr.strip()[-600:]}"
        )
        del seq
        sc.end_state(lab)
        assert_no_reset(lab, sc.leavers, members)
        plans_no_write(cli, sc.args)
    except AssertionError as exc:
        last = killed.writes[-1] if killed.writes else {}
        where = f"{last.get('peer')} {last.get('method')} {str(last.get('path'))[:80]}"
        return f"killed after write {n} ({where}): {str(exc).strip()[:900]}"
    return None


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_kill_after_each_write_then_rerun_converges(
    lab_factory: Any, tmp_path: Path, sc: Scenario, request: pytest.FixtureRequest
) -> None:
    lab, cli = _lab(lab_factory, tmp_path, sc, "probe")
    plan = cli.json(*sc.args, "--dry-run")
    assert plan["refused"] is None, plan["refused"]
    total = writes_of(plan)
    assert total > 0, [a["step"] for a in plan["actions"]]
    findings = []
    for n in range(1, total + 1):
        if n > 1:
            lab.stop()
            lab, cli = _lab(lab_factory, tmp_path, sc, f"cell{n}")
        finding = kill_cell(lab, cli, tmp_path, sc, n)
        if finding:
            findings.append(finding)
    request.node.user_properties.append(("kill_cells", total))
    assert not findings, f"{sc.name}: {len(findings)} of {total} kill points:\n" + "\n".join(
        findings
    )


def test_restart_resume_after_a_kill_restarts_only_the_rest(
    lab_factory: Any, tmp_path: Path
) -> None:
    """A restart run killed right after it restarted the primary; ``--resume`` reads
    each peer's boot time on the appliance's own clock (SystemTime - Uptime, here
    in compressed time) and restarts only the peers the killed run did not."""
    lab = lab_factory(clusters=1, peers=3, time_scale=SCALE, preset="formed")
    cli = cli_for(lab, tmp_path, **FAST)
    killed = run_killed(lab, cli, tmp_path, ("restart", "-c", "c1"), 1)
    assert killed.killed, (killed.code, killed.stderr[-2000:])
    assert [r["peer"] for r in lab.control.metrics()["restarts"]] == ["c1-p1"]
    settled(lab)
    _healthy(lab, P, lambda peer, s: None)
    # (`--resume --dry-run` plans without the failed run's time: reported, not tested here)
    seq = last_seq(lab)
    cli("restart", "-c", "c1", "--resume", "--yes")
    sent = [r["peer"] for r in lab.control.requests(since=seq) if r["write"]]
    assert sent == ["c1-p2", "c1-p3"], sent
    assert [r["peer"] for r in lab.control.metrics()["restarts"]] == ["c1-p1", "c1-p2", "c1-p3"]

"""The texts an operator reads, from fixed data, against golden files
(``EXOPS_UPDATE_GOLDEN=1`` rewrites them). The lab-backed goldens of the same
commands are in tests/integration/test_golden_cli.py; these cover the states a
healthy lab does not show (an unhealthy cluster, a failed step, a plan that
configures and restarts)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

from goldenkit import GOLDEN, check_golden, normalise
from paths import REPO
from reportkit import add_peer_plan
from rich.console import Console
from statuskit import cluster, peer

from exops.apply.results import RunResult, RunStatus, StepResult, StepStatus
from exops.cli.display import render_recap, render_summary
from exops.cli.read import print_report
from exops.core.models import PeerState, TlsMode
from exops.plan.model import Action, ActionKind
from exops.report.status import summarize


def _printed(*lines: str) -> str:
    """Rich markup as the command prints it off a terminal (200 columns, no colour)."""
    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False)
    for line in lines:
        console.print(line, soft_wrap=True)
    return out.getvalue()


def test_status_of_an_unhealthy_cluster_names_the_root_cause() -> None:
    peers = []
    for i in range(3):
        p = peer(i, 3, states={3: PeerState.FAILED}, alarms=("20004",) if i < 2 else ())
        assert p.settings is not None
        enforce = p.settings.model_copy(update={"tls_mode": TlsMode.ENFORCE})
        peers.append(p.model_copy(update={"settings": enforce}))
    out = io.StringIO()
    print_report(Console(file=out, width=200, highlight=False), summarize(cluster(*peers)))
    text = out.getvalue()
    assert "verdict: degraded - p3 is listed by IP address in TLS Enforce mode" in text
    check_golden("status-unhealthy.txt", normalise(text))


def test_the_summary_before_a_real_run_asks() -> None:
    """Counts, the peers changed, the restarts and the longest wait; the warnings."""
    text = render_summary(add_peer_plan())
    check_golden("summary-add-peer.txt", normalise(_printed(text)))


def test_the_recap_of_a_failed_run_says_what_failed_and_what_to_do() -> None:
    plan = add_peer_plan()
    at = datetime(2025, 3, 4, 10, 16, tzinfo=UTC)
    by_id = {a.id: a for a in plan.actions}

    def step(action: Action, status: StepStatus, **kw: object) -> StepResult:
        return StepResult(action, status, at, 2.5, **kw)  # type: ignore[arg-type]

    wait = by_id["6"]
    assert wait.kind is ActionKind.WAIT
    result = RunResult(
        "c1",
        "add-peer",
        RunStatus.FAILED,
        1,
        plan=plan,
        run_id="a1b2c3d4e5f6",
        steps=[
            step(by_id["1"], StepStatus.OK),
            step(by_id["2"], StepStatus.CHANGED),
            step(by_id["3"], StepStatus.OK),
            step(by_id["4"], StepStatus.CHANGED),
            step(by_id["5"], StepStatus.CHANGED),
            step(
                wait,
                StepStatus.FAILED,
                error="timed out after 10m00s: c1-p3 database Unknown; alarm 20004 on c1-p1",
                advice="check the network between c1-p3 and c1-p1, then re-run add-peer",
            ),
        ],
        message="failed: wait for the cluster to settle timed out",
    )
    check_golden("recap-failed.txt", normalise(_printed(*render_recap(result))))


def test_the_readme_samples_are_what_the_cli_prints() -> None:
    """A README block after ``<!-- golden: PATH -->`` is that golden file's stdout
    (normalised: the lab's subnet and the like), after its ``$ exops ...`` line."""
    readme = (REPO / "README.md").read_text()
    marked = re.findall(r"<!-- golden: (\S+) -->\n```\n\$ exops [^\n]*\n(.*?)```", readme, re.S)
    assert marked, "the README shows no golden sample"
    for path, block in marked:
        golden = (GOLDEN.parents[1] / path).read_text().split("--- stderr\n")[0]
        assert normalise(block).rstrip() == golden.rstrip(), (
            f"README's sample of {path} is out of date"
        )

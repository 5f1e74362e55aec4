"""The dry-run text of `restart --drain` (exops/tools/drain.py)."""

from __future__ import annotations

import pytest

from exops.core.errors import UsageError
from exops.tools.drain import DrainOptions, plan_line, restart_plan_lines


def test_the_drain_is_shown_right_before_each_restart_and_the_check_right_after() -> None:
    opts = DrainOptions(max_calls=2, max_registrations=1, timeout_s=600)
    lines = restart_plan_lines(
        [("2", "c1-p1", "on peer c1-p1, open X"), ("4", "c1-p2", "on peer c1-p2, open Y")], opts
    )
    assert lines == [
        "Drain (--drain): one peer at a time, right before its own restart",
        "  before step 2 (restart c1-p1): manual step: on peer c1-p1, open X; then wait until "
        "c1-p1 reads as in maintenance with at most 2 calls and 1 registrations (timeout 600 s)",
        "  after step 2: maintenance mode of c1-p1 must read off (the vendor's rule: a restart "
        "turns it off)",
        "  before step 4 (restart c1-p2): manual step: on peer c1-p2, open Y; then wait until "
        "c1-p2 reads as in maintenance with at most 2 calls and 1 registrations (timeout 600 s)",
        "  after step 4: maintenance mode of c1-p2 must read off (the vendor's rule: a restart "
        "turns it off)",
    ]
    assert plan_line("p", "S", False, opts).startswith("p is in maintenance mode already; then")


@pytest.mark.parametrize(
    ("opts", "word"),
    [
        (DrainOptions(max_calls=-1), "--max-calls"),
        (DrainOptions(accept=frozenset({"latency"})), "--accept latency"),
    ],
)
def test_bad_drain_options_name_the_option(opts: DrainOptions, word: str) -> None:
    with pytest.raises(UsageError, match=word):
        opts.check()

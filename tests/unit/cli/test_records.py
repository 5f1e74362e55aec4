"""`exops show` and `history`: run ids by prefix, times in the journal's form."""

from __future__ import annotations

import pytest

# -- run ids by prefix and history times (exops show / history) -----------------------


class _Journal:
    def __init__(self, ids: list[str]):
        self.ids = ids

    def match_run_ids(self, prefix: str, limit: int = 10) -> list[str]:
        return [i for i in self.ids if i.startswith(prefix)][:limit]


def test_a_run_id_prefix_names_one_run_or_is_refused_listing_the_matches() -> None:
    from exops.cli.records import resolve_run_id
    from exops.core.errors import UsageError

    journal = _Journal(["ab12cd", "ab99ff", "c0ffee", "ab12"])
    assert resolve_run_id(journal, "c0") == "c0ffee"
    assert resolve_run_id(journal, "ab12") == "ab12"  # a whole id wins over longer ones
    with pytest.raises(UsageError, match="ambiguous: it starts ab12cd, ab99ff, ab12; give more"):
        resolve_run_id(journal, "ab")
    with pytest.raises(UsageError, match="no run 'zz'"):
        resolve_run_id(journal, "zz")
    many = _Journal([f"aa{i:02d}" for i in range(15)])
    with pytest.raises(UsageError, match=r"aa09, \.\.\.; give more"):
        resolve_run_id(many, "aa")


def test_history_times_are_utc_in_the_journal_form() -> None:
    from exops.cli.records import when
    from exops.core.errors import UsageError

    assert when("--since", "2024-05-01T10:00+02:00") == "2024-05-01T08:00:00.000+00:00"
    assert when("--since", "2024-05-01T10:00Z") == "2024-05-01T10:00:00.000+00:00"
    day_start = when("--since", "2024-05-01")
    day_end = when("--until", "2024-05-01", end=True)
    assert day_start is not None and day_end is not None and day_start < day_end
    assert day_end.endswith("+00:00") and day_end > "2024-05-01T00"
    assert when("--since", None) is None
    recent = when("--since", "2h")
    assert recent is not None and recent.endswith("+00:00")
    with pytest.raises(UsageError, match="--until 'soon'"):
        when("--until", "soon")

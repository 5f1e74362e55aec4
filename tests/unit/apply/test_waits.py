"""Waiter.until on a fake clock: it gives up at its timeout, not later, and says so."""

from __future__ import annotations

import pytest

from exops.apply.waits import MIN_POLL_S, Waiter
from exops.core.errors import TimeoutError_


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeCancel:
    """Stands in for threading.Event: waiting advances the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def wait(self, seconds: float) -> bool:
        assert seconds >= 0
        self.clock.now += seconds
        return False


@pytest.mark.parametrize("timeout", [0.5, 30.0, 600.0])
def test_until_gives_up_at_its_timeout(timeout: float) -> None:
    clock = FakeClock()
    waiter = Waiter(clock=clock, cancel=FakeCancel(clock), max_poll=5.0)  # type: ignore[arg-type]
    seen: list[float] = []

    def never() -> tuple[bool, str]:
        # A wait that polls past its timeout (or on and on at it) is the bug: fail here,
        # at once, rather than hang until pytest's own timeout.
        assert clock.now <= timeout + 1e-9, f"still polling at {clock.now} s (timeout {timeout} s)"
        assert seen.count(clock.now) < 3, f"polling again and again at {clock.now} s"
        seen.append(clock.now)
        return False, "not yet"

    with pytest.raises(TimeoutError_) as info:
        waiter.until("the thing", never, timeout=timeout, host="p1")
    assert clock.now == pytest.approx(timeout)  # the last read is taken at the timeout
    assert seen[-1] == pytest.approx(timeout) and len(seen) > 2
    assert f"after {timeout:.0f} s" in str(info.value) and "last seen: not yet" in str(info.value)
    assert info.value.host == "p1"


def test_until_returns_the_seconds_waited_once_the_check_holds() -> None:
    clock = FakeClock()
    waiter = Waiter(clock=clock, cancel=FakeCancel(clock), max_poll=5.0)  # type: ignore[arg-type]
    waited = waiter.until("the thing", lambda: (clock.now >= 40, "x"), timeout=100)
    assert 40 <= waited <= 40 * 1.06 + MIN_POLL_S  # noticed within 5 % of the wait

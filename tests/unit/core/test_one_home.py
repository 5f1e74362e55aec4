"""Small helpers with one home: the stages use core's (or state's) one definition."""

from __future__ import annotations

import getpass
import os

import pytest

from exops.core import models


def test_the_journal_and_the_lock_name_the_same_user(monkeypatch: pytest.MonkeyPatch) -> None:
    from exops.run import runner
    from exops.state import base

    assert runner.current_user is base.current_user

    def no_passwd_entry() -> str:
        raise KeyError("uid not in passwd")

    monkeypatch.setattr(getpass, "getuser", no_passwd_entry)
    assert base.current_user() == str(os.getuid())
    assert base.holder_record("c1", "restart")["user"] == str(os.getuid())


def test_one_is_ip_and_one_capacity() -> None:
    from exops import inventory
    from exops.report import status, view

    assert inventory.is_ip is models.is_ip and not hasattr(inventory, "_is_ip")
    assert status.CAPACITY_PEERS is view.CAPACITY_PEERS is models.CAPACITY_PEERS
    from factkit import peer

    six = status.capacity([peer(i, list(range(6))) for i in range(6)])
    assert (six.factor, six.note) == (4, "capacity x4; peers 5-6 add resilience only")

"""Fixtures of the state-store tests: a real PostgreSQL server (session), a fresh
database per test, and ``store_url`` parametrised over both backends."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pgserver
import pytest

_dbs = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[pgserver.Server]:
    """A throwaway PostgreSQL server on 127.0.0.1 (skips only without server binaries)."""
    if pgserver.find_bin_dir() is None:
        pytest.skip(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or under "
            "/usr/lib/postgresql/*/bin: run scripts/setup.sh as root to install them"
        )
    # In the system temp dir: pytest's own is mode 0700 root, closed to the server's user.
    with pgserver.running_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: pgserver.Server) -> str:
    """The server's ``postgresql://exops@127.0.0.1:PORT/exops`` (password in
    EXOPS_STATE_PASSWORD, set by ``pg_url``)."""
    return postgres_server.url


@pytest.fixture
def pg_url(postgres_server: pgserver.Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A URL of a new, empty database owned by the exops role (one per test)."""
    name = f"t{next(_dbs)}"
    postgres_server.admin(f"CREATE DATABASE {name} OWNER {pgserver.ROLE}")
    monkeypatch.setenv("EXOPS_STATE_PASSWORD", postgres_server.password)
    return postgres_server.url_for(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """``sqlite:///<tmp>/state`` or a fresh PostgreSQL database: one test, both backends."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state'}"
    return str(request.getfixturevalue("pg_url"))

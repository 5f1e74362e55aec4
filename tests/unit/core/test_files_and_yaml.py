"""File safety (exops.core.files) and the one YAML reader (exops.core.yamldoc), on
every input that reads YAML: runbooks, the runbook catalog, the inventory, the
settings file (issue 30)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exops.core import yamldoc
from exops.core.errors import InventoryError, RunbookFileError, UsageError
from exops.core.files import (
    check_writable_target,
    open_for_write,
    private_dir,
    read_capped,
    write_atomic,
)
from exops.core.settings import Settings, load_settings
from exops.inventory import load_inventory
from exops.runbook.catalog import meta_of_text
from exops.runbook.loader import load_runbook, parse_runbook

GROUPS = "c1:\n  data:\n    cluster_name: c1.example.com\n"
HOST = "{name}:\n  hostname: {ip}\n  groups: [c1]\n  data: {{address: {ip}, slot: {slot}}}\n"


def inventory(tmp_path: Path, hosts: str, groups: str = GROUPS) -> Path:
    (tmp_path / "hosts.yaml").write_text(hosts)
    (tmp_path / "groups.yaml").write_text(groups)
    (tmp_path / "defaults.yaml").write_text("username: admin\n")
    return tmp_path


# -- duplicate keys: refused with both lines, exit 2, in every YAML input -------------------
def test_a_host_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    """hosts.yaml with the same host key twice: the later silently replaced the
    earlier, and status then said "healthy" without that peer."""
    hosts = (
        HOST.format(name="p1", ip="10.0.0.11", slot=1)
        + HOST.format(name="p2", ip="10.0.0.12", slot=2)
        + HOST.format(name="p1", ip="10.0.0.13", slot=3)
    )
    with pytest.raises(InventoryError) as exc:
        load_inventory(inventory(tmp_path, hosts), Settings())
    assert exc.value.exit_code == 2
    assert str(exc.value).endswith(
        "hosts.yaml:9: not valid YAML: duplicate key 'p1' (first at line 1)"
    )


def test_a_group_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    hosts = HOST.format(name="p1", ip="10.0.0.11", slot=1)
    with pytest.raises(
        InventoryError, match=r"groups\.yaml:4: .*duplicate key 'c1' \(first at line 1\)"
    ):
        load_inventory(inventory(tmp_path, hosts, GROUPS + GROUPS), Settings())


def test_a_runbook_key_given_twice_names_both_lines() -> None:
    text = "name: x\nsteps:\n  - name: a\n    on: primary\n    restart: {}\n    on: all\n"
    with pytest.raises(
        RunbookFileError, match=r"^r\.yaml:6: .*duplicate key 'on' \(first at line 4\)"
    ):
        parse_runbook(text, "r.yaml")


def test_a_setting_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("read_timeout: 5\nworkers: 4\nread_timeout: 50\n")
    with pytest.raises(UsageError) as exc:
        load_settings(environ={"EXOPS_CONFIG": str(config)})
    assert exc.value.exit_code == 2
    assert "config.yaml:3: not valid YAML: duplicate key 'read_timeout' (first at line 1)" in str(
        exc.value
    )


def test_help_and_the_run_read_a_runbook_alike() -> None:
    """One reader: ``--help`` (the catalog) used YAML 1.1 (``on``/``yes`` are True), a
    run YAML 1.2 (they are text); a parameter default now reads the same in both."""
    text = (
        "name: x\nparams:\n  mode: {type: str, default: on}\n  ok: {type: str, default: yes}\n"
        "steps:\n  - name: a\n    on: primary\n    restart: {}\n"
    )
    meta = {p.name: p.default for p in meta_of_text(text, "x").params}
    run = {name: spec.default for name, spec in parse_runbook(text, "x.yaml").params.items()}
    assert meta == run == {"mode": "on", "ok": "yes"}


def test_settings_file_booleans_are_yaml_1_2(tmp_path: Path) -> None:
    """``insecure: yes`` is the text "yes", which the setting parses as true; a key
    such as ``on:`` is never turned into True."""
    config = tmp_path / "config.yaml"
    config.write_text("insecure: yes\n")
    assert load_settings(environ={"EXOPS_CONFIG": str(config)}).insecure is True
    config.write_text("on: 1\n")
    with pytest.raises(UsageError, match="unknown setting 'on'"):
        load_settings(environ={"EXOPS_CONFIG": str(config)})


def test_alias_bombs_are_refused_everywhere() -> None:
    bomb = "a: &a [x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}]\n" for p, c in zip("abcdefghij", "bcdefghijk", strict=False)
    )
    with pytest.raises(UsageError, match="YAML aliases; refused"):
        yamldoc.parse(bomb, "x.yaml")


# -- input files are regular files, read bounded ----------------------------------------------
@pytest.mark.parametrize("what", ["runbook", "inventory", "settings"])
def test_a_fifo_input_is_refused_at_once(tmp_path: Path, what: str) -> None:
    """A named pipe nobody writes to blocks a read forever: every input is refused
    unless it is a regular file (exit 2), without waiting."""
    if what == "runbook":
        fifo = tmp_path / "book.yaml"
        os.mkfifo(fifo)
        call = lambda: load_runbook(str(fifo))  # noqa: E731
    elif what == "inventory":
        inventory(tmp_path, HOST.format(name="p1", ip="10.0.0.11", slot=1))
        (tmp_path / "hosts.yaml").unlink()
        os.mkfifo(tmp_path / "hosts.yaml")
        call = lambda: load_inventory(tmp_path, Settings())  # noqa: E731
    else:
        fifo = tmp_path / "config.yaml"
        os.mkfifo(fifo)
        call = lambda: load_settings(environ={"EXOPS_CONFIG": str(fifo)})  # noqa: E731
    with pytest.raises(UsageError) as exc:
        call()
    assert exc.value.exit_code == 2
    assert "FIFO (named pipe), not a regular file" in str(exc.value)


def test_read_capped_refuses_from_the_size_without_reading(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with big.open("wb") as fh:
        fh.truncate(1 << 30)  # a 1 GiB sparse file
    with pytest.raises(UsageError, match="larger than 1024 KiB; refused"):
        read_capped(big, 1 << 20, "file")
    small = tmp_path / "small"
    small.write_bytes(b"x" * 10)
    assert read_capped(small, 10, "file") == b"x" * 10


# -- files exops writes: never through a link, never another user's ---------------------------
def test_a_symbolic_link_is_never_written_through(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("precious\n")
    link = tmp_path / "plan.json"
    link.symlink_to(target)
    for call in (
        lambda: open_for_write(link, "--out"),
        lambda: open_for_write(link, "--events", append=True),
        lambda: write_atomic(link, b"x", "backup"),
    ):
        with pytest.raises(UsageError, match="symbolic link"):
            call()
    assert target.read_text() == "precious\n"


def test_a_fifo_or_directory_is_not_a_file_to_write(tmp_path: Path) -> None:
    fifo = tmp_path / "events"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="FIFO"):
        open_for_write(fifo, "--events", append=True)
    with pytest.raises(UsageError, match="directory"):
        check_writable_target(tmp_path, "--out")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make another user's file")
def test_another_users_file_is_not_written(tmp_path: Path) -> None:
    theirs = tmp_path / "plan.json"
    theirs.write_text("theirs\n")
    os.chown(theirs, 4242, 4242)
    with pytest.raises(UsageError, match="belongs to uid 4242"):
        open_for_write(theirs, "--out")
    with pytest.raises(UsageError, match="belongs to uid 4242"):
        write_atomic(theirs, b"x", "backup")
    assert theirs.read_text() == "theirs\n"


def test_private_directories_are_owner_only_and_never_links(tmp_path: Path) -> None:
    state = tmp_path / "state"
    private_dir(state, "state directory")
    assert state.stat().st_mode & 0o777 == 0o700
    write_atomic(state / "b.json", b"{}", "backup")
    assert (state / "b.json").stat().st_mode & 0o777 == 0o600
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (state / "backups").symlink_to(elsewhere)
    with pytest.raises(UsageError, match="symbolic link"):
        private_dir(state / "backups", "backup directory")


# -- no assert guards a runtime condition (python -O removes them) ----------------------------
def test_no_assert_statement_in_exops() -> None:
    """``python -O`` drops every ``assert``: a condition exops relies on at run time is
    checked with ``if``/``raise`` (tests may assert)."""
    import ast

    import exops

    root = Path(exops.__file__).parent
    found = [
        f"{path.relative_to(root.parent)}:{node.lineno}"
        for path in sorted(root.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Assert)
    ]
    assert found == []

"""Backup files: one reader (capped, regular files only, strict), owner-only files,
and a state directory whose backups/ cannot be redirected (issue 30)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from exops.core.errors import UsageError
from exops.core.models import ClusterSettings
from exops.state.backups import FileBackups, check_backup, read_backup_file
from exops.state.sqlite import SqliteStore

SETTINGS = ClusterSettings(peers=("10.0.0.11", "10.0.0.12", "", "", "", ""), primary=1)


def a_backup(tmp_path: Path) -> Path:
    return Path(FileBackups(tmp_path / "b").save("c1", "p1", SETTINGS.model_dump(mode="json"), "r"))


def test_a_backup_reads_back_the_settings_it_saved(tmp_path: Path) -> None:
    doc = read_backup_file(a_backup(tmp_path))
    assert ClusterSettings.model_validate(doc["settings"]) == SETTINGS


def test_a_huge_sparse_file_is_refused_from_its_size(tmp_path: Path) -> None:
    """1 GiB of holes: refused at once (exit 2), never read into memory (it took 2 GB)."""
    big = tmp_path / "big.json"
    with big.open("wb") as fh:
        fh.truncate(1 << 30)
    with pytest.raises(UsageError, match="backup file larger than 64 KiB; refused") as exc:
        read_backup_file(big)
    assert exc.value.exit_code == 2


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"just some notes\n", "not JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"settings": {}}', "no cluster, host, taken_at"),
        (
            b'{"cluster": "c1", "host": "p1", "taken_at": "x", "settings": {}}',
            "settings without peers",
        ),
        (
            json.dumps(
                {
                    "cluster": "c1",
                    "host": "p1",
                    "taken_at": "x",
                    "settings": {**SETTINGS.model_dump(mode="json"), "primary": 9},
                }
            ).encode(),
            "settings.primary",
        ),
    ],
    ids=["text", "binary", "list", "no-fields", "empty-settings", "bad-primary"],
)
def test_a_file_that_is_not_a_backup_is_exit_2(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(UsageError) as exc:
        read_backup_file(path)
    assert exc.value.exit_code == 2
    assert "not an exops backup" in str(exc.value) and why in str(exc.value), str(exc.value)


def test_a_fifo_is_not_a_backup_file(tmp_path: Path) -> None:
    fifo = tmp_path / "b.json"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="FIFO"):
        read_backup_file(fifo)


def test_the_store_and_the_file_reader_give_the_same_answer(tmp_path: Path) -> None:
    path = a_backup(tmp_path)
    store = FileBackups(tmp_path / "b")
    latest = store.latest("c1", "p1")
    assert latest is not None and latest[1] == read_backup_file(path)["settings"]
    assert store.read(str(path)) == read_backup_file(path)["settings"]
    bad = {"cluster": "c1", "host": "p1", "taken_at": "x", "settings": {"peers": []}}
    with pytest.raises(UsageError) as from_doc:
        check_backup(bad, "here")
    path.write_text(json.dumps(bad))
    with pytest.raises(UsageError) as from_file:
        store.read(str(path))
    assert str(from_doc.value).partition("(")[2] == str(from_file.value).partition("(")[2]


def test_state_directory_and_backups_are_owner_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = SqliteStore(state, lock_dir=tmp_path / "locks")
    where = Path(store.backups.save("c1", "p1", SETTINGS.model_dump(mode="json"), "r"))
    assert state.stat().st_mode & 0o777 == 0o700
    assert (state / "backups").stat().st_mode & 0o777 == 0o700
    assert where.parent.stat().st_mode & 0o777 == 0o700
    assert where.stat().st_mode & 0o777 == 0o600
    assert (state / "journal.sqlite").stat().st_mode & 0o777 == 0o600


def test_a_state_directory_whose_backups_is_a_link_is_refused(tmp_path: Path) -> None:
    state, elsewhere = tmp_path / "state", tmp_path / "elsewhere"
    state.mkdir()
    elsewhere.mkdir()
    (state / "backups").symlink_to(elsewhere)
    with pytest.raises(UsageError, match=r"backup directory .* is a symbolic link") as exc:
        SqliteStore(state, lock_dir=tmp_path / "locks")
    assert exc.value.exit_code == 2
    assert list(elsewhere.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make another user's directory")
def test_a_state_directory_whose_backups_belongs_to_another_user_is_refused(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    (state / "backups").mkdir(parents=True)
    os.chown(state / "backups", 4242, 4242)
    with pytest.raises(UsageError, match="belongs to uid 4242"):
        SqliteStore(state, lock_dir=tmp_path / "locks")

"""Env.build's inventory messages: where exops looked and why there, and the example
inventory said once; the CLI's global ``--inventory`` (``exops --inventory DIR CMD``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from paths import REPO
from typer.testing import CliRunner

from exops.cli.app import app
from exops.core.errors import InventoryError
from exops.run.env import EXAMPLE_MARK, Env

FLAGS = "before or after the command: exops --inventory DIR status"


def test_missing_inventory_from_the_flag_names_the_resolved_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InventoryError) as err:
        Env.build(inventory=Path("nowhere"))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'nowhere'}: inventory directory not found")
    assert "(given with --inventory)" in message and FLAGS in message
    assert "\n" not in message


def test_missing_inventory_by_default_says_it_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InventoryError, match="the default, inventory/ in the current directory"):
        Env.build()
    with pytest.raises(InventoryError) as err:
        Env.build()
    assert str(err.value).startswith(f"{tmp_path / 'inventory'}:")


def test_missing_inventory_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXOPS_INVENTORY", str(tmp_path / "inv"))
    (tmp_path / "inv").write_text("a file")
    with pytest.raises(InventoryError) as err:
        Env.build()
    assert f"{tmp_path / 'inv'}: is not a directory (from EXOPS_INVENTORY)" in str(err.value)


def _example(tmp_path: Path) -> Path:
    """A copy of the shipped example inventory as ./inventory in tmp_path."""
    shutil.copytree(REPO / "inventory", tmp_path / "inventory")
    return tmp_path / "inventory"


def test_the_shipped_example_inventory_carries_the_mark() -> None:
    assert (REPO / "inventory" / "hosts.yaml").read_text().startswith(EXAMPLE_MARK)


def test_the_example_inventory_is_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _example(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXOPS_STATE_DIR", str(tmp_path / "state"))
    note = Env.build().example_note()
    assert note is not None and "example inventory" in note and "core-c, edge-e" in note
    assert str(tmp_path / "inventory") in note and "--inventory DIR" in note
    assert Env.build().example_note() is None  # said once


def test_no_note_for_an_inventory_of_ones_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = _example(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXOPS_STATE_DIR", str(tmp_path / "state"))
    assert Env.build(inventory=inv).example_note() is None  # named on purpose
    hosts = inv / "hosts.yaml"
    hosts.write_text("\n".join(hosts.read_text().splitlines()[2:]) + "\n")  # the mark deleted
    assert Env.build().example_note() is None


def test_global_inventory_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`exops --inventory DIR CMD` is the command's --inventory; the command's own wins."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["--inventory", "elsewhere", "status", "-c", "c1"])
    assert isinstance(result.exception, InventoryError)  # main() makes it one line, exit 2
    assert f"{tmp_path / 'elsewhere'}: inventory directory not found" in str(result.exception)
    result = runner.invoke(app, ["-i", "elsewhere", "status", "--inventory", "mine"])
    assert f"{tmp_path / 'mine'}: inventory directory not found" in str(result.exception)
    result = runner.invoke(app, ["status"])  # not remembered from the call before
    assert f"{tmp_path / 'inventory'}: inventory directory not found" in str(result.exception)

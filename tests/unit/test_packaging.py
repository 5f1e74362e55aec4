"""The package as pyproject.toml declares it: the wheel ships every package and data
file of the source tree (the docs included), the lab is an extra (`exops[lab]`), the
metadata is filled. tests/integration/test_wheel.py builds and installs the wheel."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from paths import REPO

from exops.tools.labcli import LAB_INSTALL, LAB_MODULES

ROOT = REPO


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _config() -> dict[str, Any]:
    return _pyproject()["tool"]["setuptools"]  # type: ignore[no-any-return]


def _source_dir(pkg: str) -> Path:
    """Where a package's files are in the source tree (package-dir maps a package
    and, below it, its subpackages: exops.docs.examples -> docs/examples)."""
    mapping = _config().get("package-dir", {})
    parts = pkg.split(".")
    for n in range(len(parts), 0, -1):
        head = ".".join(parts[:n])
        if head in mapping:
            return ROOT / mapping[head] / "/".join(parts[n:])
    return ROOT / "/".join(parts)


def test_every_source_package_is_listed() -> None:
    listed = set(_config()["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("exops", "exops.lab")
        for init in (ROOT / top).rglob("__init__.py")
    }
    missing = sorted(on_disk - listed)
    assert not missing, f"packages missing from pyproject.toml: {missing}"
    for pkg in listed:
        assert _source_dir(pkg).is_dir(), f"{pkg}: no directory {_source_dir(pkg)}"


def test_package_data_is_listed() -> None:
    data = _config()["package-data"]
    for pkg, patterns in data.items():
        for pattern in patterns:
            assert list(_source_dir(pkg).glob(pattern)), f"{pkg}: no file matches {pattern}"
    non_py = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "exops").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    shipped = {
        f.relative_to(ROOT).as_posix()
        for pkg, patterns in data.items()
        for pattern in patterns
        for f in _source_dir(pkg).glob(pattern)
    }
    assert non_py <= shipped, f"files in exops/ not shipped: {sorted(non_py - shipped)}"


def test_every_document_ships() -> None:
    """docs/ ships as exops.docs (`exops --help` names where): every document of it."""
    shipped = {
        f.relative_to(ROOT).as_posix()
        for pkg, patterns in _config()["package-data"].items()
        if pkg.startswith("exops.docs")
        for pattern in patterns
        for f in _source_dir(pkg).glob(pattern)
    }
    docs = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*") if p.is_file()}
    assert docs <= shipped, f"documents not shipped: {sorted(docs - shipped)}"


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_lab_is_an_extra() -> None:
    """`pip install exops` brings no simulator dependency; `exops[lab]` does, and what
    exops checks before starting the lab (LAB_MODULES) is that extra."""
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    assert _names(extras["lab"]) == set(LAB_MODULES)
    assert not _names(project["dependencies"]) & set(LAB_MODULES)
    for name in ("test", "bench", "mock"):
        assert "exops[lab]" in extras[name], name
    assert LAB_INSTALL == "pip install 'exops[lab]'"


def test_metadata_is_filled() -> None:
    project = _pyproject()["project"]
    for key in ("license", "authors", "keywords", "classifiers", "readme", "description"):
        assert project.get(key), key
    assert any(c.startswith("Intended Audience") for c in project["classifiers"])

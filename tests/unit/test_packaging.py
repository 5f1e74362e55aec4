"""The wheel ships every package of the source tree (a plain `pip install .`)."""

from __future__ import annotations

import tomllib

from paths import REPO

ROOT = REPO


def _config() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_source_package_is_listed() -> None:
    listed = set(_config()["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("exops", "exops.lab")
        for init in (ROOT / top).rglob("__init__.py")
    }
    missing = sorted(on_disk - listed)
    assert not missing, f"packages missing from pyproject.toml: {missing}"


def test_package_data_is_listed() -> None:
    data = _config()["package-data"]
    for pkg, patterns in data.items():
        base = ROOT / _config().get("package-dir", {}).get(pkg, pkg.replace(".", "/"))
        for pattern in patterns:
            assert list(base.glob(pattern)), f"{pkg}: no file matches {pattern}"
    non_py = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "exops").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    shipped = {
        f.relative_to(ROOT).as_posix()
        for pkg, patterns in data.items()
        if pkg.startswith("exops")
        for pattern in patterns
        for f in (ROOT / pkg.replace(".", "/")).glob(pattern)
    }
    assert non_py <= shipped, f"files in exops/ not shipped: {sorted(non_py - shipped)}"

"""The wheel, built and installed outside the repository, as a user gets it.

The wheel is built from a copy of the sources and installed, without its
dependencies, into a fresh venv in a temporary directory; the dependencies come
from this venv's site-packages through a ``.pth`` line, so it runs offline. The
installed ``exops`` runs twice: with the lab's dependencies, and with a copy of
the site-packages that lacks them (a plain ``pip install exops``), against a real
lab started from this venv.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path
from typing import Any

import pytest
from paths import REPO

from exops.tools.labcli import LAB_MODULES

pytestmark = pytest.mark.integration

ROOT = REPO


def _run(
    *cmd: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - the callers check the code
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


# What `pip install .` reads: pyproject.toml, the readme and the package directories.
SOURCES = ("pyproject.toml", "README.md", "exops", "docs", "runbooks", "templates")


def _build_wheel(out: Path) -> Path:
    """`pip wheel` of a copy of the source tree (the build writes build/ and egg-info
    beside the sources: never in the repository, never shared by parallel tests),
    without dependencies; without build isolation when this venv's setuptools is
    recent enough (scripts/setup.sh installs it), so no index is needed."""
    import setuptools

    src = out / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    recent = int(setuptools.__version__.split(".")[0]) >= 77  # pyproject's build-system
    offline = ["--no-build-isolation"] if recent else []
    proc = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *offline, "-w", out, src,
        cwd=out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = out.glob("exops-*.whl")
    return wheel


def _site_packages(prefix: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))


def _deps_without(skip: tuple[str, ...], into: Path) -> Path:
    """A copy (symlinks) of this venv's site-packages minus exops and ``skip``."""
    into.mkdir()
    here = Path(sysconfig.get_path("purelib"))
    for entry in here.iterdir():
        name = entry.name.lower()
        drop = ("exops", "__editable__", *skip)
        if not name.startswith(drop) and entry.suffix != ".pth":
            (into / entry.name).symlink_to(entry)
    return into


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fresh venv outside the repository with the wheel installed (no dependencies)."""
    base = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(base)
    prefix = base / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(prefix)
    proc = _run(
        sys.executable, "-m", "pip", "--python", prefix / "bin" / "python", "install", "-q",
        "--no-deps", "--no-index", wheel, cwd=base,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    site = _site_packages(prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXOPS_", "PYTHON"))}
    env.update(EXOPS_STATE_DIR=str(base / "state"), HOME=str(base))
    return {
        "base": base,
        "prefix": prefix,
        "site": site,
        "wheel": wheel,
        "env": env,
        "full": _deps_without((), base / "deps-full"),
        "nolab": _deps_without(LAB_MODULES, base / "deps-nolab"),
    }


def _use(installed: dict[str, Any], deps: Path) -> None:
    (installed["site"] / "_exops_test_deps.pth").write_text(f"{deps}\n")


def test_wheel_installed_outside_the_repo(installed: dict[str, Any]) -> None:
    base, prefix, env = installed["base"], installed["prefix"], installed["env"]
    _use(installed, installed["full"])
    exops = prefix / "bin" / "exops"
    where = _run(
        prefix / "bin" / "python", "-c", "import exops; print(exops.__file__)", cwd=base, env=env
    )
    assert where.stdout.strip().startswith(str(installed["site"])), where
    assert ROOT.as_posix() not in where.stdout
    top_level = sorted(p.name for p in installed["site"].iterdir() if not p.name.startswith("_"))
    assert "mock_server" not in top_level and "exops" in top_level, top_level
    assert [p for p in top_level if not p.startswith("exops")] == [], top_level

    help_ = _run(exops, "--help", cwd=base, env=env)
    assert help_.returncode == 0, help_.stderr
    docs = re.search(r"(\S+/exops/docs/README\.md)", help_.stdout)
    assert docs and Path(docs.group(1)).is_file(), help_.stdout[-600:]
    assert (Path(docs.group(1)).parent / "domain.md").is_file()
    version = _run(exops, "--version", cwd=base, env=env)
    assert version.returncode == 0 and version.stdout.strip() == "exops 0.1.0", version
    lab = _run(prefix / "bin" / "python", "-m", "exops.lab", "--help", cwd=base, env=env)
    assert lab.returncode == 0 and "up" in lab.stdout, lab.stderr
    meta = _run(
        prefix / "bin" / "python",
        "-c",
        "import importlib.metadata as m; d = m.metadata('exops'); print(d['License-Expression'], '|', d['Author-email'], '|', len(d.get_all('Classifier')))",
        cwd=base,
        env=env,
    )
    assert meta.returncode == 0 and "LicenseRef" in meta.stdout and "maintainers" in meta.stdout, (
        meta
    )


def test_wheel_without_the_lab_extra(installed: dict[str, Any], lab_factory: Any) -> None:
    """A plain `pip install exops`: every command but the lab's works, on real
    appliances too (a lab started from this venv); rehearse, the demo and the lab
    itself say in one line how to get the lab."""
    base, prefix, env = installed["base"], installed["prefix"], installed["env"]
    _use(installed, installed["nolab"])
    exops = prefix / "bin" / "exops"
    python = prefix / "bin" / "python"
    absent = _run(python, "-c", "import aiohttp", cwd=base, env=env)
    assert absent.returncode != 0  # the lab's dependencies are really missing
    for args in (
        ("--help",),
        ("--version",),
        ("config",),
        ("status", "--help"),
        ("logs", "analyze", "--help"),
    ):
        proc = _run(exops, *args, cwd=base, env=env)
        assert proc.returncode == 0, (args, proc.stderr)
    lab_env = {**env, **lab_factory(clusters=1, peers=2, time_scale=0.01, preset="formed").env}
    status = _run(exops, "status", "-c", "c1", "--json", cwd=base, env=lab_env)
    assert status.returncode == 0 and '"healthy"' in status.stdout, status
    inv = lab_env.pop("EXOPS_INVENTORY")
    rehearse = _run(
        exops, "--inventory", inv, "rehearse", "restart", "-c", "c1", cwd=base, env=lab_env
    )
    assert rehearse.returncode == 2, rehearse
    lines = rehearse.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'exops[lab]'" in lines[0], rehearse.stderr
    assert "Traceback" not in rehearse.stderr
    lab = _run(python, "-m", "exops.lab", "up", "--state-dir", base / "lab", cwd=base, env=env)
    assert lab.returncode == 2 and "pip install 'exops[lab]'" in lab.stderr, lab
    assert lab.stderr.strip().count("\n") == 0, lab.stderr
    demo = _run(python, "-m", "exops.tools.demo", cwd=base, env=env)
    assert demo.returncode == 2, demo
    assert demo.stderr.strip().count("\n") == 0 and "pip install 'exops[lab]'" in demo.stderr, (
        demo.stderr
    )

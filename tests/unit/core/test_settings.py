"""Where a setting comes from is worked out once (``settings.resolve``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exops.core.errors import UsageError
from exops.core.settings import Resolved, load_settings, resolve


def test_each_setting_has_its_value_and_source(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("workers: 7\nread_timeout: 9\nrestart_timeout: 60\n")
    env = {"EXOPS_CONFIG": str(config), "EXOPS_READ_TIMEOUT": "11", "EXOPS_INSECURE": ""}
    got = resolve({"restart_timeout": "90", "username": None}, environ=env)
    assert got["workers"] == Resolved(7, f"file ({config})")
    assert got["read_timeout"] == Resolved(11.0, "environment (EXOPS_READ_TIMEOUT)")
    assert got["restart_timeout"] == Resolved(90.0, "flag (--restart-timeout)")
    assert got["insecure"] == Resolved(False, "default")  # an empty variable is unset
    assert got["username"] == Resolved(None, "default")
    settings = load_settings({"restart_timeout": "90"}, environ=env)
    assert {k: getattr(settings, k) for k in got} == {k: r.value for k, r in got.items()}


def test_a_bad_value_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="EXOPS_WORKERS: workers"):
        resolve(environ={"EXOPS_WORKERS": "0", "EXOPS_CONFIG": str(tmp_path / "none")})


def test_exops_config_shows_what_resolve_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from exops.cli import config

    path = tmp_path / "config.yaml"
    path.write_text("lock_timeout: 2\n")
    monkeypatch.setenv("EXOPS_CONFIG", str(path))
    monkeypatch.setenv("EXOPS_WORKERS", "3")
    assert config.show(json_out=True) == 0
    doc = json.loads(capsys.readouterr().out)["settings"]
    assert doc["lock_timeout"] == {"value": 2.0, "source": f"file ({path})"}
    assert doc["workers"] == {"value": 3, "source": "environment (EXOPS_WORKERS)"}
    assert doc["transport"] == {"value": None, "source": "default"}
    assert {k: (v["value"], v["source"]) for k, v in doc.items()} == {
        k: (None if r.value is None else json.loads(json.dumps(r.value, default=str)), r.source)
        for k, r in resolve().items()
    }

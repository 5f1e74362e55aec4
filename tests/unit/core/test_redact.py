"""Redaction: secrets never reach the journal, events or reports."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, SecretStr

from exops.core.redact import MASK, is_secret_key, redact, redact_text


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Password",
        "admin_password",
        "password_file",
        "passwd",
        "SharedSecret",
        "client-secret",
        "token",
        "api_key",
        "apiKey",
        "private_key",
        "Authorization",
    ],
)
def test_secret_key_names(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["option_keys", "keys", "tokenizer", "monkey", "peer", "description", "host_key_policy"]
)
def test_harmless_key_names(key: str) -> None:
    assert not is_secret_key(key)


def test_redact_nested_structure_is_a_masked_deep_copy() -> None:
    original = {
        "cluster": "c1",
        "Password": "hunter2",
        "peers": [{"name": "exp1", "SharedSecret": "s3cr3t", "token": None}],
        "flags": ("x", {"api-key": 42}),
        "password_set": True,
        "option_keys": ["a", "b"],
        "note": "login with password=hunter2 now",
        "cred": SecretStr("topsecret"),
    }
    snapshot = json.loads(json.dumps(original, default=str))
    out = redact(original)
    assert out == {
        "cluster": "c1",
        "Password": MASK,
        "peers": [{"name": "exp1", "SharedSecret": MASK, "token": None}],
        "flags": ("x", {"api-key": MASK}),
        "password_set": True,
        "option_keys": ["a", "b"],
        "note": f"login with password={MASK} now",
        "cred": MASK,
    }
    # the input is untouched
    assert json.loads(json.dumps(original, default=str)) == snapshot
    assert out["peers"] is not original["peers"]


def test_secret_under_a_secret_key_is_masked_whole_even_if_structured() -> None:
    assert redact({"credentials": {"user": "a", "pw": "b"}}) == {"credentials": MASK}


def test_pydantic_models_become_masked_dumps() -> None:
    class Login(BaseModel):
        username: str
        password: SecretStr
        api_token: str

    out = redact({"login": Login(username="admin", password=SecretStr("x1"), api_token="t0k")})
    assert out == {"login": {"username": "admin", "password": MASK, "api_token": MASK}}


def test_non_text_scalars_pass_through() -> None:
    assert redact(3) == 3
    assert redact(None) is None
    assert redact(1.5) == 1.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2 user=bob", f"password={MASK} user=bob"),
        ("EXOPS_PASSWORD=hunter2", f"EXOPS_PASSWORD={MASK}"),
        ('{"password": "hunter2", "x": 1}', f'{{"password": "{MASK}", "x": 1}}'),
        ("SharedSecret: s3cr3t;", f"SharedSecret: {MASK};"),
        ("Authorization: Basic YWRtaW46aHVudGVyMg==", f"Authorization: Basic {MASK}"),
        ('-H "Authorization: Bearer eyJhbGci.eyJz.sig"', f'-H "Authorization: Bearer {MASK}"'),
        ("sent Bearer abcdefghijkl to host", f"sent Bearer {MASK} to host"),
        ("GET https://admin:hunter2@exp1/api", f"GET https://admin:{MASK}@exp1/api"),
        ("api_key='k-123' ok", f"api_key='{MASK}' ok"),
    ],
)
def test_redact_text_masks_credentials(text: str, expected: str) -> None:
    assert redact_text(text) == expected
    assert "hunter2" not in redact_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "exp1 restart: timed out after 1800 s",
        "no password for peer exp1: set EXOPS_PASSWORD_EXP1 or EXOPS_PASSWORD",
        "option keys: a, b",
        "basic check ok",
        "",
    ],
)
def test_redact_text_leaves_ordinary_text_alone(text: str) -> None:
    assert redact_text(text) == text


def test_redact_text_is_idempotent() -> None:
    once = redact_text("password=hunter2 Authorization: Bearer abcdefghij")
    assert redact_text(once) == once


def test_redact_text_is_linear_on_long_lines() -> None:
    """A guard against catastrophic backtracking, not a speed target (those live in
    bench/): on 500,000 characters a quadratic pattern takes hours, a linear one
    well under a second, so the 60 s bound holds on any machine load and fails only
    on a pattern that backtracks."""
    import time

    long_word = "x" * 500_000
    t0 = time.monotonic()
    assert redact_text(long_word) == long_word
    assert redact_text(f"{long_word} password={long_word}") == f"{long_word} password={MASK}"
    assert redact_text("https://" + "a" * 500_000) == "https://" + "a" * 500_000
    assert time.monotonic() - t0 < 60


def test_one_secret_rule_for_the_journal_and_the_reports() -> None:
    """``is_secret`` decides for both; reports also mask a secret-named None or bool."""
    from pydantic import SecretStr

    from exops.core.redact import is_secret, scrub, secret_values
    from exops.report import render_run
    from exops.report.view import mask_secrets

    assert is_secret("admin_password", "x") and is_secret("anything", SecretStr("x"))
    assert not is_secret("option_keys", "x")
    assert not is_secret("password_set", True) and is_secret("password_set", True, flags=True)
    assert not is_secret("token", None) and is_secret("token", None, flags=True)
    value = {
        "password": None,
        "password_set": True,
        "note": "login with password=hunter2",
        "peers": ("p1", {"api_key": "k3y"}),
    }
    journal = redact(value)
    assert journal["password"] is None and journal["password_set"] is True
    report = mask_secrets(value)
    assert report["password"] == report["password_set"] == MASK
    # both mask inside strings and in nested containers
    assert journal["note"] == report["note"] == f"login with password={MASK}"
    assert journal["peers"][1] == report["peers"][1] == {"api_key": MASK}
    secrets = secret_values({"password": "hunter2", "flag_secret": False, "x": {"token": "t0k3n"}})
    assert secrets == ("hunter2", "t0k3n")
    assert scrub("a hunter2 b t0k3n", secrets) == f"a {MASK} b {MASK}"
    run = {"run_id": "r1", "params": {"secret": None, "peer": "p2"}, "steps": []}
    assert '"secret": "********"' in render_run(run, "json")

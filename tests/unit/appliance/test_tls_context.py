"""One TLS context per CA bundle for every peer of a run (issue 22: loading the CA
store once per peer cost ~4 ms of CPU each, 0.5 s of a 120-peer status)."""

from __future__ import annotations

import os
import shutil
import ssl
from pathlib import Path
from typing import Any

import certifi
import pytest
from pydantic import SecretStr

from exops.appliance import rest
from exops.appliance.base import ConnectionTarget
from exops.appliance.connection import rest_appliance
from exops.core.errors import UsageError


def _target(host: str, bundle: Path | None, verify: bool = True) -> ConnectionTarget:
    return ConnectionTarget(
        host=host,
        hostname=f"{host}.example.com",
        password=SecretStr("pw"),
        ca_bundle=str(bundle) if bundle else None,
        verify_tls=verify,
    )


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every CA store load, by bundle."""
    seen: list[str | None] = []
    real = ssl.create_default_context

    def counting(*args: Any, cafile: str | None = None, **kw: Any) -> ssl.SSLContext:
        seen.append(cafile)
        return real(*args, cafile=cafile, **kw)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    monkeypatch.setattr(rest, "_CONTEXTS", {}, raising=False)
    return seen


def test_every_peer_shares_one_context_per_bundle(tmp_path: Path, loads: list[str | None]) -> None:
    bundle = tmp_path / "ca.pem"
    shutil.copy(certifi.where(), bundle)
    apps = [rest_appliance(_target(f"p{i}", bundle)) for i in range(5)]
    try:
        assert loads == [str(bundle)]  # one load for five peers (pool and client)
        contexts = {id(rest.ssl_context(a.target)) for a in apps}
        assert len(contexts) == 1
        ctx = rest.ssl_context(apps[0].target)
        assert isinstance(ctx, ssl.SSLContext)
        assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname  # verification on
        # The system store is another context, loaded once too.
        rest.ssl_context(_target("s1", None))
        rest.ssl_context(_target("s2", None))
        assert loads == [str(bundle), None]
        assert rest.ssl_context(_target("n", bundle, verify=False)) is False
    finally:
        for a in apps:
            a.close()


def test_a_bundle_rewritten_in_place_is_loaded_again(
    tmp_path: Path, loads: list[str | None]
) -> None:
    bundle = tmp_path / "ca.pem"
    shutil.copy(certifi.where(), bundle)
    first = rest.ssl_context(_target("p1", bundle))
    text = bundle.read_text()
    bundle.write_text(text + "\n")
    st = bundle.stat()
    os.utime(bundle, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = rest.ssl_context(_target("p1", bundle))
    assert second is not first and len(loads) == 2


def test_a_missing_bundle_is_still_one_clear_error(tmp_path: Path, loads: list[str | None]) -> None:
    with pytest.raises(UsageError):
        rest.ssl_context(_target("p1", tmp_path / "nope.pem"))
    assert rest._CONTEXTS == {}

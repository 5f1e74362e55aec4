"""Each REST client loads its trust store once (issue 22: start-up; with the system
store, loading it is ~20 ms of CPU per peer), and every connection is still verified
by that one context."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from exops.appliance import rest
from exops.appliance.base import ConnectionTarget
from exops.appliance.connection import rest_appliance

TARGET = ConnectionTarget(
    host="exp-c-1", hostname="exp-c-1.example.com", port=443, password=SecretStr("pw")
)


@pytest.fixture
def contexts(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    made: list[Any] = []
    real = rest.ssl_context

    def counted(target: ConnectionTarget) -> Any:
        made.append(real(target))
        return made[-1]

    monkeypatch.setattr(rest, "ssl_context", counted)
    return made


def _verifying_context(client: httpx.Client, url: str) -> ssl.SSLContext:
    transport = client._transport_for_url(httpx.URL(url))
    assert isinstance(transport, rest.DeadlineTransport)
    context = transport._pool._ssl_context
    assert isinstance(context, ssl.SSLContext)
    return context


def test_a_client_of_its_own_loads_the_trust_store_once(contexts: list[Any]) -> None:
    app = rest.RestAppliance(TARGET)
    try:
        assert len(contexts) == 1
        context = _verifying_context(app.client, rest.base_url(TARGET))
        assert context is contexts[0]
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    finally:
        app.close()


def test_a_client_on_a_shared_pool_loads_no_trust_store(contexts: list[Any]) -> None:
    app = rest_appliance(TARGET)  # the Nornir connection's: one context per trust setting
    try:
        context = _verifying_context(app.client, rest.base_url(TARGET))
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        before = len(contexts)
        app.client.close()
        app.client = app._new_client()  # as after a restart: the same pool, a new client
        assert len(contexts) == before
        assert _verifying_context(app.client, rest.base_url(TARGET)) is context
    finally:
        app.close()


def test_no_proxy_from_the_environment_bypasses_the_verifying_transport(
    contexts: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    app = rest.RestAppliance(TARGET)
    try:
        _verifying_context(app.client, rest.base_url(TARGET))
    finally:
        app.close()

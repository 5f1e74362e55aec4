"""The certificate renewal forms over ``httpx.MockTransport`` (knowledge.toml [certs],
docs/contract.md section 15): exactly the evidence's paths, fields and bodies."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from exops.appliance.base import ConnectionTarget
from exops.appliance.rest import (
    RestAppliance,
    add_trusted_cas,
    cert_forms,
    generate_csr,
    read_pending_csr,
    rest_of,
    upload_server_certificate,
)
from exops.core.errors import ApplianceError

TARGET = ConnectionTarget(host="p1", hostname="10.0.0.11", password=SecretStr("pw"), retries=0)
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"


def _app(handler: Any) -> tuple[RestAppliance, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)  # type: ignore[no-any-return]

    return RestAppliance(TARGET, transport=httpx.MockTransport(record)), seen


def test_generate_csr_sends_the_evidence_fields_as_json_with_the_csrf_header() -> None:
    app, seen = _app(lambda r: httpx.Response(200, json={"Message": "OK"}))
    body = {"Additional_FQDNS": ["a.example.com"], "Country": "GB", "KeyLength": 2048}
    assert generate_csr(app, body) == "OK"
    (request,) = seen
    assert request.method == "POST" and request.url.path == cert_forms()["generate_csr"]
    assert json.loads(request.content) == body
    assert request.headers["X-CSRF-Header"] == "exops"
    with pytest.raises(ApplianceError, match="not in the evidence's form"):
        generate_csr(app, {"CommonName": "x"})
    assert len(seen) == 1  # nothing sent


def test_a_pending_csr_conflict_is_an_error_with_its_status() -> None:
    app, _ = _app(lambda r: httpx.Response(409, json={"Message": "Conflict"}))
    with pytest.raises(ApplianceError) as caught:
        generate_csr(app, {"Country": "GB"})
    assert caught.value.status_code == 409 and "Conflict" in str(caught.value)


def test_pending_csr_read_404_is_none_and_pem_is_returned() -> None:
    app, _ = _app(lambda r: httpx.Response(404, json={"Message": "No CSR"}))
    assert read_pending_csr(app) is None
    app, _ = _app(lambda r: httpx.Response(200, text=CSR))
    assert read_pending_csr(app) == CSR
    app, _ = _app(lambda r: httpx.Response(200, text="<html>"))
    with pytest.raises(ApplianceError, match="not a PEM certificate request"):
        read_pending_csr(app)


@pytest.mark.parametrize(
    ("send", "path"),
    [(upload_server_certificate, "server"), (add_trusted_cas, "root")],
)
def test_uploads_are_multipart_file_fields(send: Any, path: str) -> None:
    app, seen = _app(lambda r: httpx.Response(200, json={"Message": "OK"}))
    assert send(app, PEM) == "OK"
    (request,) = seen
    assert request.url.path == cert_forms()[path]
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="file"' in request.content and PEM.encode() in request.content


def test_rest_of_refuses_an_appliance_without_rest() -> None:
    app, _ = _app(lambda r: httpx.Response(200))
    assert rest_of(app) is app
    with pytest.raises(ApplianceError, match="needs the REST API"):
        rest_of(object())

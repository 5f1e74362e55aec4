"""Maintenance mode and calls/registrations reads (exops/appliance/maintenance.py), over
REST (httpx.MockTransport) and a scripted SSH shell: known values pass, anything else
is unknown with the reason, and the forms come from knowledge.toml with their marks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from exops.appliance.base import ConnectionTarget
from exops.appliance.factory import RoutedAppliance
from exops.appliance.knowledge import CDB
from exops.appliance.maintenance import (
    MAINTENANCE,
    USAGE,
    instruction,
    mode_value,
    read_mode,
    read_usage,
    usage_from_tree,
    web_url,
)
from exops.appliance.rest import RestAppliance
from exops.appliance.ssh import SshAppliance
from exops.appliance.xapi import parse_status

TARGET = ConnectionTarget(
    host="exp-c-2", hostname="10.0.0.12", password=SecretStr("pw"), transport="auto"
)

USAGE_ANSWER = """\
*s ResourceUsage: /
  Calls:
    Traversal:
      Current: 2
      Max: 5
      Total: 40
    NonTraversal:
      Current: 1
      Max: 3
      Total: 12
    CollaborationEdge:
      Current: 4
      Max: 4
      Total: 9
  Registrations:
    Current: 17
    Max: 20
    Total: 300
*s/end

OK
"""


def test_the_forms_are_data_with_marks_and_sources() -> None:
    assert (MAINTENANCE.table, MAINTENANCE.field) == ("configuration/system", "maintenance_mode")
    assert MAINTENANCE.table == CDB.system_config
    assert MAINTENANCE.set_page == "Maintenance > Maintenance mode"
    assert MAINTENANCE.set_mark.startswith("CONFIRMED") and "web page only" in MAINTENANCE.set_mark
    assert MAINTENANCE.read_mark.startswith("CONFIRMED")
    assert MAINTENANCE.values_mark == "MOCK-DEFINED"  # the evidence shows no values
    assert USAGE.command == "xStatus ResourceUsage" and USAGE.mark.startswith("INFERRED")
    for source in (MAINTENANCE.set_source, MAINTENANCE.read_source, USAGE.source):
        assert source


@pytest.mark.parametrize(
    ("raw", "on"),
    [("on", True), ("On", True), (" ON ", True), ("off", False), ("Off", False)],
)
def test_known_values(raw: str, on: bool) -> None:
    read = mode_value(raw)
    assert (read.on, read.raw, read.why) == (on, raw, "")


@pytest.mark.parametrize("raw", ["Unknown", "", "enabled", "1", None, 1, True, ["on"]])
def test_anything_else_is_unknown_with_the_reason(raw: Any) -> None:
    read = mode_value(raw)
    assert read.on is None and read.why
    assert read.describe().startswith("unknown (")


def test_usage_sums_every_call_type() -> None:
    ((node, tree),) = parse_status(USAGE_ANSWER, USAGE.command)
    assert node == "ResourceUsage"
    read = usage_from_tree(tree)
    assert (read.calls, read.registrations) == (7, 17)
    assert dict(read.by_type) == {"Traversal": 2, "NonTraversal": 1, "CollaborationEdge": 4}
    assert read.describe() == "7 calls, 17 registrations"


@pytest.mark.parametrize(
    ("tree", "needle"),
    [
        ({}, "no Calls"),
        ({"Calls": {}}, "no Calls"),
        ({"Calls": {"Traversal": {"Current": "x"}}, "Registrations": {"Current": "1"}}, "'x'"),
        ({"Calls": {"Traversal": {"Max": "1"}}, "Registrations": {"Current": "1"}}, "None"),
        ({"Calls": {"Traversal": {"Current": "0"}}}, "Registrations Current"),
        ({"Calls": {"Traversal": {"Current": "0"}}, "Registrations": {"Current": "-1"}}, "'-1'"),
        ("garbage", "no ResourceUsage"),
    ],
)
def test_a_count_that_is_not_a_number_is_unknown(tree: Any, needle: str) -> None:
    read = usage_from_tree(tree)
    assert read.calls is None and read.registrations is None
    assert needle in read.why


def test_the_instruction_names_the_page_the_setting_and_the_peer() -> None:
    text = instruction("exp-c-2", web_url("10.0.0.12"))
    assert text == (
        "on peer exp-c-2, open its web interface at https://10.0.0.12/ and go to "
        "Maintenance > Maintenance mode; set Maintenance mode to On, then Save "
        "(there is no REST or command-line form for it)"
    )
    assert web_url("2001:db8::12", 8443) == "https://[2001:db8::12]:8443/"


def _rest(cdb: bool, record: dict[str, Any] | None, seen: list[str]) -> RestAppliance:
    def router(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path.startswith(CDB.prefix):
            if not cdb:
                return httpx.Response(404, json={"Message": "Not Found"})
            recs = [] if record is None else [record]
            return httpx.Response(
                200, json=[{"peer": "10.0.0.12", "num_recs": len(recs), "records": recs}]
            )
        return httpx.Response(404, json={"Message": "Not Found"})

    client = httpx.Client(transport=httpx.MockTransport(router), base_url="https://10.0.0.12")
    return RestAppliance(TARGET, client=client, sleep=lambda s: None)


@pytest.mark.parametrize(
    ("cdb", "record", "on", "needle"),
    [
        (True, {"maintenance_mode": "on"}, True, ""),
        (True, {"maintenance_mode": "off"}, False, ""),
        (True, {"maintenance_mode": "Unknown"}, None, "'Unknown'"),
        (True, {"other": 1}, None, "has no maintenance_mode"),
        (True, None, None, "expected one record"),
        (False, None, None, "REST API is off"),
    ],
)
def test_read_mode_over_the_cluster_database(
    cdb: bool, record: dict[str, Any] | None, on: bool | None, needle: str
) -> None:
    seen: list[str] = []
    app = RoutedAppliance(TARGET, rest=_rest(cdb, record, seen))
    read = read_mode(app)
    assert read.on is on and needle in read.why
    assert all(s.startswith("GET ") for s in seen)  # a read only: never a write
    if cdb:
        assert f"GET {CDB.prefix}{MAINTENANCE.table}" in seen


class _Shell:
    def __init__(self, answers: dict[str, str], sent: list[str]):
        self.answers, self.sent = answers, sent

    def send(self, command: str) -> str:
        self.sent.append(command)
        return self.answers.get(command, "OK\n")

    def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("answer", "calls"),
    [
        (USAGE_ANSWER, 7),
        (
            '*r Result (status=Error):\n    Reason: "No such status path"\n*r/end\nERROR\n',
            None,
        ),
    ],
)
def test_read_usage_over_ssh(answer: str, calls: int | None) -> None:
    sent: list[str] = []
    answers = {"xStatus ResourceUsage": answer, "xConfiguration H323 Mode": "OK\n"}
    ssh = SshAppliance(TARGET, shell_factory=lambda t: _Shell(answers, sent))
    read = read_usage(RoutedAppliance(TARGET, rest=_rest(False, None, []), ssh=ssh))
    assert read.calls == calls
    assert "xStatus ResourceUsage" in sent
    if calls is None:
        assert read.why

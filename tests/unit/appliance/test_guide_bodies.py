"""Cisco's own example bodies through exops's real parsers (issue 24).

Each body below is copied exactly from the public source named beside it
(../shared/evidence/interface-2026-12.md, Table B, and
interface-2026-12-update.md). exops must read every documented shape of a
list-or-object answer, and read any other shape as *unknown* with the shape
named - never as "no servers".
"""

from __future__ import annotations

from typing import Any

import pytest

from exops.appliance.knowledge import REST
from exops.appliance.rest import Refused, parse_alarms, parse_system
from exops.core.models import Role

# Cisco Expressway REST API Summary Guide X14.2 (and the 2020 edition), "DNS server",
# GET /api/v1/provisioning/common/dns/dnsserver, response body:
#   { "DefaultDNSServers": { "index": 2, "address": "10.0.0.2" } }
# POST and PUT send the same wrapper.
GUIDE_DNS_SERVERS: Any = {"DefaultDNSServers": {"index": 2, "address": "10.0.0.2"}}

# Same guide, "NTP server", GET /api/v1/provisioning/common/time/ntpserver, response body:
#   {"index": 5, "KeyId": 1, "Hash": "sha1", "Authentication": "disabled", "Address": "10.0.0.1"}
GUIDE_NTP_SERVERS: Any = {
    "index": 5,
    "KeyId": 1,
    "Hash": "sha1",
    "Authentication": "disabled",
    "Address": "10.0.0.1",
}

# The sysinfo, dns and optionkey bodies have no public example (MOCK-DEFINED / CONFIRMED
# fields); these are the lab's forms, only here to feed the parser.
SYSINFO: Any = {
    "SystemName": "exp-c-1",
    "Version": "X15.2.1",
    "ProductType": "Expressway-C",
    "PlatformSize": "medium",
}
DNS: Any = {"SystemHostName": "exp-c-1", "DomainName": "example.com"}  # CONFIRMED fields


def _system(dns_servers: Any, ntp_servers: Any, keys: Any = ()) -> tuple[Any, dict[str, str]]:
    unknown: dict[str, str] = {}
    info = parse_system(SYSINFO, DNS, dns_servers, ntp_servers, list(keys), True, unknown)
    return info, unknown


def test_the_guide_dns_and_ntp_bodies_are_read() -> None:
    info, unknown = _system(GUIDE_DNS_SERVERS, GUIDE_NTP_SERVERS)
    assert info.dns_servers == ("10.0.0.2",)
    assert info.ntp_servers == ("10.0.0.1",)
    assert "system.dns_servers" not in unknown and "system.ntp_servers" not in unknown
    assert (info.version, info.role) == ("X15.2.1", Role.EXPRESSWAY_C)


@pytest.mark.parametrize(
    ("dns", "ntp", "want_dns", "want_ntp"),
    [
        # the wrapped object (DNS, the guide's form)
        (GUIDE_DNS_SERVERS, GUIDE_NTP_SERVERS, ("10.0.0.2",), ("10.0.0.1",)),
        # a single object (NTP, the guide's form; DNS without its wrapper)
        ({"index": 2, "address": "10.0.0.2"}, GUIDE_NTP_SERVERS, ("10.0.0.2",), ("10.0.0.1",)),
        # a list of wrapped objects (was read silently as no servers)
        (
            [GUIDE_DNS_SERVERS, {"DefaultDNSServers": {"index": 3, "address": "10.0.0.3"}}],
            [GUIDE_NTP_SERVERS],
            ("10.0.0.2", "10.0.0.3"),
            ("10.0.0.1",),
        ),
        # a list of single objects
        (
            [{"index": 1, "address": "10.0.0.2"}, {"index": 2, "address": "10.0.0.3"}],
            [GUIDE_NTP_SERVERS, {"index": 6, "Address": "10.0.0.9"}],
            ("10.0.0.2", "10.0.0.3"),
            ("10.0.0.1", "10.0.0.9"),
        ),
        # an empty list: no servers configured (the only shape that says so)
        ([], [], (), ()),
    ],
    ids=["wrapped", "single", "list of wrapped", "list of single", "empty list"],
)
def test_every_documented_shape(dns: Any, ntp: Any, want_dns: Any, want_ntp: Any) -> None:
    info, unknown = _system(dns, ntp)
    assert (info.dns_servers, info.ntp_servers) == (want_dns, want_ntp)
    assert not {k for k in unknown if k.endswith("_servers")}


@pytest.mark.parametrize(
    ("answer", "shape"),
    [
        (["10.0.0.2"], "a list of 1 (text)"),
        ({"DefaultDNSServers": [{"index": 2, "address": "10.0.0.2"}]}, "DefaultDNSServers"),
        ({"Servers": {"index": 2, "address": "10.0.0.2"}}, "Servers"),
        ({"index": 2, "Address": "10.0.0.2"}, "Address"),  # the NTP spelling on DNS
        ({"index": 2, "address": 10}, "address is a number"),
        ([{"DefaultDNSServers": {"index": 2}}], "DefaultDNSServers"),
        ({}, "an object with no keys"),
        (None, "null"),
        ("10.0.0.2", "text"),
        (Refused(404, "Not Found"), "HTTP 404"),
    ],
    ids=[
        "list of text",
        "wrapper holding a list",
        "other wrapper",
        "other field name",
        "address a number",
        "wrapped row without address",
        "empty object",
        "null",
        "text",
        "refused",
    ],
)
def test_any_other_shape_is_unknown_with_the_shape_named(answer: Any, shape: str) -> None:
    info, unknown = _system(answer, GUIDE_NTP_SERVERS)
    assert info.dns_servers is None  # unknown: never "no servers"
    assert REST.dns_servers in unknown["system.dns_servers"]
    assert shape in unknown["system.dns_servers"]
    assert info.ntp_servers == ("10.0.0.1",)  # the other fact is still read


def test_an_ntp_body_in_the_dns_wrapper_is_not_guessed() -> None:
    info, unknown = _system(GUIDE_DNS_SERVERS, {"DefaultDNSServers": GUIDE_NTP_SERVERS})
    assert info.ntp_servers is None
    assert "DefaultDNSServers" in unknown["system.ntp_servers"]


# interface-2026-12-update.md, "Marks now": status/alarm records CONFIRMED by an
# independent client of /api/management/...: "status can be acknowledged;
# first_raised/last_raised are epoch seconds".
def test_alarm_records_acknowledged_and_epoch_seconds() -> None:
    answer = [
        {
            "peer": "localhost",  # "peer may be localhost for the local node" (same source)
            "num_recs": 1,
            "records": [
                {
                    "uuid": "e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6",
                    "id": "20007",
                    "status": "acknowledged",
                    "severity": "warning",
                    "first_raised": 1597262005,
                    "last_raised": 1597262005.5,
                    "parameters": None,
                }
            ],
        }
    ]
    (alarm,) = parse_alarms(answer)
    assert alarm.raised  # acknowledging an alarm does not lower it
    assert alarm.first_raised == "2020-08-12T19:53:25Z"
    assert alarm.last_raised == "2020-08-12T19:53:25Z"

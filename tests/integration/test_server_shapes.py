"""DNS/NTP servers and option keys end to end, in every answer shape, over both transports.

Issue 24: Cisco's REST API Summary Guide answers GET .../dns/dnsserver with one
wrapped object and .../time/ntpserver with one object; the real status tree has
an ``Options`` node, not ``OptionKeys``. The lab answers the documented shapes
by default (``server_list_form="documented"``), a JSON list on request
(``"list"``), or a shape no source shows (``"undocumented"``). The real CLI
(`exops check`, `exops status`) must report DNS and NTP from the documented
answers, and read an undocumented one as unknown, with its shape named, so that
no check passes on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for

pytestmark = pytest.mark.integration

TRANSPORTS = ["rest", "ssh"]


def _lab(lab_factory: Any, transport: str, form: str, **spec: Any) -> Any:
    return lab_factory(
        clusters=1,
        peers=2,
        time_scale=0.01,
        preset="formed",
        cdb_rest=transport == "rest",
        server_list_form=form,
        spec={name: spec for name in ("c1-p1", "c1-p2")} if spec else None,
    )


def _checks(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc["checks"]}


@pytest.mark.parametrize("form", ["documented", "list"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_check_and_status_report_dns_and_ntp_from_each_documented_shape(
    lab_factory: Any, tmp_path: Path, transport: str, form: str
) -> None:
    lab = _lab(lab_factory, transport, form)
    lab.control.patch_peer("c1-p2", dns_servers=["192.0.2.53", "192.0.2.54"])
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT=transport)
    checks = _checks(cli.json("check", "-c", "c1"))
    net = checks["base_network"]
    assert net["outcome"] == "pass", net
    assert net["evidence"] == {
        "c1-p1": "DNS 192.0.2.53; NTP 192.0.2.123",
        "c1-p2": "DNS 192.0.2.53,192.0.2.54; NTP 192.0.2.123",
    }
    # Expressway X15.2.1: no option keys at all (Release Note X14.2.5), so n/a - never a
    # failure from the empty or refused option-key read.
    keys = checks["option_keys"]
    assert keys["outcome"] == "n/a", keys
    assert "X14.2 and later have no option keys" in keys["summary"]
    status = cli.json("status", "-c", "c1")
    (cluster,) = status["clusters"]
    assert cluster["verdict"] == "healthy"
    for peer in cluster["peers"]:
        assert peer["error"] is None and peer["version"] == "X15.2.1", peer
    # status shows the servers as check read them (exops.status/1, fields added)
    servers = {p["host"]: (p["dns_servers"], p["ntp_servers"]) for p in cluster["peers"]}
    assert servers == {
        "c1-p1": (["192.0.2.53"], ["192.0.2.123"]),
        "c1-p2": (["192.0.2.53", "192.0.2.54"], ["192.0.2.123"]),
    }
    assert all(p["dns_servers_unknown"] is p["ntp_servers_unknown"] is None for p in cluster["peers"])
    text = cli("status", "-c", "c1").stdout
    assert "servers: c1-p1 DNS 192.0.2.53 NTP 192.0.2.123; c1-p2 DNS 192.0.2.53,192.0.2.54" in text


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_undocumented_shape_is_unknown_with_the_shape_and_nothing_passes_on_it(
    lab_factory: Any, tmp_path: Path, transport: str
) -> None:
    lab = _lab(lab_factory, transport, "undocumented")
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT=transport)
    doc = cli.json("check", "-c", "c1", expect=3)  # unknown refuses, like a failure
    net = _checks(doc)["base_network"]
    assert net["outcome"] == "unknown", net
    assert "could not be read" in net["summary"] and "missing" not in net["summary"]
    for evidence in net["evidence"].values():
        if transport == "rest":  # the answer's shape, named
            assert "DNS unknown: /api/v1/provisioning/common/dns/dnsserver: answer is " in evidence
            assert "a list of 1 (text)" in evidence
        else:  # the leaves it printed instead of the ones exops reads
            assert "no 'IP DNS Server <n> Address' leaf" in evidence
            assert "IP DNS Nameserver 1 Address" in evidence
    text = cli("check", "-c", "c1", expect=3).stdout
    assert "base_network" in text and "unknown" in text
    # `exops status` still reads every peer: the server lists it shows are unknown with
    # the same reason, never "none", and they do not make the peer unreadable.
    (cluster,) = cli.json("status", "-c", "c1")["clusters"]
    assert all(p["error"] is None for p in cluster["peers"]), cluster
    assert cluster["verdict"] == "healthy"
    for p in cluster["peers"]:
        assert p["dns_servers"] is None and p["dns_servers_unknown"], p
        assert p["dns_servers_unknown"] in net["evidence"][p["host"]], p
    assert "DNS unknown (" in cli("status", "-c", "c1").stdout


@pytest.mark.parametrize("form", ["documented", "undocumented"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_option_keys_of_a_vcs_over_both_transports(
    lab_factory: Any, tmp_path: Path, transport: str, form: str
) -> None:
    """VCS keeps option keys: compared over REST (optionkey, body MOCK-DEFINED) and over
    SSH (`xStatus Options`, entries MOCK-DEFINED); a shape exops does not read is
    unknown, never "no keys"."""
    lab = _lab(lab_factory, transport, form, role="VCS", version="X8.11.3")
    cli = cli_for(lab, tmp_path, EXOPS_TRANSPORT=transport)
    keys = _checks(cli.json("check", "-c", "c1", expect=None))["option_keys"]
    if form == "documented":
        assert keys["outcome"] == "pass", keys
        assert keys["evidence"]["c1-p1"] == (
            "VCS X8.11.3 (option keys): H323-SIP Interworking Gateway, Microsoft Interoperability"
        )
        return
    assert keys["outcome"] == "unknown", keys
    evidence = keys["evidence"]["c1-p1"]
    if transport == "rest":
        assert "/api/provisioning/optionkey: answer is an object {OptionKeys: " in evidence
    else:
        assert "'Key 1'" in evidence and "xStatus Options" in evidence

"""exops's CDB parsers on the conformance fixtures (tests/fixtures/contract/cdb).

The fixtures hold CDB answers in the real shapes (interface doc section 8:
Cisco's own CDB client): ``?peer=local`` answers, row filters, every-peer
answers, ``sizeonly`` counts, ``[]``, and the 503/408 of a database that is
not fully running. tests/lab/test_lab_rest.py holds the mock's answers to
the same requests against the same fixtures' shapes, so the client, the mock
and the fixtures cannot drift apart. The setting rules of exops and of the
mock are compared here too.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from paths import FIXTURES as FIXTURES_ROOT
from pydantic import SecretStr

from exops.appliance.base import ConnectionTarget, Field
from exops.appliance.knowledge import CDB, SETTING_RULES
from exops.appliance.rest import (
    RestAppliance,
    local_records,
    one_record,
    parse_alarms,
    parse_cdb_answer,
    parse_h323,
    parse_settings,
    parse_status,
)
from exops.core.errors import ApplianceError, TransportError
from exops.core.models import AddressMapping, IpVersion, PeerState, TlsMode
from exops.lab import lab as mock_lab

FIXTURES = FIXTURES_ROOT / "contract" / "cdb"


def fixture(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return doc


def body(name: str) -> Any:
    return fixture(name)["body"]


def test_every_fixture_is_well_formed() -> None:
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert len(names) >= 15
    for name in names:
        doc = fixture(name)
        assert doc["request"].startswith("GET /api/management/"), name
        assert doc["mark"] and doc["source"], name
        if doc["status"] == 200:
            elements = parse_cdb_answer(doc["body"], name, sizeonly=doc["sizeonly"])
            assert all(e.peer in doc["peers"].values() for e in elements), name
        else:
            assert set(doc["body"]) == {"Message"}, name


def test_settings_from_the_fixtures() -> None:
    s = parse_settings(
        body("alternates_local"),
        body("alternatesmaster_local"),
        body("cluster_local"),
        body("clusteraddressmapping_local"),
    )
    assert s.peers == ("10.0.0.11", "10.0.0.12", "10.0.0.13", "", "", "")
    assert s.primary == 1  # master_idx 0
    assert (s.cluster_name, s.tls_mode, s.ip_version) == (
        "exp-c.example.com",
        TlsMode.ENFORCE,
        IpVersion.IPV4,
    )
    assert s.mapping_enabled is False
    assert s.mapping == (AddressMapping(name="exp-e-1.example.com", address="192.0.2.11"),)


def test_row_filter_answers() -> None:
    (row,) = local_records(body("alternates_row_filter"), CDB.alternates)
    assert (row["index"], row["ip_address"]) == (2, "10.0.0.13")
    me = one_record(body("clusterpeer_status_local_peer"), CDB.peer_status)
    assert me["local_peer"] is True
    (cp,) = local_records(body("clusterpeer_config_filter"), CDB.cluster_peers)
    assert set(cp) == {"uuid", "index", "peer"}
    # "Am I primary": master_idx equals the clusterpeer index of the local peer (IF 2).
    assert one_record(body("alternatesmaster_local"), CDB.master)["master_idx"] == cp["index"]


def test_status_alarms_h323_from_the_fixtures() -> None:
    st = parse_status(body("clusterdatabase_local"), body("clusterpeer_status_local"))
    assert st.local_slot == 1
    assert [(e.slot, e.state) for e in st.peers] == [(i, PeerState.ACTIVE) for i in (1, 2, 3)]
    assert (st.database, st.replication) == ("Active", "Synchronised")
    (alarm,) = parse_alarms(body("alarm_local"))
    assert (alarm.id, alarm.raised, alarm.uuid) == (
        "20007",
        True,
        "e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6",
    )
    assert parse_h323(body("h323_local")) is True


def test_every_peer_and_count_answers() -> None:
    every = parse_cdb_answer(body("alternates_every_peer"), CDB.alternates)
    assert [e.peer for e in every] == ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    assert all(len(e.records) == e.num_recs == 6 for e in every)
    with pytest.raises(ApplianceError, match="3 peer elements, expected one"):
        local_records(body("alternates_every_peer"), CDB.alternates)
    counts = parse_cdb_answer(body("alternates_sizeonly"), CDB.alternates, sizeonly=True)
    assert [(e.num_recs, e.records) for e in counts] == [(6, ())] * 3
    (norecs,) = parse_cdb_answer(body("alternates_sizeonly_norecs"), CDB.alternates, sizeonly=True)
    assert norecs.num_recs == 1
    # A count answer is not mistaken for records (num_recs 6, no records).
    with pytest.raises(ApplianceError, match="num_recs 6 but 0 records"):
        parse_cdb_answer(body("alternates_sizeonly"), CDB.alternates)


def test_an_empty_reply() -> None:
    assert local_records(body("not_a_member"), CDB.alternates) == ()
    with pytest.raises(ApplianceError, match="expected one record, got 0"):
        one_record(body("not_a_member"), CDB.master)
    with pytest.raises(ApplianceError, match="expected 6 peer slots"):
        parse_settings(
            body("not_a_member"),
            body("alternatesmaster_local"),
            body("cluster_local"),
            body("clusteraddressmapping_local"),
        )


def _fixture_peer(name: str) -> RestAppliance:
    doc = fixture(name)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(doc["status"], json=doc["body"])

    target = ConnectionTarget(
        host="exp-c-1", hostname="10.0.0.11", password=SecretStr("pw"), verify_tls=False
    )
    clock = [0.0]

    def sleep(s: float) -> None:
        clock[0] += s

    return RestAppliance(
        target,
        transport=httpx.MockTransport(answer),
        sleep=sleep,
        clock=lambda: clock[0],
        deadline_s=30.0,
    )


@pytest.mark.parametrize("name", ["not_running_503", "not_running_408"])
def test_not_running_answers_are_a_transport_error(name: str) -> None:
    appliance = _fixture_peer(name)
    with pytest.raises(TransportError, match="cluster database not fully running") as info:
        appliance.read_alarms()
    assert type(info.value) is TransportError
    assert f"HTTP {fixture(name)['status']}" in str(info.value)
    appliance.close()


def test_disabled_answer_means_cdb_off() -> None:
    appliance = _fixture_peer("disabled_404")
    assert appliance.cdb_available() is False
    appliance.close()


# -- the setting rules: exops's table and the mock's mirror -----------------------------------


def test_mock_setting_rules_mirror_exops() -> None:
    assert set(mock_lab.SETTING_RULES) == set(SETTING_RULES)
    for name, rule in SETTING_RULES.items():
        mine = mock_lab.SETTING_RULES[name]
        assert (mine.table, mine.field, mine.row_key, mine.spread, mine.effect) == (
            rule.table,
            rule.field,
            rule.row_key,
            rule.spread,
            rule.effect,
        ), name


def test_setting_rules_cover_every_field_with_evidence() -> None:
    assert {f.value for f in Field} | {"h323_mode"} == set(SETTING_RULES)
    for name, rule in SETTING_RULES.items():
        assert rule.spread in ("cluster", "replicated", "local"), name
        assert rule.effect in ("live", "restart"), name
        assert rule.mark.split()[0] in ("CONFIRMED", "INFERRED", "MOCK-DEFINED"), name
        assert rule.source, name
        assert rule.name == name
        assert rule.cli_style in ("string", "enum", "number"), name
        # A slot-addressed row has an {index} in its CLI path, and only then.
        assert ("{index}" in rule.cli) == (rule.row_key is not None), name
    restart = {n for n, r in SETTING_RULES.items() if r.effect == "restart"}
    assert restart == {"peer_address", "tls_mode", "ip_version"}  # contract section 6
    # The mock's restart rule follows the same rows.
    assert {r.key for r in mock_lab.SETTING_RULES.values() if r.effect == "restart"} == {
        "peers",
        "tls",
        "ipver",
    }
    assert {
        "name",
        "tls",
        "ipver",
        "map_mode",
        "map_name",
        "map_address",
    } == mock_lab.CLUSTER_SPREAD

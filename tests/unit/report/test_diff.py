"""A snapshot's peer document and the drift between two sides (exops.report.diff)."""

from __future__ import annotations

import json
from typing import Any

from factkit import peer

from exops.core.exitcodes import ExitCode
from exops.core.models import OptionKey, PeerFacts
from exops.report.diff import (
    PEER,
    Change,
    Side,
    compare,
    complete,
    key_fingerprint,
    peer_doc,
)
from exops.tools.snapshot import diff_exit_code

KEY = "1X4-5Y6Z-SECRETKEYMATERIAL-0042"
A = Side("snapshot a", "c1", "2026-12-01T00:00:00Z", "a", "a")
B = Side("live", "c1", "2026-12-02T00:00:00Z")


def with_(pf: PeerFacts, **update: Any) -> PeerFacts:
    return pf.model_copy(update=update)


def doc(i: int = 0, **update: Any) -> dict[str, Any]:
    pf = with_(peer(i, [0, 1, 2]), transport="rest", **update)
    return json.loads(json.dumps(peer_doc(pf)))  # as stored and read back


def test_a_peer_read_whole_over_rest() -> None:
    d = doc()
    v = d["values"]
    assert v["cluster.peer_1"] == "10.0.0.11" and v["cluster.peer_4"] == ""
    assert (v["cluster.primary"], v["cluster.tls_mode"], v["cluster.address_mapping"]) == (
        "1",
        "Permissive",
        "Off",
    )
    assert v["system.dns_server_1"] == "10.0.0.2" and v["system.ntp_server_1"] == "10.0.0.3"
    assert (v["system.h323_mode"], v["system.version"], v["system.role"]) == (
        "On",
        "X15.2.1",
        "Expressway-C",
    )
    assert v["system.lan1"] == "10.0.0.11" and v["system.name"] == "p1"
    assert v["certificate.subject_cn"] == "exp1.example.com"
    assert v["certificate.trusted_cas"] == "Lab CA"
    assert "system.uptime" not in json.dumps(d)  # volatile facts are not configuration
    assert d["unknown"] == {} and complete(d)


def test_an_option_key_is_kept_as_a_fingerprint_never_the_key() -> None:
    pf = peer(0, [0])
    assert pf.system is not None
    system = pf.system.model_copy(
        update={"option_keys": (OptionKey(key=KEY, description="Traversal calls", count=5),)}
    )
    d = peer_doc(with_(pf, system=system))
    assert d["values"]["system.option_key.Traversal calls"] == (
        f"count 5, key {key_fingerprint(KEY)}"
    )
    assert KEY not in json.dumps(d)


def test_expressway_x14_2_and_later_has_no_option_keys_not_an_unknown() -> None:
    """Evidence (Release Note X14.2.5): Expressway X14.2+ has no option keys (Smart
    Licensing only); its 404 is that fact, not a failed read. VCS or an older version
    whose keys were not read stays unknown."""
    pf = peer(0, [0, 1, 2])  # Expressway-C X15.2.1
    assert pf.system is not None
    d = peer_doc(with_(pf, system=pf.system.model_copy(update={"option_keys": None})))
    assert d["values"]["system.option_keys"] == "none (Smart Licensing only)"
    assert "system.option_keys" not in d["unknown"]
    old = pf.system.model_copy(update={"option_keys": None, "version": "X14.0.2"})
    d = peer_doc(with_(pf, system=old))
    assert d["values"]["system.option_keys"] is None and "system.option_keys" in d["unknown"]


def test_over_ssh_what_the_cli_does_not_offer_is_unknown_not_empty() -> None:
    pf = with_(peer(0, [0]), transport="ssh")
    assert pf.system is not None
    pf = with_(pf, system=pf.system.model_copy(update={"platform": None}))
    d = peer_doc(pf)
    for key in ("system.name", "system.lan1", "system.lan2", "system.platform"):
        assert d["values"][key] is None, key
        assert d["unknown"][key].startswith("not offered")
    assert complete(d)  # a value not offered is no gap in the snapshot


def test_an_unreachable_peer_and_unread_groups() -> None:
    down = peer_doc(peer(1, [0, 1], reachable=False))
    assert down["values"] == {} and set(down["unknown"]) == {"cluster", "system", "certificate"}
    assert not complete(down)
    failed = peer_doc(
        with_(peer(0, [0]), settings=None, certificate=None, trust_store=(), error="x: garbled")
    )
    assert failed["unknown"] == {"cluster": "x: garbled", "certificate": "x: garbled"}
    assert not complete(failed)
    none = peer_doc(with_(peer(0, [0]), certificate=None))  # read, and there is none
    assert none["values"]["certificate.server"] == "none" and complete(none)


def test_changed_added_removed_and_same() -> None:
    before = doc()
    after = doc()
    after["values"]["cluster.address_mapping"] = "On"
    after["values"]["system.dns_server_2"] = "10.0.0.9"
    del after["values"]["system.ntp_server_1"]
    d = compare(A, [before], B, [after])
    got = {(r.setting, r.change) for r in d.rows if r.change is not Change.SAME}
    assert got == {
        ("cluster.address_mapping", Change.CHANGED),
        ("system.dns_server_2", Change.ADDED),
        ("system.ntp_server_1", Change.REMOVED),
    }
    changed = next(r for r in d.rows if r.setting == "cluster.address_mapping")
    assert (changed.host, changed.before, changed.after) == ("p1", "Off", "On")
    assert len(d.drift) == 3 and d.unknown == []
    assert d.compared == len(d.rows)
    doc_json = d.to_json()
    assert doc_json["drift"] == 3 and doc_json["peers_with_drift"] == ["p1"]
    assert len(doc_json["rows"]) == 3 and len(d.to_json(all_rows=True)["rows"]) == len(d.rows)
    assert diff_exit_code(d, detailed=False) == ExitCode.OK
    assert diff_exit_code(d, detailed=True) == ExitCode.CHANGES_PENDING


def test_no_drift() -> None:
    d = compare(A, [doc(0), doc(1)], B, [doc(0), doc(1)])
    assert d.drift == [] and d.unknown == [] and d.rows
    assert diff_exit_code(d, detailed=True) == ExitCode.OK


def test_a_peer_only_on_one_side() -> None:
    d = compare(A, [doc(0), doc(1)], B, [doc(0), doc(2)])
    rows = {(r.host, r.setting, r.change) for r in d.rows if r.setting == PEER}
    assert rows == {("p3", PEER, Change.ADDED), ("p2", PEER, Change.REMOVED)}


def test_what_one_side_could_not_read_is_unknown_never_drift_nor_equal() -> None:
    down = peer_doc(peer(0, [0, 1, 2], reachable=False))
    d = compare(A, [doc(0)], B, [down])
    assert [(r.setting, r.change) for r in d.rows] == [(PEER, Change.UNKNOWN)]
    assert "not read after" in d.rows[0].note
    assert d.drift == [] and len(d.unread) == 1
    assert diff_exit_code(d, detailed=True) == ExitCode.PARTIAL

    no_cluster = doc(0)
    del no_cluster["values"]["cluster.name"]
    for key in [k for k in no_cluster["values"] if k.startswith("cluster.")]:
        del no_cluster["values"][key]
    no_cluster["unknown"]["cluster"] = "read settings: garbled"
    d = compare(A, [doc(0)], B, [no_cluster])
    unknown = [r for r in d.rows if r.change is Change.UNKNOWN]
    assert [r.setting for r in unknown] == ["cluster"]
    assert not any(r.setting.startswith("cluster.") for r in d.rows)  # no "removed" rows
    assert d.drift == [] and diff_exit_code(d, detailed=False) == ExitCode.PARTIAL


def test_a_value_unknown_on_one_side_is_shown_on_both_only_with_all() -> None:
    ssh = peer_doc(with_(peer(0, [0, 1, 2]), transport="ssh"))
    rest = doc(0)
    d = compare(A, [rest], B, [ssh])
    one_side = [r for r in d.rows if r.change is Change.UNKNOWN]
    assert {r.setting for r in one_side} == {"system.name", "system.lan1", "system.lan2"}
    assert all(r.shown and not r.unknown_both for r in one_side)
    assert d.notes == [
        "p1: read over rest before and over ssh after: a value one interface does not "
        "offer shows as unknown on that side"
    ]
    assert diff_exit_code(d, detailed=True) == ExitCode.OK  # values, not a group: not partial

    d = compare(A, [ssh], B, [ssh])
    both = [r for r in d.rows if r.change is Change.UNKNOWN]
    assert both and all(r.unknown_both and not r.shown for r in both)
    assert d.to_json()["rows"] == [] and d.notes == []

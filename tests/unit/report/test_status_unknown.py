"""The status verdict comes only from facts read; otherwise it is unknown (issue 26)."""

from __future__ import annotations

from statuskit import cluster, peer

from exops.core.models import PeerFacts, PeerState
from exops.report.status import Verdict, root_cause, summarize


def _unread(p: PeerFacts, error: str = "ssh settings: unexpected IsADirectoryError") -> PeerFacts:
    """Reachable, but nothing parsed (a local failure, a garbled answer)."""
    return p.model_copy(update={"settings": None, "status": None, "alarms": (), "error": error})


def _no_answer(p: PeerFacts, kind: str, error: str) -> PeerFacts:
    return p.model_copy(
        update={
            "reachable": False,
            "unreachable_kind": kind,
            "error": error,
            "settings": None,
            "status": None,
            "alarms": (),
        }
    )


def test_no_peer_read_is_unknown_not_unclustered() -> None:
    r = summarize(cluster(*(_unread(peer(i, 3)) for i in range(3))))
    assert r.verdict is Verdict.UNKNOWN
    assert "no peer could be read" in r.reasons[0] and "IsADirectoryError" in r.reasons[0]
    assert r.root_cause == r.reasons[0]


def test_no_peer_answering_is_unknown_not_broken() -> None:
    r = summarize(cluster(*(_no_answer(peer(i, 3), "connect", "refused") for i in range(3))))
    assert r.verdict is Verdict.UNKNOWN
    assert "no peer could be read" in r.reasons[0] and "p1" in r.reasons[0]


def test_unclustered_only_when_every_peer_was_read() -> None:
    read = [peer(i, 3, listed=0) for i in range(2)]
    r = summarize(cluster(*read, _unread(peer(2, 3, listed=0), "garbled answer")))
    assert r.verdict is Verdict.UNKNOWN
    assert any("p3" in x and "garbled answer" in x for x in r.reasons), r.reasons
    r = summarize(cluster(*read, _no_answer(peer(2, 3, listed=0), "connect", "refused")))
    assert r.verdict is Verdict.UNKNOWN, r.reasons


def test_a_member_unread_and_nothing_else_wrong_is_unknown() -> None:
    r = summarize(cluster(peer(0, 3), peer(1, 3), _unread(peer(2, 3), "answer not JSON")))
    assert r.verdict is Verdict.UNKNOWN
    assert "p3" in r.root_cause and "answer not JSON" in r.root_cause


def test_a_member_whose_trust_or_credentials_failed_is_unknown() -> None:
    for kind in ("tls", "auth"):
        p3 = _no_answer(peer(2, 3), kind, "SSH host key unknown")
        r = summarize(cluster(peer(0, 3), peer(1, 3), p3))
        assert r.verdict is Verdict.UNKNOWN, (kind, r.reasons)


def test_what_was_read_still_decides_when_it_is_enough() -> None:
    # An unread member does not hide a problem read elsewhere.
    r = summarize(
        cluster(
            peer(0, 3, alarms=("20004",), states={3: PeerState.FAILED}),
            peer(1, 3),
            _unread(peer(2, 3), "answer not JSON"),
        )
    )
    assert r.verdict is Verdict.DEGRADED
    assert any("answer not JSON" in x for x in r.reasons)
    # A peer that does not answer at all is a fact: degraded, as before.
    down = _no_answer(peer(2, 3), "timeout", "no complete answer (gave up after 5.0 s)")
    assert summarize(cluster(peer(0, 3), peer(1, 3), down)).verdict is Verdict.DEGRADED
    # The primary not answering: broken, as before.
    r = summarize(cluster(_no_answer(peer(0, 3), "connect", "refused"), peer(1, 3), peer(2, 3)))
    assert r.verdict is Verdict.BROKEN
    # Every member read and well: healthy.
    assert summarize(cluster(*(peer(i, 3) for i in range(3)))).verdict is Verdict.HEALTHY


def test_root_cause_of_unknown_is_the_first_reason() -> None:
    assert root_cause(Verdict.UNKNOWN, ["no peer could be read: p1 x"], [], None) == (
        "no peer could be read: p1 x"
    )

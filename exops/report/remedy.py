"""What exops tells an operator to run next for a raised alarm, made safe for the state.

The alarm catalogue (``knowledge.toml``, ``fix``) gives the usual exops command; some
states make that command wrong or dangerous, and the remedy is then another one
(issue 19: every printed remedy, run literally in the state that printed it, fixes
the state or is refused with nothing written):

- while the reachable peers disagree on the configuration primary, a replication
  alarm's remedy is re-running switch-primary for the primary most peers name, never
  repair-replication (ForceConfigUpdate wipes a peer's configuration and pulls it
  from whichever primary that peer names);
- a restart-type remedy for a peer whose own list is empty (a restart would factory
  reset it, and safety rule R4 refuses it) is the undo: ``exops restore``; for a peer
  whose list leaves itself out, add-peer (it lists it again, then restarts it);
- a remedy that needs the agreed primary when there is none is left out ("").
"""

from __future__ import annotations

from exops.appliance.knowledge import ALARM_BY_ID
from exops.core.models import ClusterFacts, PeerFacts
from exops.facts.health import replication_alarms
from exops.plan.preflight import agreed_primary, primary_dispute, primary_remedy

RESTARTING = frozenset({"20007", "20108"})  # alarms whose usual remedy restarts the peer


def alarm_fix(alarm: str, peer: PeerFacts, facts: ClusterFacts) -> str:
    """The exops command for ``alarm`` raised on ``peer`` in this state ("" when none)."""
    info = ALARM_BY_ID.get(alarm)
    if info is None or not info.fix:
        return ""
    if alarm in replication_alarms() and primary_dispute(facts):
        return primary_remedy(facts)
    if alarm in RESTARTING and peer.settings is not None and peer.settings.is_empty:
        return f"exops restore -c {facts.cluster} --peer {peer.host}"
    if alarm in RESTARTING and peer.settings is not None and not _lists_itself(peer):
        # Restarting would put in force a list without itself (alarm 20110): add-peer
        # lists it again, like the cluster, and then restarts it.
        return f"exops add-peer -c {facts.cluster} --peer {peer.host}"
    primary = agreed_primary(facts)
    if "{primary}" in info.fix and primary is None:
        return ""
    return info.fix.format(cluster=facts.cluster, peer=peer.host, primary=primary or "")


def _lists_itself(peer: PeerFacts) -> bool:
    if peer.settings is None:  # not read: never taken to list itself
        return False
    own = {peer.address.lower(), peer.fqdn.lower()} - {""}
    if peer.system is not None:
        own |= {a.lower() for a in (peer.system.lan1, peer.system.lan2) if a}
    return any(a.lower() in own for a in peer.settings.listed)

"""Rehearse a runbook on a simulated clone of a real cluster (``exops rehearse``).

1. Read the real cluster, read-only: the same gather and plan as a dry run.
2. Write a clone spec (``clusters:`` form, exops/lab/README.md) with the
   same peers, addresses, FQDNs, roles, versions, primary, slot lists, TLS
   mode, address mapping, certificate names, alarms and pending restarts, and
   start the bundled lab with it through its documented command line
   (``python -m exops.lab up --spec FILE``) on a free loopback subnet and
   free ports. exops never imports the simulator.
3. Run the runbook with :class:`exops.run.Runner` against the clone's
   inventory at compressed time (``--time-scale``), optionally injecting a
   fault when a step starts (through the lab's control API).
4. Report the plan, the outcome (recap, exit code), a timeline with each
   peer's downtime and the whole run's duration predicted at real time
   (clone time / time scale), the alarms that rose and cleared, the safety
   rules that fired, and every assumption the clone had to make.

The real cluster only ever sees reads: its session is used for the gather
and the plan, never handed to an executor.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from exops.appliance.knowledge import ALARM_CATALOGUE, alarm_id
from exops.apply.results import RunResult
from exops.core.errors import ExopsError, UsageError
from exops.core.models import ClusterFacts, PeerFacts
from exops.facts.gather import Fact
from exops.facts.session import Session
from exops.inventory import ClusterSpec, load_inventory
from exops.plan.model import Action, CheckOutcome, Plan
from exops.run.env import Env
from exops.run.observers import Observer, RunInfo
from exops.run.runner import Runner, RunSession
from exops.tools import labcli

REHEARSAL_SCHEMA = "exops.rehearsal/1"
FAULT_KINDS = ("unreachable", "restart_hang", "replication_error")


# The lab derives every cluster alarm it raises from its own state (they rise and
# clear as the clone changes): those of every class but "peer" that have a type UUID
# (knowledge.toml: "no UUID: the mock never raises it"). exops/lab/clone.py DERIVED
# lists the same ids (tests/contract/test_contract_cli.py compares them).
def derived_alarms() -> frozenset[str]:
    """Alarms the clone derives from the state it clones (never copied as static)."""
    return frozenset(a.id for a in ALARM_CATALOGUE if a.uuid and a.cls != "peer")


def replication_error_alarms() -> frozenset[str]:
    """What the clone's ``replication_error`` raises: the replication class it models."""
    return frozenset(a.id for a in ALARM_CATALOGUE if a.uuid and a.cls == "replication")


# Step kinds whose duration is simulated time (scaled by the clone's time scale);
# configure, backup and command steps are requests, as long on the clone as for real.
SCALED_KINDS = frozenset({"restart", "wait", "verify"})
_ALARM_LINE = re.compile(r'Event="Alarm (?P<what>Raised|Lowered)".*?Id="?(?P<id>[0-9A-Za-z]+)')


@dataclasses.dataclass(frozen=True)
class Fault:
    kind: str
    step: str  # action id ("4" / "4.1") or step name
    peer: str | None = None  # None: the host of the step

    def describe(self) -> str:
        return f"{self.kind}{':' + self.peer if self.peer else ''}@{self.step}"


def parse_inject(text: str) -> Fault:
    """``FAULT[:PEER]@STEP`` -> Fault.

    Raises:
        UsageError: an unknown fault kind or a missing step.
    """
    head, sep, step = text.partition("@")
    kind, _, peer = head.partition(":")
    if not sep or not step.strip():
        raise UsageError(f"--inject {text!r}: expected FAULT[:PEER]@STEP, e.g. restart_hang@4")
    if kind not in FAULT_KINDS:
        raise UsageError(
            f"--inject {text!r}: fault {kind!r} is not one of {', '.join(FAULT_KINDS)}"
        )
    return Fault(kind=kind, step=step.strip(), peer=peer.strip() or None)


# -- the clone spec --------------------------------------------------------------------


def _cert_mode(p: PeerFacts, now: datetime) -> str:
    cert = p.certificate
    if cert is None:
        return "ok"
    if cert.self_signed:
        return "self_signed"
    if cert.not_after < now:
        return "expired"
    sans = {s.lower() for s in cert.sans}
    if p.fqdn and p.fqdn.lower() not in sans:
        return "missing_san" if (cert.subject_cn or "").lower() == p.fqdn.lower() else "wrong_name"
    return "ok"


def clone_spec(
    facts: ClusterFacts, cluster: ClusterSpec, *, now: datetime | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The lab spec of a clone of ``cluster`` and the assumptions it had to make."""
    now = now or datetime.now(UTC)
    by_host = {p.host: p for p in facts.peers}
    assumptions: list[str] = []
    peers: list[dict[str, Any]] = []
    faults: list[dict[str, Any]] = []
    for spec in cluster.peers:
        pf = by_host.get(spec.name)
        entry: dict[str, Any] = {
            "name": spec.name,
            "address": spec.address,
            "fqdn": spec.fqdn,
            "role": spec.role.value if spec.role else "Expressway-C",
        }
        if pf is None or not pf.reachable:
            why = pf.error if pf is not None and pf.error else "not read"
            assumptions.append(
                f"{spec.name} did not answer ({why}): the clone keeps it unreachable; its "
                "settings are unknown (modelled as empty)"
            )
            faults.append({"kind": "unreachable", "peer": spec.name})
            peers.append(entry)
            continue
        peers.append(_peer_entry(entry, pf, now, assumptions))
    assumptions += [
        "certificates: the clone issues its own from a lab CA with the names read "
        "(CN and DNS SAN = each peer's FQDN, or the defect read: missing SAN, wrong name, "
        "expired, self-signed); issuer, key, chain and the real trust store contents "
        "are not copied",
        "durations: a restart takes 180 s (xCommand Boot, a reboot: 300 s) and replication "
        "runs every 120 s (the lab's model of the documented ~3 min restart / ~5 min "
        "reboot); measure one real restart of your appliances to calibrate the prediction",
        "DNS: each FQDN resolves to what exops resolved it to on the real cluster "
        "(the clone's hosts file); the peers' own DNS servers are not consulted",
    ]
    doc: dict[str, Any] = {
        "clusters": {cluster.name: {"cluster_name": cluster.cluster_name, "peers": peers}}
    }
    if faults:
        doc["faults"] = faults
    return doc, assumptions


def _peer_entry(
    entry: dict[str, Any], pf: PeerFacts, now: datetime, assumptions: list[str]
) -> dict[str, Any]:
    """One answering peer's clone spec entry (what was read; assumptions for the rest)."""
    name = pf.host
    if pf.fqdn_addresses:
        entry["resolves_to"] = pf.fqdn_addresses[0]
    system = pf.system
    role = system.role.value if system and system.role else None
    if role is None:
        role = str(entry.get("role") or "Expressway-C")
        assumptions.append(f"{name}: role not read; taken as {role} (inventory)")
    entry["role"] = role
    version = system.version if system else None
    if version is None:
        version = "X15.2.1"
        assumptions.append(f"{name}: version not read; modelled as {version}")
    entry["version"] = version
    platform = system.platform if system else None
    if platform is None:
        platform = "medium"
        assumptions.append(f"{name}: platform size not read; modelled as {platform}")
    entry["platform"] = platform
    h323 = system.h323_enabled if system else None
    if h323 is None:
        h323 = True
        assumptions.append(f"{name}: H.323 mode not read; modelled as On")
    entry["h323"] = h323
    entry["cdb_rest"] = pf.transport == "rest"
    if system is not None and system.lan1:  # what no_nat compares the listed address with
        entry["lan1"] = system.lan1
    if system is not None and system.lan2:
        entry["lan2"] = system.lan2
    if system is not None and system.option_keys:
        entry["option_keys"] = [
            {"Key": k.key, "Description": k.description, "Count": k.count}
            for k in system.option_keys
        ]
    entry["cert"] = _cert_mode(pf, now)
    s = pf.settings
    if s is None:
        assumptions.append(f"{name}: cluster settings not read; modelled as empty")
    else:
        entry["settings"] = {
            "peers": list(s.peers),
            "master": s.primary,
            "name": s.cluster_name,
            "tls": s.tls_mode.value,
            "ipver": s.ip_version.value,
            "map_mode": "On" if s.mapping_enabled else "Off",
            "map": [[m.name, m.address] for m in s.mapping],
        }
    raised = [a for a in pf.alarms if a.status == "raised"]
    entry["restart_pending"] = any(a.id == alarm_id("restart-required") for a in raised)
    entry["replication_error"] = any(a.id in replication_error_alarms() for a in raised)
    derived = derived_alarms()
    static = [a for a in raised if a.id not in derived]
    entry["alarms"] = [
        {"id": a.id, "title": a.title, "severity": a.severity, "uuid": a.uuid} for a in static
    ]
    for a in static:
        assumptions.append(
            f"{name}: alarm {a.id} ({a.title or 'no title'}) is not modelled by the "
            "clone: it stays raised for the whole rehearsal"
        )
    return entry


# -- starting and stopping the clone ---------------------------------------------------


@dataclasses.dataclass
class Clone:
    directory: Path
    env: dict[str, str]
    subnet: str
    https_port: int
    ssh_port: int
    peers: dict[str, str]

    @property
    def control(self) -> str:
        return self.env["EXOPS_LAB_CONTROL"]


def _lab(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "exops.lab", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise ExopsError(f"the clone lab did not answer within {timeout:.0f} s") from exc


@contextmanager
def running_clone(
    spec: dict[str, Any], directory: Path, *, time_scale: float, transport: str
) -> Iterator[Clone]:
    """Start the bundled lab with ``spec`` (``python -m exops.lab up``); stop it after."""
    directory.mkdir(parents=True, exist_ok=True)
    spec_file = directory / "clone.yaml"
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    count = sum(len(c["peers"]) for c in spec["clusters"].values())
    state = directory / "lab"
    first = 240
    for attempt in range(3):  # another lab may take the subnet between the check and up
        subnet, https, ssh = labcli.free_subnet(count, first=first)
        proc = _lab(
            "up", "--spec", str(spec_file), "--state-dir", str(state), "--subnet", subnet,
            "--https-port", str(https), "--ssh-port", str(ssh), "--time-scale", str(time_scale),
            "--transport", transport, "--timeout", "60",
            timeout=120,
        )  # fmt: skip
        if proc.returncode == 0:
            break
        log = state / "server.log"
        detail = (log.read_text(errors="replace") if log.exists() else "") + proc.stderr
        if "address already in use" in detail.lower() and attempt < 2:
            first = int(subnet.split(".")[1]) + 1
            continue
        lines = [ln for ln in detail.strip().splitlines() if ln.strip()]
        missing = re.search(r"No module named '([^']+)'", detail)
        raise ExopsError(
            "the clone lab did not start (python -m exops.lab up): "
            + (lines[-1] if lines else f"exit {proc.returncode}")
            + (
                f" - the bundled lab needs {missing.group(1)}: {labcli.LAB_INSTALL}"
                if missing
                else ""
            )
        )
    try:
        env = labcli.read_lab_env(state / "lab.env")
        hosts = yaml.safe_load((Path(env["EXOPS_INVENTORY"]) / "hosts.yaml").read_text())
        yield Clone(
            directory=directory,
            env=env,
            subnet=subnet,
            https_port=https,
            ssh_port=ssh,
            peers={name: h["hostname"] for name, h in hosts.items()},
        )
    finally:
        _lab("down", "--state-dir", str(state), timeout=60)


def _control(clone: Clone, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(clone.control + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=30) as resp:
        raw = resp.read()
    return raw.decode() if path.startswith("/logs/") else json.loads(raw or b"null")


# -- watching the clone run --------------------------------------------------------------


@dataclasses.dataclass
class StepTime:
    action: str
    step: str
    host: str | None
    kind: str
    started_s: float
    duration_s: float = 0.0
    status: str = ""


class _Timeline(Observer):
    """Times every step, restart and wait of the clone run; injects the faults."""

    def __init__(self, clone: Clone, faults: list[Fault]):
        self.clone = clone
        self.faults = list(faults)
        self.injected: list[dict[str, Any]] = []
        self.t0 = time.monotonic()
        self.steps: dict[str, StepTime] = {}
        self.down: dict[str, float] = {}
        self.downtime: dict[str, list[float]] = {}

    def _now(self) -> float:
        return time.monotonic() - self.t0

    def run_started(self, run: RunInfo) -> None:
        self.t0 = time.monotonic()

    def step_started(self, run: RunInfo, action: Action) -> None:
        self.steps[action.id] = StepTime(
            action.id, action.step, action.host, action.kind.value, self._now()
        )
        for fault in list(self.faults):
            if fault.step in (action.id, action.step):
                peer = fault.peer or action.host
                if peer is None:
                    continue
                fid = _control(self.clone, "POST", "/faults", {"kind": fault.kind, "peer": peer})
                self.injected.append(
                    {"fault": fault.describe(), "peer": peer, "action": action.id, "id": fid["id"]}
                )
                self.faults.remove(fault)

    def restarting(self, run: RunInfo, host: str, action_id: str) -> None:
        self.down[host] = self._now()

    def waited(self, run: RunInfo, what: str, elapsed: float) -> None:
        for host, since in list(self.down.items()):
            if what.startswith(f"{host} to restart"):
                self.downtime.setdefault(host, []).append(self._now() - since)
                del self.down[host]

    def step_finished(self, run: RunInfo, result: Any) -> None:
        st = self.steps.get(result.action.id)
        if st is not None:
            st.duration_s = result.duration_s
            st.status = result.status.value


def _alarm_events(clone: Clone, offsets: dict[str, int]) -> tuple[dict[str, Any], dict[str, int]]:
    """Alarm lines per peer after ``offsets`` (log line counts): raised/lowered ids."""
    out: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for peer in clone.peers:
        lines = str(_control(clone, "GET", f"/logs/{peer}")).splitlines()
        counts[peer] = len(lines)
        events = []
        for line in lines[offsets.get(peer, 0) :]:
            m = _ALARM_LINE.search(line)
            if m:
                events.append(("rose" if m["what"] == "Raised" else "cleared", m["id"]))
        out[peer] = events
    return out, counts


# -- the rehearsal -------------------------------------------------------------------------


@dataclasses.dataclass
class Rehearsal:
    runbook: str
    cluster: str
    params: dict[str, Any]
    time_scale: float
    plan: Plan | None
    result: RunResult | None
    assumptions: list[str]
    faults: list[dict[str, Any]]
    steps: list[StepTime]
    downtime: dict[str, list[float]]
    still_down: dict[str, float]  # host -> clone time it went down (never came back)
    alarms: dict[str, Any]
    still_raised: dict[str, list[str]]
    safety: list[str]
    clone_seconds: float
    clone_subnet: str
    error: str | None = None

    @property
    def exit_code(self) -> int:
        if self.result is None:
            return 1
        return self.result.exit_code

    def predicted(self, t: StepTime) -> float:
        """A step's duration at real time: simulated waits scaled, requests as measured."""
        return t.duration_s / self.time_scale if t.kind in SCALED_KINDS else t.duration_s

    @property
    def predicted_seconds(self) -> float:
        """The whole run at real time: the clone's wall time with every restart, wait and
        verify scaled back up (requests, planning and backups take what they took)."""
        scaled = sum(t.duration_s for t in self.steps if t.kind in SCALED_KINDS)
        return self.clone_seconds - scaled + scaled / self.time_scale

    def predicted_starts(self) -> list[float]:
        """Each step's start at real time (the gaps between steps as measured)."""
        starts, shift = [], 0.0
        for t in self.steps:
            starts.append(t.started_s + shift)
            if t.kind in SCALED_KINDS:
                shift += t.duration_s / self.time_scale - t.duration_s
        return starts

    def to_doc(self) -> dict[str, Any]:
        s = self.time_scale
        return {
            "schema": REHEARSAL_SCHEMA,
            "runbook": self.runbook,
            "cluster": self.cluster,
            "params": self.params,
            "time_scale": s,
            "clone_subnet": self.clone_subnet,
            "status": self.result.status.value if self.result else "error",
            "exit_code": self.exit_code,
            "message": (self.result.message if self.result else self.error) or None,
            "recap": self.result.recap() if self.result else {},
            "injected": self.faults,
            "clone_seconds": round(self.clone_seconds, 3),
            "predicted_seconds": round(self.predicted_seconds, 1),
            "timeline": [
                {
                    **dataclasses.asdict(t),
                    "predicted_start_s": round(start, 1),
                    "predicted_duration_s": round(self.predicted(t), 1),
                }
                for t, start in zip(self.steps, self.predicted_starts(), strict=True)
            ],
            "downtime": {
                h: {
                    "clone_s": [round(d, 3) for d in ds],
                    "predicted_s": round(sum(ds) / s, 1),
                }
                for h, ds in self.downtime.items()
            },
            "still_down": sorted(self.still_down),
            "alarms": {h: [{"event": e, "id": i} for e, i in ev] for h, ev in self.alarms.items()},
            "still_raised": self.still_raised,
            "safety": self.safety,
            "assumptions": self.assumptions,
            "plan": json.loads(self.plan.to_json()) if self.plan else None,
            "run": self.result.to_doc() if self.result else None,
        }


class _Reading(Runner):
    """A runner that keeps the facts its plan was made from (read-only use only)."""

    facts: ClusterFacts | None = None

    def gather(
        self, session: RunSession, cluster: str, needs: frozenset[Fact] | None = None
    ) -> ClusterFacts:
        # Everything, not only what the plan uses: the clone is built from these facts.
        self.facts = super().gather(session, cluster)
        return self.facts


def _clone_env(real: Env, clone: Clone, directory: Path, time_scale: float) -> Env:
    st = real.settings

    def scaled(value: float, floor: float) -> float:
        return max(value * time_scale, floor)

    settings = dataclasses.replace(
        st,
        inventory=Path(clone.env["EXOPS_INVENTORY"]),
        ca_bundle=clone.env["EXOPS_CA_BUNDLE"],
        insecure=False,
        known_hosts=clone.env["EXOPS_KNOWN_HOSTS"],
        accept_new_host_keys=False,
        hosts_file=clone.env["EXOPS_HOSTS_FILE"],
        state_dir=directory / "state",
        state_url=None,
        lock_dir=directory / "state" / "locks",
        username=None,
        restart_timeout=scaled(st.restart_timeout, 2.0),
        settle_timeout=scaled(st.settle_timeout, 2.0),
        max_poll_interval=scaled(st.max_poll_interval, 0.05),
        lock_timeout=0.0,
    )
    return Env(settings=settings, inventory=load_inventory(settings.inventory, settings))


def _safety(plan: Plan | None, result: RunResult | None) -> list[str]:
    fired: list[str] = []
    if plan is not None:
        if plan.refused:
            fired.append(f"plan refused: {plan.refused}")
        fired += [
            f"preflight {c.name}: {c.summary}"
            for c in plan.preflight
            if c.outcome is CheckOutcome.FAIL
        ]
    if result is not None:
        fired += [
            f"step {s.action.id} '{s.action.step}' on {s.host or 'the cluster'} refused: {s.error}"
            for s in result.steps
            if s.refused
        ]
    return fired


def rehearse(
    env: Env,
    runbook: str,
    cluster: str,
    params: dict[str, Any],
    *,
    time_scale: float = 0.01,
    faults: list[Fault] | None = None,
    keep_dir: Path | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> Rehearsal:
    """Read ``cluster`` (reads only), clone it, run ``runbook`` on the clone; the report.

    Raises:
        UsageError: bad input (cluster, runbook, parameters, fault), or the lab is not installed.
        ExopsError: the clone could not be started.
    """
    if not 0 < time_scale <= 1:
        raise UsageError(f"--time-scale {time_scale}: must be in (0, 1]")
    missing = labcli.lab_missing()
    if missing:  # before the real cluster is read: nothing to do without the lab
        raise UsageError(f"exops rehearse runs the clone on the bundled lab, which {missing}")
    spec = env.inventory.cluster(cluster)
    faults = list(faults or [])
    for f in faults:
        if f.peer is not None:
            spec.peer(f.peer)
    progress(f"reading cluster {cluster} (read-only) ...")
    reader = _Reading(env)
    dry = reader.plan(runbook, cluster, params)
    if reader.facts is None:
        raise ExopsError(f"cluster {cluster}: no facts were read")
    clone_doc, assumptions = clone_spec(reader.facts, spec)
    transport = spec.peers[0].transport if spec.peers else "auto"
    with _workdir(keep_dir) as directory:
        progress(f"starting the clone in {directory} ...")
        with running_clone(
            clone_doc, directory, time_scale=time_scale, transport=transport
        ) as clone:
            clone_env = _clone_env(env, clone, directory, time_scale)
            environ = {"EXOPS_PASSWORD": clone.env["EXOPS_PASSWORD"]}
            timeline = _Timeline(clone, faults)

            def sessions(clusters: list[str]) -> Session:
                inv = clone_env.inventory
                return Session(inv, clone_env.settings, inv.select(clusters), environ=environ)

            _, offsets = _alarm_events(clone, {})
            progress(f"running {runbook} on the clone (time scale {time_scale}) ...")
            started = time.monotonic()
            result = Runner(clone_env, observers=[timeline], sessions=sessions).run(
                runbook, cluster, params, yes=True
            )
            seconds = time.monotonic() - started
            alarms, _ = _alarm_events(clone, offsets)
            state = _control(clone, "GET", "/state")
            still = {n: list(p.get("alarms", [])) for n, p in state["peers"].items()}
    return Rehearsal(
        runbook=runbook,
        cluster=cluster,
        params=params,
        time_scale=time_scale,
        plan=result.plan or dry.plan,
        result=result,
        assumptions=assumptions,
        faults=timeline.injected
        + [{"fault": f.describe(), "injected": False} for f in timeline.faults],
        steps=sorted(timeline.steps.values(), key=lambda t: t.started_s),
        downtime=timeline.downtime,
        still_down=dict(timeline.down),
        alarms=alarms,
        still_raised=still,
        safety=_safety(result.plan or dry.plan, result),
        clone_seconds=seconds,
        clone_subnet=clone.subnet,
    )


@contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="exops-rehearse-") as d:
        yield Path(d)


# -- the report ---------------------------------------------------------------------------


def _fmt_s(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _outcome(r: Rehearsal) -> tuple[str, list[str]]:
    """The headline (what happened on the clone, in words) and its lines."""
    doc = r.to_doc()
    ok = doc["exit_code"] == 0
    headline = (
        f"Outcome on the clone: {'SUCCEEDED' if ok else 'FAILED'} "
        f"({doc['status']}, exit code {doc['exit_code']})"
    )
    lines = [doc["message"]] if doc["message"] else []
    lines += [
        f"{host}: " + ", ".join(f"{k}={v}" for k, v in counts.items() if v)
        for host, counts in doc["recap"].items()
    ]
    lines += [
        f"injected {f['fault']}"
        + (f" on {f['peer']} at action {f['action']}" if f.get("peer") else " (never reached)")
        for f in r.faults
    ]
    return headline, lines


def _sections(r: Rehearsal) -> list[tuple[str, list[str]]]:
    """The sections after the outcome and the plan: real-time predictions first, then
    what the clone itself took (simulated time: never a prediction)."""
    s = r.time_scale
    timeline = [
        f"{_fmt_s(start):>7} +{_fmt_s(r.predicted(t)):<7} {t.action:<5} "
        f"{t.status:<11} {t.step}" + (f" [{t.host}]" if t.host else "")
        for t, start in zip(r.steps, r.predicted_starts(), strict=True)
    ]
    timeline.append(
        f"predicted duration at real time: {_fmt_s(r.predicted_seconds)} (restarts, waits "
        "and verifies scaled back to real time, requests as measured)"
    )
    downtime = [
        f"{h}: {_fmt_s(sum(ds) / s)} ({len(ds)} restart{'s' if len(ds) != 1 else ''})"
        for h, ds in sorted(r.downtime.items())
    ]
    downtime += [
        f"{h}: went down to restart and had not come back when the run ended"
        for h in sorted(r.still_down)
    ]
    downtime = downtime or ["no peer restarted"]
    alarms = [
        f"{h}: " + ", ".join(f"{i} {e}" for e, i in ev) for h, ev in sorted(r.alarms.items()) if ev
    ] or ["no alarm rose or cleared"]
    alarms += [
        f"still raised at the end on {h}: {', '.join(a)}" for h, a in r.still_raised.items() if a
    ]
    clone = [
        f"the clone ran {r.clone_seconds:.1f} s of wall-clock time at time scale {s} "
        f"({1 / s:g}x faster than real appliances): simulated time, not a prediction",
        f"the clone's peers were on {r.clone_subnet}.x (loopback); the real cluster was only read",
    ]
    return [
        ("Timeline (predicted at real time)", timeline),
        ("Predicted downtime per peer", downtime),
        ("Alarms during the rehearsal", alarms),
        ("Safety rules that fired", r.safety or ["none"]),
        ("The clone (simulated time)", clone),
        ("Assumptions (what the clone cannot know)", r.assumptions),
    ]


def render(r: Rehearsal, fmt: str) -> str:
    """The rehearsal report as text, md, html or json: titled as a rehearsal, the
    outcome on top, then the plan it rehearsed, then the predictions."""
    from exops.report import render_plan

    if fmt == "json":
        return json.dumps(r.to_doc(), indent=2, default=str)
    title = f"Rehearsal of {r.runbook} on a clone of {r.cluster}"
    headline, outcome = _outcome(r)
    plan = render_plan(r.plan, fmt) if r.plan is not None else ""
    sections = _sections(r)
    if fmt == "md":
        plan = plan.replace("# Change review:", "## The plan rehearsed:", 1)
        body = [f"# {title}", "", f"**{headline}**", "", *(f"- {ln}" for ln in outcome), ""]
        body += [plan, ""]
        for head, lines in sections:
            body += [f"## {head}", "", *(f"- {ln}" for ln in lines), ""]
        return "\n".join(body)
    if fmt == "html":
        return _html(r, title, headline, outcome, plan, sections)
    body = [title, "=" * len(title), headline, *(f"  {ln}" for ln in outcome), "", plan]
    for head, lines in sections:
        body += ["", head + ":", *(f"  {ln}" for ln in lines)]
    return "\n".join(body)


def _html(
    r: Rehearsal,
    title: str,
    headline: str,
    outcome: list[str],
    plan: str,
    sections: list[tuple[str, list[str]]],
) -> str:
    """One document titled as a rehearsal: the outcome first, the plan (its review
    headings demoted), then the predictions and the clone's own time."""
    cls = "ok" if r.exit_code == 0 else "failed"
    items = "".join(f"<li>{html.escape(ln)}</li>" for ln in outcome)
    top = (
        f"<h1>{html.escape(title)}</h1>\n"
        f"<p class='summary {cls}' id='outcome'>{html.escape(headline)}</p><ul>{items}</ul>\n"
    )
    rest = []
    for head, lines in sections:
        lis = "".join(f"<li>{html.escape(ln)}</li>" for ln in lines)
        rest.append(f"<h2>{html.escape(head)}</h2><ul>{lis}</ul>")
    tail = "<section class='rehearsal'>" + "\n".join(rest) + "</section>\n"
    if "<body>" not in plan:
        return (
            f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head>"
            f"<body>{top}{tail}</body></html>"
        )
    head, _, body = plan.partition("<body>")
    head = re.sub(r"<title>.*?</title>", f"<title>{html.escape(title)}</title>", head, count=1)
    body = body.replace("<h1>Change review:", "<h2>The plan rehearsed:", 1).replace(
        "</h1>", "</h2>", 1
    )
    return f"{head}<body>\n{top}{body.replace('</body>', tail + '</body>', 1)}"


__all__ = [
    "REHEARSAL_SCHEMA",
    "Fault",
    "Rehearsal",
    "clone_spec",
    "parse_inject",
    "rehearse",
    "render",
]

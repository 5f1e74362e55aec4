"""First contact: ``exops probe``, read-only, what each peer offers and what exops can do.

Per peer: which interfaces answer (provisioning REST, the cluster database
REST on or off, the SSH shell, ``/status.xml``), the software version,
product and role, and for every field exops needs whether it was read and
parsed, over which interface, and which row of the appliance knowledge
(``exops.appliance.knowledge``) it matched; a field that could not be read or
parsed comes with the first line of the raw answer. Then a verdict per
shipped runbook: "can run" or "cannot run, because ...".

Every form exops uses that no public source shows (``knowledge.FORMS``, the
``[[form]]`` rows; docs/contract.md section 9) is named in ``forms`` with what
the box answered to it, so a first probe of a real box confirms or corrects
it; ``--record DIR`` keeps every exchange and this report (``DIR/probe.json``)
as the redacted bundle an operator can send back (docs/probe.md).

Nothing is written: every request is a GET or a CLI read (``xConfiguration``
without a value, ``xStatus``, ``eventlog``). The raw answers come from the same
recording hook as ``--record`` (``exops.appliance.record``), kept in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from exops.appliance.base import ConnectionTarget, Field
from exops.appliance.knowledge import (
    CDB,
    CLI,
    ERROR_OPEN,
    FORMS,
    OPTION_KEYS_REMOVED_IN,
    REST,
    SERVER_LISTS,
    SETTING_RULES,
    form_of,
    version_tuple,
)
from exops.appliance.record import PeerRecorder, recorder_for
from exops.appliance.rest import RestAppliance, shape_of
from exops.appliance.ssh import ParamikoShell, SshAppliance
from exops.core.errors import ApplianceError, ExopsError, TransportError
from exops.core.models import Role
from exops.inventory import PeerSpec

PROBE_SCHEMA = "exops.probe/1"
STATUS_XML = "/status.xml"

# Field -> (cluster-database row, CLI row): which contract row a read matched.
_SETTING_FIELDS: tuple[tuple[str, Field], ...] = (
    ("settings.peers", Field.PEER_ADDRESS),
    ("settings.primary", Field.PRIMARY),
    ("settings.cluster_name", Field.CLUSTER_NAME),
    ("settings.tls_mode", Field.TLS_MODE),
    ("settings.ip_version", Field.IP_VERSION),
    ("settings.mapping", Field.MAPPING_MODE),
)


def _cdb_row(f: Field) -> str:
    rule = SETTING_RULES[f.value]
    return f"SETTING_RULES[{f.value}]: {CDB.prefix}{rule.table}.{rule.field} ({rule.mark})"


def _cli_row(f: Field) -> str:
    return f"SETTING_RULES[{f.value}].cli: xConfiguration {SETTING_RULES[f.value].cli}"


@dataclass
class Interface:
    name: str  # provisioning_rest | cdb_rest | ssh | status_xml
    state: str  # answers | on | off | not offered | fails
    detail: str = ""


@dataclass
class FieldRead:
    name: str
    # parsed | unknown (the interface does not give it, or in a shape exops does not
    # read: the reason names it) | n/a (this version has no such thing) | unreadable
    status: str
    via: str  # rest | cdb-rest | ssh
    source: str  # the path or CLI command
    contract: str  # the knowledge row it matched
    value: str = ""
    raw: str = ""  # first line of the raw answer when unreadable
    error: str = ""


@dataclass
class FormMet:
    """A form with no public evidence (``knowledge.FORMS``) that the probe sent, and what
    the box answered: the line an operator sends back to confirm or correct it."""

    form: str  # the FORMS row
    request: str  # as sent (query kept)
    part: str  # which part has no evidence
    answered: str  # status and shape / first lines of the answer


@dataclass
class PeerProbe:
    host: str
    cluster: str
    address: str
    hostname: str
    transport: str
    interfaces: list[Interface] = field(default_factory=list)
    version: str | None = None
    product: str | None = None
    role: str | None = None
    fields: list[FieldRead] = field(default_factory=list)
    forms: list[FormMet] = field(default_factory=list)
    forms_not_met: list[str] = field(default_factory=list)  # FORMS rows never sent

    def interface(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if i.name == name), None)

    def answers(self, name: str) -> bool:
        i = self.interface(name)
        return i is not None and i.state in ("answers", "on")

    @property
    def reachable(self) -> bool:
        return self.answers("provisioning_rest") or self.answers("ssh")

    @property
    def unreadable(self) -> list[FieldRead]:
        return [f for f in self.fields if f.status == "unreadable"]

    @property
    def complete(self) -> bool:
        return self.reachable and not self.unreadable

    def field(self, name: str) -> FieldRead | None:
        return next((f for f in self.fields if f.name == name), None)

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["reachable"] = self.reachable
        doc["complete"] = self.complete
        return doc


@dataclass
class Verdict:
    runbook: str
    can_run: bool
    reasons: list[str]

    @property
    def text(self) -> str:
        return "can run" if self.can_run else "cannot run, because " + "; ".join(self.reasons)


@dataclass
class ProbeReport:
    cluster: str
    peers: list[PeerProbe]
    verdicts: list[Verdict]
    # The peers' passwords, to scrub a written report with (never in to_doc).
    secrets: list[str] = field(default_factory=list, repr=False)

    @property
    def exit_code(self) -> int:
        return 0 if all(p.complete for p in self.peers) else 1

    def to_doc(self) -> dict[str, Any]:
        return {
            "schema": PROBE_SCHEMA,
            "cluster": self.cluster,
            "complete": self.exit_code == 0,
            "peers": [p.to_doc() for p in self.peers],
            "runbooks": [
                {
                    "runbook": v.runbook,
                    "can_run": v.can_run,
                    "verdict": v.text,
                    "reasons": v.reasons,
                }
                for v in self.verdicts
            ],
        }


# -- reading one peer -----------------------------------------------------------------


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return "(empty answer)"


class _PeerProber:
    def __init__(self, spec: PeerSpec, target: ConnectionTarget):
        self.spec = spec
        self.target = target
        # The raw answers: the --record recorder when recording, else memory only.
        self.tap: PeerRecorder = recorder_for(target) or PeerRecorder(
            None, target.host, [target.password.get_secret_value()], {}
        )
        self.rest = RestAppliance(target)
        self.rest.recorder = self.tap
        self.ssh = SshAppliance(target, shell_factory=self._shell, rest=self.rest)
        self.result = PeerProbe(
            host=spec.name,
            cluster=spec.cluster,
            address=spec.address,
            hostname=target.hostname,
            transport=target.transport,
        )

    def _shell(self, target: ConnectionTarget) -> ParamikoShell:
        shell = ParamikoShell(target)
        shell.recorder = self.tap
        return shell

    def raw_for(self, error: ExopsError, source: str) -> str:
        """First line of the answer the failed read got (the named table, else the last)."""
        text = str(error)
        for x in reversed(self.tap.exchanges):
            where = str(x.get("path") or x.get("command") or "")
            if where and (where.split("?", maxsplit=1)[0] in text or where == source):
                if x.get("error"):
                    return f"(no answer: {x['error']})"
                return _first_line(str(x.get("body", x.get("answer", ""))))
        if self.tap.exchanges:
            last = self.tap.exchanges[-1]
            if last.get("error"):
                return f"(no answer: {last['error']})"
            return _first_line(str(last.get("body", last.get("answer", ""))))
        return "(no answer)"

    def _read(self, source: str, read: Callable[[], Any]) -> tuple[Any, ExopsError | None]:
        try:
            return read(), None
        except ExopsError as exc:
            return None, exc

    def add(
        self,
        name: str,
        via: str,
        source: str,
        contract: str,
        value: Any,
        error: ExopsError | None,
        why_unknown: str = "",
    ) -> None:
        if error is not None:
            self.result.fields.append(
                FieldRead(
                    name, "unreadable", via, source, contract,
                    raw=self.raw_for(error, source), error=str(error).splitlines()[0],
                )
            )  # fmt: skip
        elif value is None:
            self.result.fields.append(
                FieldRead(name, "unknown", via, source, contract, error=why_unknown)
            )
        elif isinstance(value, NotApplicable):
            self.result.fields.append(
                FieldRead(name, "n/a", via, source, contract, value.why, error=why_unknown)
            )
        else:
            self.result.fields.append(FieldRead(name, "parsed", via, source, contract, str(value)))

    # -- interfaces ---------------------------------------------------------------
    def interfaces(self) -> None:
        r = self.result
        try:
            self.rest.probe()
            r.interfaces.append(Interface("provisioning_rest", "answers", REST.probe))
        except ExopsError as exc:
            r.interfaces.append(Interface("provisioning_rest", "fails", str(exc).splitlines()[0]))
        if r.answers("provisioning_rest"):
            try:
                on = self.rest.cdb_available()
                r.interfaces.append(
                    Interface(
                        "cdb_rest",
                        "on" if on else "off",
                        f"{CDB.prefix}{CDB.master}" + ("" if on else " answers 404"),
                    )
                )
            except ExopsError as exc:
                r.interfaces.append(Interface("cdb_rest", "fails", str(exc).splitlines()[0]))
            r.interfaces.append(self._status_xml())
        else:
            r.interfaces.append(Interface("cdb_rest", "fails", "provisioning REST did not answer"))
            r.interfaces.append(Interface("status_xml", "fails", "HTTPS did not answer"))
        try:
            self.ssh.probe()
            r.interfaces.append(Interface("ssh", "answers", CLI.read_h323))
        except ExopsError as exc:
            r.interfaces.append(Interface("ssh", "fails", str(exc).splitlines()[0]))

    def _status_xml(self) -> Interface:
        try:
            with self.rest._operation("read status.xml"):
                answer = self.rest._request("GET", STATUS_XML, retry=False)
        except ApplianceError as exc:
            if exc.status_code == 404:
                return Interface("status_xml", "not offered", f"{STATUS_XML} answers HTTP 404")
            return Interface("status_xml", "fails", str(exc).splitlines()[0])
        except ExopsError as exc:
            return Interface("status_xml", "fails", str(exc).splitlines()[0])
        return Interface(
            "status_xml", "answers", f"{STATUS_XML}: {_first_line(answer.text)} (not used by exops)"
        )

    def cluster_route(self) -> str:
        """The interface exops's ``auto``/``rest``/``ssh`` transport reads the cluster over."""
        t = self.target.transport
        if t == "ssh":
            return "ssh"
        if t == "rest":
            return "cdb-rest"
        return "cdb-rest" if self.result.answers("cdb_rest") else "ssh"

    # -- fields ---------------------------------------------------------------------
    def fields(self) -> None:
        route = self.cluster_route()
        if route == "cdb-rest" and not self.result.answers("cdb_rest"):
            why = TransportError("the cluster database REST is not on (transport: rest)")
            for name, f in _SETTING_FIELDS:
                self.add(name, route, f"{CDB.prefix}{SETTING_RULES[f.value].table}", "", None, why)
        elif route == "ssh" and not self.result.answers("ssh"):
            ssh = self.result.interface("ssh")
            why = TransportError(f"SSH unavailable ({ssh.detail if ssh else '?'})")
            for name, f in _SETTING_FIELDS:
                self.add(name, route, CLI.read_alternates, _cli_row(f), None, why)
        else:
            self._cluster_fields(route)
        if self.result.answers("provisioning_rest") or self.result.answers("ssh"):
            self._system_fields()
        if self.result.answers("provisioning_rest"):
            self._cert_fields()
        self._logs()
        self._other_forms()

    def _other_forms(self) -> None:
        """Send the no-evidence forms the reads above did not (the other interface's):
        read-only, results ignored - only what the box answered matters (``forms``)."""
        if self.result.answers("ssh"):
            if not any(
                f.via == "ssh" and f.name.startswith("settings.") for f in self.result.fields
            ):
                self._read("settings", self.ssh.read_settings)
                self._read("status", self.ssh.read_status)
            if not any(f.via == "ssh" and f.name == "system.version" for f in self.result.fields):
                self._read("system", self.ssh.read_system)
            self._read("alarms", lambda: self.ssh._status(CLI.status_alarms))

    def forms(self) -> None:
        """Every no-evidence form (``FORMS``) this probe sent, with what came back."""
        met: dict[str, FormMet] = {}
        for x in self.tap.exchanges:
            if x.get("iface") == "ssh":
                answer = str(x.get("answer", ""))
                request = str(x.get("command", ""))
                rows = [form_of("ssh", request)]
                if ERROR_OPEN in answer:
                    rows.append(FORMS.get("ssh.error_block"))
                answered = _lines_of(answer)
            else:
                request = f"{x.get('method')} {x.get('path')}"
                rows = [form_of("rest", request)]
                answered = _rest_answer(x)
            for row in rows:
                if row is not None and row.name not in met:
                    met[row.name] = FormMet(row.name, request, row.part, answered)
        self.result.forms = [met[n] for n in FORMS if n in met]
        self.result.forms_not_met = [n for n in FORMS if n not in met]

    def _cluster_fields(self, route: str) -> None:
        app: Any = self.rest if route == "cdb-rest" else self.ssh
        settings, err = self._read("settings", app.read_settings)
        for name, f in _SETTING_FIELDS:
            if route == "cdb-rest":
                source, row = f"{CDB.prefix}{SETTING_RULES[f.value].table}", _cdb_row(f)
            else:
                source, row = CLI.read_alternates, _cli_row(f)
            value: Any = None
            if settings is not None:
                value = {
                    "settings.peers": ", ".join(a or "-" for a in settings.peers),
                    "settings.primary": settings.primary,
                    "settings.cluster_name": settings.cluster_name or "(empty)",
                    "settings.tls_mode": settings.tls_mode.value,
                    "settings.ip_version": settings.ip_version.value,
                    "settings.mapping": ("On" if settings.mapping_enabled else "Off")
                    + "".join(f" {m.name}={m.address}" for m in settings.mapping),
                }[name]
            self.add(name, route, source, row, value, err)
        status, err = self._read("status", app.read_status)
        if route == "cdb-rest":
            src = f"{CDB.prefix}{CDB.peer_status} + {CDB.database}"
            row = f"Cdb.peer_status/Cdb.database: {CDB.prefix}{CDB.peer_status} (CONFIRMED fields)"
        else:
            src = CLI.status_alternates
            row = f"Cli.status_alternates: {CLI.status_alternates} (node CONFIRMED)"
        self.add(
            "status.peers",
            route,
            src,
            row,
            None
            if status is None
            else ", ".join(f"{e.slot}:{e.address}={e.state.value}" for e in status.peers) or "-",
            err,
        )
        self.add(
            "status.replication",
            route,
            src,
            row,
            None if status is None else f"{status.database or '-'}/{status.replication or '-'}",
            err,
        )
        alarms, err = self._read("alarms", app.read_alarms)
        if route == "cdb-rest":
            src, row = f"{CDB.prefix}{CDB.alarms}", f"Cdb.alarms: {CDB.prefix}{CDB.alarms}"
        else:
            src, row = CLI.status_warnings, f"Cli.status_warnings: {CLI.status_warnings}"
        raised = None if alarms is None else [a.id for a in alarms if a.status == "raised"]
        self.add(
            "alarms", route, src, row, None if raised is None else ",".join(raised) or "none", err
        )

    def _system_fields(self) -> None:
        r = self.result
        if self.target.transport == "ssh" or not r.answers("provisioning_rest"):
            self._system_over_ssh()
            return
        # Version, product and platform from sysinfo alone (a failing DNS or option
        # key read must not hide them); H.323 from the CDB or the CLI.
        info, err = self._read("sysinfo", lambda: self.rest._json(REST.sysinfo))
        if info is not None and not isinstance(info, dict):
            err = ApplianceError(f"{REST.sysinfo}: answer is not a JSON object")
        values: dict[str, Any] = {}
        if err is None:
            values = {k: info.get(k) for k in ("Version", "ProductType", "PlatformSize")}
            bad = [k for k, v in values.items() if v is not None and not isinstance(v, str)]
            if bad:
                err = ApplianceError(f"{REST.sysinfo}: {', '.join(bad)} is not text")
        product = values.get("ProductType")
        role = next(
            (x for x in Role if product and x.value.lower() == product.strip().lower()), None
        )
        r.version, r.product = values.get("Version"), product
        r.role = role.value if role else None
        body = "Rest.sysinfo: " + REST.sysinfo
        self.add(
            "system.version",
            "rest",
            REST.sysinfo,
            f"{body} Version (body MOCK-DEFINED)",
            r.version,
            err,
            f"{REST.sysinfo} has no Version",
        )
        self.add(
            "system.role",
            "rest",
            REST.sysinfo,
            f"{body} ProductType (body MOCK-DEFINED)",
            r.role,
            err,
            f"ProductType {product!r} is not a known role"
            if product
            else f"{REST.sysinfo} has no ProductType",
        )
        self.add(
            "system.platform",
            "rest",
            REST.sysinfo,
            f"{body} PlatformSize (MOCK-DEFINED)",
            values.get("PlatformSize"),
            err,
            f"{REST.sysinfo} has no PlatformSize",
        )
        if r.answers("cdb_rest"):
            h323, h_err = self._read("h323", self.rest.read_h323)
            via, src = "cdb-rest", f"{CDB.prefix}{CDB.h323}"
            row = f"SETTING_RULES[h323_mode]: {CDB.prefix}{CDB.h323}.mode (MOCK-DEFINED)"
        else:
            h323, h_err = self._read("h323", self.ssh.read_h323)
            via, src, row = "ssh", CLI.read_h323, f"Cli.read_h323: {CLI.read_h323} (INFERRED)"
        shown = None if h323 is None else ("On" if h323 else "Off")
        self.add("system.h323", via, src, row, shown, h_err, "no On/Off value")
        system, err = self._read("system", self.rest.read_system)
        self._listed_facts("rest", system, err, self.rest.last_unknown)

    def _listed_facts(
        self, via: str, system: Any, err: ExopsError | None, said: dict[str, str]
    ) -> None:
        """DNS and NTP servers and option keys: each parsed, unknown with the shape named,
        or n/a (option keys on Expressway X14.2+)."""
        if via == "rest":
            rows = {
                "dns_servers": (
                    SERVER_LISTS["dns_servers"].path,
                    "SERVER_LISTS[dns_servers]: wrapped object, one object or a list "
                    "(CONFIRMED shape)",
                ),
                "ntp_servers": (
                    SERVER_LISTS["ntp_servers"].path,
                    "SERVER_LISTS[ntp_servers]: one object or a list (CONFIRMED shape)",
                ),
                "option_keys": (REST.optionkey, "Rest.optionkey (body MOCK-DEFINED)"),
            }
        else:
            rows = {
                "dns_servers": (
                    CLI.read_dns,
                    "DNS_SERVER_LEAF: IP DNS Server <n> Address (INFERRED)",
                ),
                "ntp_servers": (
                    CLI.read_ntp,
                    "NTP_SERVER_LEAF: NTP Server <n> Address (MOCK-DEFINED)",
                ),
                "option_keys": (
                    CLI.status_options,
                    "OPTIONS_TREE: node CONFIRMED, entries MOCK-DEFINED",
                ),
            }
        removed = _no_option_keys(self.result)
        for name, (source, row) in rows.items():
            value: Any = None
            why = said.get(f"system.{name}", "")
            if system is not None:
                got = getattr(system, name)
                if name == "option_keys" and removed:
                    value = NotApplicable(removed)
                elif got is not None and name == "option_keys":
                    value = ", ".join(k.description or k.key for k in got) or "none"
                elif got is not None:
                    value = ", ".join(got) or "none"
            self.add(f"system.{name}", via, source, row, value, err, why)

    def _logs(self) -> None:
        """The event log both ways: REST ``eventlog`` (MOCK-DEFINED path, the lab's) and
        ``eventlog N`` over SSH (INFERRED). Neither is needed by a runbook, so a failure
        is ``unknown``, not unreadable."""
        if self.result.answers("provisioning_rest"):
            lines, err = self._read("log", lambda: self.rest.read_log(5))
            self.add(
                "logs.rest",
                "rest",
                f"{REST.eventlog}?lines=5",
                "Rest.eventlog (MOCK-DEFINED: no public REST log resource)",
                None if lines is None else f"{len(lines)} lines",
                None,
                "" if err is None else str(err).splitlines()[0],
            )
        if self.result.answers("ssh"):
            lines, err = self._read("log", lambda: self.ssh.read_log(5))
            self.add(
                "logs.ssh",
                "ssh",
                f"{CLI.eventlog} 5",
                "Cli.eventlog (INFERRED)",
                None if lines is None else f"{len(lines)} lines",
                None,
                "" if err is None else str(err).splitlines()[0],
            )

    def _system_over_ssh(self) -> None:
        r = self.result
        system, err = self._read("system", self.ssh.read_system)
        src = f"{CLI.status_system} + {CLI.read_h323}"
        if system is not None:
            r.version = system.version
            r.role = r.product = system.role.value if system.role else None
        rows = {
            "system.version": ("SYSTEM_UNIT.version: Software Version (CONFIRMED)", "version"),
            "system.role": ("ROLE_BY_FLAGS: Software Configuration flags (CONFIRMED)", "role"),
            "system.platform": ("SystemUnitTree: no platform size over SSH", "platform"),
            "system.h323": (f"Cli.read_h323: {CLI.read_h323} (INFERRED)", "h323_enabled"),
        }
        for name, (row, attr) in rows.items():
            value = getattr(system, attr) if system is not None else None
            if isinstance(value, bool):
                value = "On" if value else "Off"
            elif value is not None and not isinstance(value, str):
                value = str(getattr(value, "value", value))
            self.add(name, "ssh", src, row, value, err, "not offered over SSH")
        self._listed_facts("ssh", system, err, self.ssh.last_unknown)

    def _cert_fields(self) -> None:
        certs, err = self._read("certificate", self.rest.read_certificate)
        cert = certs[0] if certs else None
        self.add(
            "certificate",
            "rest",
            REST.server_cert,
            f"Rest.server_cert: {REST.server_cert} (CONFIRMED)",
            None
            if certs is None
            else (
                f"CN={cert.subject_cn} SAN={','.join(cert.sans)} until {cert.not_after:%Y-%m-%d}"
                if cert
                else "(none)"
            ),
            err,
        )
        self.add(
            "trust_store",
            "rest",
            REST.trust_store,
            f"Rest.trust_store: {REST.trust_store} (CONFIRMED)",
            None if certs is None else f"{len(certs[1])} CAs",
            err,
        )

    def run(self) -> PeerProbe:
        try:
            self.interfaces()
            if self.result.reachable:
                self.fields()
            self.forms()
        finally:
            self.rest.close()
            self.ssh.close()
        return self.result


@dataclass(frozen=True)
class NotApplicable:
    why: str


def _no_option_keys(p: PeerProbe) -> str:
    """Why option keys do not apply to this peer ("" when they may): Expressway X14.2+."""
    version = version_tuple(p.version)
    expressway = p.role in ("Expressway-C", "Expressway-E")
    if expressway and version is not None and version >= OPTION_KEYS_REMOVED_IN:
        return (
            "Expressway X14.2 and later have no option keys (Smart Licensing only; "
            "Release Note X14.2.5)"
        )
    return ""


def _lines_of(answer: str, keep: int = 4) -> str:
    lines = [ln.strip() for ln in answer.splitlines() if ln.strip()]
    shown = " | ".join(ln[:120] for ln in lines[:keep])
    more = f" (+{len(lines) - keep} lines)" if len(lines) > keep else ""
    return (shown + more) or "(empty answer)"


def _rest_answer(x: dict[str, Any]) -> str:
    if x.get("error"):
        return f"no answer: {x['error']}"
    body = str(x.get("body", ""))
    try:
        shown = shape_of(json.loads(body))
    except ValueError:
        shown = _lines_of(body, 2)
    return f"HTTP {x.get('status')}: {shown}"


def probe_peer(spec: PeerSpec, target: ConnectionTarget) -> PeerProbe:
    """Read one peer (never raises for appliance or transport trouble)."""
    return _PeerProber(spec, target).run()


# -- verdicts -----------------------------------------------------------------------


def _step_kinds(steps: Any) -> set[str]:
    kinds: set[str] = set()
    for step in steps or ():
        for kind in ("configure", "restart", "wait", "verify", "command"):
            if getattr(step, kind, None) is not None:
                kinds.add(kind)
        if getattr(step, "reachable_only", False):
            kinds.add("reachable_only")
        kinds |= _step_kinds(getattr(step, "steps", None))
    return kinds


def verdicts(peers: list[PeerProbe], runbooks: dict[str, Any] | None = None) -> list[Verdict]:
    """One verdict per shipped runbook, from what the probe found."""
    if runbooks is None:
        from exops.runbook.catalog import shipped
        from exops.runbook.loader import load_runbook

        runbooks = {name: load_runbook(name) for name in shipped()}
    out = []
    for name, runbook in runbooks.items():
        kinds = _step_kinds(runbook.steps)
        reasons: list[str] = []
        for p in peers:
            reasons += _peer_reasons(p, kinds)
        out.append(Verdict(name, not reasons, reasons))
    return out


def _peer_reasons(p: PeerProbe, kinds: set[str]) -> list[str]:
    if not p.reachable:
        if "reachable_only" in kinds:
            return []  # its steps skip peers that do not answer
        rest, ssh = p.interface("provisioning_rest"), p.interface("ssh")
        return [
            f"{p.host} did not answer (HTTPS: {rest.detail if rest else '?'}; "
            f"SSH: {ssh.detail if ssh else '?'})"
        ]
    reasons = []
    peer_list = p.field("settings.peers")
    if peer_list is not None and peer_list.status == "unreadable":
        reasons.append(
            f"{p.host}: an unknown answer shape for the peer list ({peer_list.source}: "
            f"{peer_list.error}; answer began {peer_list.raw!r})"
        )
    for f in p.unreadable:
        if f.name.startswith(("status.", "alarms")) or (
            f.name.startswith("settings.") and f.name != "settings.peers"
        ):
            reasons.append(f"{p.host}: {f.name} could not be read ({f.error})")
            break
    has_cdb, has_ssh = p.answers("cdb_rest"), p.answers("ssh")
    ssh_i = p.interface("ssh")
    ssh_why = ssh_i.detail if ssh_i else "not tried"
    if "configure" in kinds:
        if p.transport == "rest" and not has_cdb:
            reasons.append(f"{p.host}: transport rest but the cluster database REST is off")
        elif p.transport == "ssh" and not has_ssh:
            reasons.append(f"{p.host}: transport ssh but SSH is unavailable ({ssh_why})")
        elif not has_cdb and not has_ssh:
            reasons.append(
                f"{p.host}: the cluster database REST is off and SSH is unavailable ({ssh_why})"
            )
    if "restart" in kinds and not (p.answers("provisioning_rest") if p.transport != "ssh" else ssh):
        reasons.append(f"{p.host}: no interface to restart it over")
    if "command" in kinds and not has_ssh:
        reasons.append(f"{p.host}: xCommand needs SSH, which is unavailable ({ssh_why})")
    return reasons


# -- the whole probe ------------------------------------------------------------------


def probe_cluster(env: Any, cluster: str, peer: str | None = None) -> ProbeReport:
    """Probe every peer of ``cluster`` (or one), in parallel; read-only.

    Raises:
        UsageError: an unknown cluster or peer; a credential that cannot be resolved.
    """
    spec = env.inventory.cluster(cluster)
    if peer is not None:
        spec.peer(peer)
    session = env.session([cluster])  # resolves every credential; opens nothing
    specs = [p for p in spec.peers if peer is None or p.name == peer]
    with ThreadPoolExecutor(max_workers=max(1, min(len(specs), env.settings.workers))) as pool:
        results = list(pool.map(lambda s: probe_peer(s, session.targets[s.name]), specs))
    secrets = [session.targets[s.name].password.get_secret_value() for s in specs]
    return ProbeReport(cluster=cluster, peers=results, verdicts=verdicts(results), secrets=secrets)

"""The SSH admin shell of one simulated peer (asyncssh), per docs/contract.md section 4.

Shell mechanics follow ../shared/domain/expressway-interface.md sections 3 and 8:
commands are case-insensitive and every word may be abbreviated to a unique
prefix (``xstat``, ``xconf alternates``); a path may stop at any node (a
subtree or one leaf); ``?`` lists what may come next; a bare ``xStatus``
dumps every status node. Under a pty (``ssh -tt``, paramiko ``invoke_shell``)
a line ends at CR or LF, the typed line is echoed and output lines end in
CRLF; without a pty lines end at LF and nothing is echoed.

This module parses CLI lines (and the CLI's own value forms) and renders
answers; writes are validated and committed by the lab model
(``Lab.save_setting``), faults come through ``exops.lab.faults``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

import asyncssh

from exops.lab import faults, settings
from exops.lab.lab import ALARMS, Lab, Peer, iso
from exops.lab.settings import MAX_PEERS
from exops.lab.traffic import traffic_of

# CLI path -> (settings key, value style); (\d) captures the 1-based index.
PATHS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^Alternates Peer ([1-6]) Address$"), "peers", "string"),
    (re.compile(r"^Alternates ConfigurationMaster$"), "master", "int"),
    (re.compile(r"^Alternates Cluster Name$"), "name", "string"),
    (re.compile(r"^Alternates Cluster TLSVerify Mode$"), "tls", "enum"),
    (re.compile(r"^Alternates Cluster IpVersion$"), "ipver", "enum"),
    (re.compile(r"^Alternates Cluster AddressMapping Mode$"), "map_mode", "enum"),
    (re.compile(r"^Alternates Cluster AddressMapping ([1-6]) Name$"), "map_name", "string"),
    (re.compile(r"^Alternates Cluster AddressMapping ([1-6]) Address$"), "map_address", "string"),
    (re.compile(r"^H323 Mode$"), "h323", "enum"),
)

COMMANDS = ("xConfiguration", "xStatus", "xCommand", "eventlog", "configlog", "exit", "quit", "bye")
XCOMMANDS = ("Boot", "ForceConfigUpdate", "ForceSystemKeyUpdate")
# Status families that exist even when empty (so `xStatus Alarm` answers just OK).
ALWAYS = ("Alarm",)
LOG_LINES = 20  # eventlog / configlog without a count

Tree = dict[str, Union["Tree", str]]


class CliError(Exception):
    def __init__(self, reason: str, xpath: str = "") -> None:
        super().__init__(reason)
        self.reason, self.xpath = reason, xpath


def _q(value: Any) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def error(reason: str, xpath: str = "") -> str:
    return (
        f"*r Result (status=Error):\n    Reason: {_q(reason)}\n    XPath: {_q(xpath)}\n"
        "*r/end\nERROR\n"
    )


def welcome(peer: Peer) -> str:
    """The text the shell prints after login.

    Default: the banner then a blank line and no ``OK`` (a real box's welcome
    does not reliably end in OK, section 8). A peer whose ``ssh_welcome`` is
    ``"ok"`` ends it with an ``OK`` line (older form; PATCH it on the control API).
    """
    text = f"TANDBERG Video Communication Server {peer.version}\nSW Release Date: 2026-06-01\n"
    if peer.ssh_welcome == "ok":
        return text + "OK\n"
    return text + "\n"


# -- the configuration leaves and the status tree ---------------------------------


def config_leaves(peer: Peer) -> list[tuple[str, Any]]:
    """Every xConfiguration leaf of a peer: (path, value), in print order."""
    s = peer.saved
    items: list[tuple[str, Any]] = [("Alternates ConfigurationMaster", s.master)]
    items += [(f"Alternates Peer {i} Address", a) for i, a in enumerate(s.peers, 1)]
    items += [
        ("Alternates Cluster Name", s.name),
        ("Alternates Cluster TLSVerify Mode", str(s.tls)),
        ("Alternates Cluster IpVersion", str(s.ipver)),
        ("Alternates Cluster AddressMapping Mode", str(s.map_mode)),
    ]
    for i, (n, a) in enumerate(s.map, 1):
        items += [
            (f"Alternates Cluster AddressMapping {i} Name", n),
            (f"Alternates Cluster AddressMapping {i} Address", a),
        ]
    items.append(("H323 Mode", "On" if peer.h323 else "Off"))
    items += [("IP DNS Hostname", peer.hostname), ("IP DNS Domain Name", peer.domain)]
    # Server leaves: `IP DNS Server <n> Address` INFERRED, `NTP Server <n> Address`
    # MOCK-DEFINED. The "undocumented" form (tests) prints leaves exops does not read.
    odd = peer.server_list_form == "undocumented"
    dns_leaf, ntp_leaf = ("Nameserver", "Host") if odd else ("Server", "Server")
    servers = (list(peer.dns_servers) + [""] * 5)[:5]
    items += [(f"IP DNS {dns_leaf} {i} Address", a) for i, a in enumerate(servers, 1)]
    ntp = (list(peer.ntp_servers) + [""] * 5)[:5]
    items += [(f"NTP {ntp_leaf} {i} Address", a) for i, a in enumerate(ntp, 1)]
    return items


def _flag(on: bool) -> str:
    return "True" if on else "False"


def _mac(address: str) -> str:
    digest = hashlib.sha256(address.encode()).digest()
    return "00:50:56:" + ":".join(f"{b:02X}" for b in digest[:3])


def system_unit_tree(lab: Lab, peer: Peer) -> Tree:
    """xStatus SystemUnit after the real X8.11.3 capture (section 8)."""
    now = peer.system_time(lab.time_scale)  # the peer's own clock, as REST sysinfo
    return {
        "Product": "TANDBERG VCS",
        "Uptime": str(peer.uptime(lab.time_scale)),
        "SystemTime": now,
        "TimeZone": "UTC",
        "LocalTime": now,
        "Software": {
            "Version": peer.version,
            "Build": f"mock_{peer.version.lower()}",
            "Name": "s42700",
            "ReleaseDate": "2026-06-01",
            "ReleaseKey": "",
            "Configuration": {
                # Role flags: ExpresswaySeries True on Expressway; Expressway True on
                # the E (traversal) side (INFERRED from the VCS-era naming).
                "Expressway": _flag(peer.role == "Expressway-E"),
                "ExpresswaySeries": _flag(peer.role != "VCS"),
                "DualNetworkInterfaces": _flag(bool(peer.lan2)),
                "Encryption": "True",
                "Interworking": "False",
            },
        },
        # The capture names a virtual machine "VMware" (the lab's HardwareType "VM").
        "Hardware": {
            "Version": "VMware" if peer.hardware == "VM" else peer.hardware,
            "SerialNumber": peer.serial,
        },
    }


def alternates_tree(lab: Lab, peer: Peer) -> Tree:
    a = peer.active
    tree: Tree = {
        "LocalPeer": str(peer.local_slot(a)),
        "ConfigurationMaster": str(a.master),
        "Database": peer.database,
        "Replication": peer.replication,
        "LastSync": iso(peer.last_sync),
        "NextSync": iso(peer.last_sync + lab.interval if peer.last_sync else None),
        "FactoryResetPending": _flag(peer.factory_reset_pending()),
    }
    for i, addr in enumerate(a.peers, 1):
        if addr:
            tree[f"Peer {i}"] = {"Address": addr, "Status": peer.states.get(addr, "Unknown")}
    return tree


def cluster_tree(lab: Lab, peer: Peer) -> Tree:
    """`xstatus cluster` (INFERRED to exist; content MOCK-DEFINED)."""
    a = peer.active
    return {
        "Name": a.name,
        "State": "Enabled" if peer.clustered else "Not clustered",
        "Database": peer.database,
        "Replication": peer.replication,
        "ConfigurationMaster": str(a.master),
        "LocalPeer": str(peer.local_slot(a)),
        "Peers": str(sum(1 for p in a.peers if p)),
        "LastSync": iso(peer.last_sync),
        "NextSync": iso(peer.last_sync + lab.interval if peer.last_sync else None),
    }


def _reason(title: str) -> str:
    """'Title: text' (the mock's alarm titles) -> 'Title - text' (the real Reason form)."""
    head, sep, rest = title.partition(": ")
    return f"{head} - {rest}" if sep else title


def warnings_tree(peer: Peer) -> Tree:
    """Raised alarms as the real `Warnings` node: Warning <n> with ID (type UUID),
    Reason and State. <n> is stable per alarm type and not contiguous (as in the
    capture, where the items were 69, 89, 156)."""
    order = list(ALARMS)
    tree: Tree = {}
    for alarm in peer.alarms.values():
        if alarm.status != "raised":
            continue
        rec = alarm.record()
        n = order.index(rec["id"]) + 1 if rec["id"] in order else len(order) + len(tree) + 1
        tree[f"Warning {n}"] = {
            "ID": rec["uuid"],
            "Reason": _reason(rec["title"]),
            "State": "Unacknowledged",
        }
    return dict(sorted(tree.items(), key=lambda kv: int(kv[0].split()[1])))


def status_tree(lab: Lab, peer: Peer) -> Tree:
    """Every top-level xStatus node of a peer (each prints as one `*s` block)."""
    tree: Tree = {"SystemUnit": system_unit_tree(lab, peer)}
    lans = [peer.lan1 or peer.ip] + ([peer.lan2] if peer.lan2 else [])
    for i, ip in enumerate(lans, 1):
        tree[f"Ethernet {i}"] = {
            "MacAddress": _mac(ip),
            "Speed": "10000full",
            "IPv4": {"Address": ip, "SubnetMask": "255.255.255.0"},
        }
    servers = (list(peer.dns_servers) + [""] * 5)[:5]
    dns: Tree = {"Domain": {"Name": peer.domain}}
    for i, a in enumerate(servers, 1):
        dns[f"Server {i}"] = {"Address": a}
    tree["IP"] = {"Protocol": "IPv4", "DNS": dns}
    tree["Alternates"] = alternates_tree(lab, peer)
    tree["Cluster"] = cluster_tree(lab, peer)
    tree["Warnings"] = warnings_tree(peer)
    for i, alarm in enumerate(peer.alarms.values(), 1):
        r = alarm.record()
        tree[f"Alarm {i}"] = {
            "Id": r["id"],
            "Uuid": r["uuid"],
            "Status": r["status"],
            "Severity": r["severity"],
            "Title": r["title"],
            "Parameters": r["parameters"],
            "FirstRaised": r["first_raised"],
            "LastRaised": r["last_raised"],
        }
    tree["Options"] = options_tree(peer)
    tree["ResourceUsage"] = traffic_of(lab).resource_usage_tree(peer)  # exops/lab/traffic.py
    return tree


# `xStatus Options`: the node is CONFIRMED (X8.11.3 capture: <Options item="1"/>, empty);
# the entries are MOCK-DEFINED, mirrored from exops.appliance.knowledge.OPTIONS_TREE
# (tests/contract/test_conformance.py compares them): `Option <n>:` with Key,
# Description, Count.
OPTION_ENTRY = "Option"


def options_tree(peer: Peer) -> Tree:
    """The Options node: one entry per option key; empty on Expressway X14.2+ (no option
    keys). The "undocumented" form prints `Key <n>:` entries (the old mock's form)."""
    keys: Tree = {}
    if not peer.has_option_keys:
        return keys
    entry = "Key" if peer.server_list_form == "undocumented" else OPTION_ENTRY
    for i, k in enumerate(peer.option_keys, 1):
        count = k.get("Count")
        keys[f"{entry} {i}"] = {
            "Key": str(k["Key"]),
            "Description": str(k["Description"]),
            "Count": "" if count is None else str(count),
        }
    return keys


# -- abbreviation-proof path resolution ---------------------------------------------


def resolve(words: list[str], children: Callable[[tuple[str, ...]], list[str]]) -> tuple[str, ...]:
    """Canonical path words for ``words``: each word matches a child exactly
    (case-insensitive) or is a unique prefix of one; numbers match exactly."""
    path: tuple[str, ...] = ()
    for w in words:
        options = children(path)
        exact = [o for o in options if o.lower() == w.lower()]
        if exact:
            path += (exact[0],)
            continue
        hits = [] if w.isdigit() else [o for o in options if o.lower().startswith(w.lower())]
        if len(hits) == 1:
            path += (hits[0],)
        elif hits:
            raise CliError(f"Ambiguous: '{w}' could be {', '.join(sorted(hits))}")
        else:
            raise CliError("No such path", "/".join((*path, w)))
    return path


def _children_of(paths: list[tuple[str, ...]]) -> Callable[[tuple[str, ...]], list[str]]:
    def children(prefix: tuple[str, ...]) -> list[str]:
        n = len(prefix)
        out: list[str] = []
        for p in paths:
            if len(p) > n and p[:n] == prefix and p[n] not in out:
                out.append(p[n])
        return out

    return children


def _tree_paths(tree: Tree, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for key, child in tree.items():
        p = prefix + tuple(key.split())
        out.append(p)
        if isinstance(child, dict):
            out += _tree_paths(child, p)
    return out


def _select(tree: Tree, words: tuple[str, ...]) -> Tree:
    """The branches of ``tree`` on the path ``words`` (a path may stop inside a
    multi-word key such as ``Peer 1``: every ``Peer <n>`` is kept)."""
    out: Tree = {}
    for key, child in tree.items():
        kw = tuple(key.split())
        n = min(len(kw), len(words))
        if kw[:n] != words[:n]:
            continue
        rest = words[len(kw) :]
        if not rest:
            out[key] = child
        elif isinstance(child, dict):
            sub = _select(child, rest)
            if sub:
                out[key] = sub
    return out


def _render(tree: Tree, depth: int = 1) -> str:
    pad = "  " * depth
    lines = []
    for key, child in tree.items():
        if isinstance(child, dict):
            lines.append(f"{pad}{key}:\n" + _render(child, depth + 1))
        else:
            lines.append(f"{pad}{key}: {_q(child)}\n")
    return "".join(lines)


def status_blocks(tree: Tree) -> str:
    """One `*s <Node>: /` ... `*s/end` block per top-level node, a blank line, OK;
    just OK when nothing matched an existing family."""
    blocks = [
        f"*s {node}: /\n" + (_render(body) if isinstance(body, dict) else "") + "*s/end\n"
        for node, body in tree.items()
    ]
    return ("".join(blocks) + "\nOK\n") if blocks else "OK\n"


# -- commands -----------------------------------------------------------------------


def _unquote(raw: str) -> tuple[str, bool]:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1].replace('\\"', '"').replace("\\\\", "\\"), True
    return raw, False


def write(lab: Lab, peer: Peer, path: str, raw: str) -> str:
    value, quoted = _unquote(raw)
    xpath = "/Configuration/" + "/".join(path.split())
    for pattern, key, style in PATHS:
        m = pattern.match(path.strip())
        if not m:
            continue
        index = int(m.group(1)) if m.groups() else None
        if style == "string" and not quoted:
            return error("Invalid value: expected a quoted string", xpath)
        if key == "master":  # the CLI numbers the primary's slot from 1 (0 unset)
            if not value.isdigit() or not 0 <= int(value) <= MAX_PEERS:
                return error("Invalid value", xpath)
            typed, reason = int(value), None
        else:
            typed, reason = settings.parse_text(key, value)
        reason = reason or lab.save_setting(peer, key, typed, index)
        return error(reason, xpath) if reason else "OK\n"
    return error("No such configuration path", xpath)


def _no_such(exc: CliError, what: str) -> str:
    return f"No such {what} path" if exc.reason == "No such path" else exc.reason


def _help(options: list[str]) -> str:
    return "".join(f"{o}\n" for o in options) + "OK\n"


def _log(lines: list[str], words: list[str], what: str) -> str:
    if len(words) > 1 or (words and not words[0].isdigit()):
        raise CliError(f"Usage: {what} [lines]")
    n = int(words[0]) if words else LOG_LINES
    picked = lines[-n:] if n > 0 else []
    return "".join(f"{line}\n" for line in picked) + "OK\n"


@dataclass
class Answer:
    output: str
    close: bool = False
    write: bool = False  # an accepted or refused write/command (for the request log)


def _xconfiguration(lab: Lab, peer: Peer, rest: str) -> Answer:
    leaves = config_leaves(peer)
    paths = [tuple(p.split()) for p, _ in leaves]
    children = _children_of(paths)
    if ":" in rest:  # a write: xConfiguration <path>: <value>
        raw_path, _, raw = rest.partition(":")
        try:
            path = resolve(raw_path.split(), children)
        except CliError:
            return Answer(
                error("No such configuration path", "/Configuration/" + "/".join(raw_path.split())),
                write=True,
            )
        if path not in paths:
            return Answer(
                error("No such configuration path", "/Configuration/" + "/".join(path)),
                write=True,
            )
        return Answer(write(lab, peer, " ".join(path), raw), write=True)
    words = rest.split()
    if words and words[-1] == "?":
        return Answer(_help(children(resolve(words[:-1], children))))
    try:
        path = resolve(words, children)
    except CliError as exc:
        return Answer(error(_no_such(exc, "configuration"), "/Configuration/" + exc.xpath))
    n = len(path)
    text = "".join(
        f"*c xConfiguration {p}: {_q(v)}\n" for p, v in leaves if tuple(p.split())[:n] == path
    )
    return Answer(text + "OK\n")


def _xstatus(lab: Lab, peer: Peer, rest: str) -> Answer:
    tree = status_tree(lab, peer)
    paths = _tree_paths(tree) + [(name,) for name in ALWAYS]
    children = _children_of(paths)
    words = rest.split()
    if words and words[-1] == "?":
        return Answer(_help(children(resolve(words[:-1], children))))
    try:
        path = resolve(words, children)
    except CliError as exc:
        return Answer(error(_no_such(exc, "status"), "/Status/" + exc.xpath))
    return Answer(status_blocks(_select(tree, path) if path else tree))


def _xcommand(lab: Lab, peer: Peer, rest: str) -> Answer:
    words = rest.split()
    if words and words[-1] == "?":
        return Answer(_help(list(XCOMMANDS)))
    try:
        (name,) = resolve(words, _children_of([(c,) for c in XCOMMANDS])) or ("",)
    except (CliError, ValueError):
        return Answer(error("Unknown command", ("xCommand " + rest)[:80]), write=True)
    if not name:
        return Answer(error("Unknown command", "xCommand"), write=True)
    if name == "Boot":  # a reboot (INFERRED): down for lab.reboot_s
        asyncio.get_running_loop().call_later(0.05, lambda: lab.restart(peer, reboot=True))
        return Answer("OK\n", close=True, write=True)
    if name == "ForceConfigUpdate":
        reason = lab.force_config_update(peer)
        return Answer(error(reason, "/Command/ForceConfigUpdate") if reason else "OK\n", write=True)
    lab.force_system_key_update(peer)
    return Answer("OK\n", write=True)


def run(lab: Lab, peer: Peer, line: str) -> Answer:
    """Answer one CLI line."""
    cmd = " ".join(line.strip().split())
    first, _, rest = cmd.partition(" ")
    if first == "?":
        return Answer(_help(list(COMMANDS[:5])))
    try:
        (name,) = resolve([first], _children_of([(c,) for c in COMMANDS]))
    except CliError:
        return Answer(error("Unknown command", cmd[:80]))
    try:
        if name == "xConfiguration":
            return _xconfiguration(lab, peer, rest)
        if name == "xStatus":
            return _xstatus(lab, peer, rest)
        if name == "xCommand":
            return _xcommand(lab, peer, rest)
        if name == "eventlog":
            return Answer(_log(list(peer.log), rest.split(), name))
        if name == "configlog":
            changes = [ln for ln in peer.log if 'Event="System Configuration Changed"' in ln]
            return Answer(_log(changes, rest.split(), name))
    except CliError as exc:
        return Answer(error(exc.reason, exc.xpath))
    return Answer("", close=True)  # exit, quit, bye


class _Server(asyncssh.SSHServer):
    def __init__(
        self,
        lab: Lab,
        peer: Peer,
        authorized: asyncssh.SSHAuthorizedKeys | None,
        conns: set[asyncssh.SSHServerConnection],
    ) -> None:
        self.lab, self.peer, self.authorized, self.conns = lab, peer, authorized, conns
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.conns.add(conn)
        conn.send_auth_banner(f"TANDBERG Video Communication Server {self.peer.version}\n")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conns.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        if faults.auth_rejected(self.lab, self.peer):
            return False
        return username == "admin" and secrets.compare_digest(password, self.lab.password)

    def public_key_auth_supported(self) -> bool:
        return self.authorized is not None

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if faults.auth_rejected(self.lab, self.peer) or self.authorized is None:
            return False
        return username == "admin" and self.authorized.validate(key, "", "127.0.0.1") is not None


class Lines:
    """Splits typed input into lines: CR, LF and CRLF each end one line."""

    def __init__(self) -> None:
        self.buf = ""
        self.after_cr = False

    def feed(self, data: str) -> list[str]:
        out: list[str] = []
        for ch in data:
            if ch == "\n" and self.after_cr:
                self.after_cr = False
                continue
            self.after_cr = ch == "\r"
            if ch in "\r\n":
                out.append(self.buf)
                self.buf = ""
            else:
                self.buf += ch
        return out


async def _answer(
    lab: Lab, peer: Peer, process: asyncssh.SSHServerProcess, line: str, out: Callable[[str], None]
) -> bool:
    """Answer one line on the channel; returns True when the session must end."""
    if not line.strip():
        return False
    # The one fault hook both front ends use (exops/lab/faults.py): delay and drop,
    # matched on the CLI line (a fault's path_prefix selects a command).
    gate = faults.fault_gate(lab, peer, "ssh", line.strip(), False)
    if gate.delay_s:
        await asyncio.sleep(gate.delay_s)
    if gate.drop:
        lab.record(peer, "ssh", "CLI", line.strip(), False, "dropped")
        out("*s Alternates: /\n")  # a partial answer, then the line dies
        process.channel.get_connection().abort()
        return True
    answer = run(lab, peer, line) if lab.replay is None else _replayed(lab, peer, line)
    failed = answer.output.endswith("ERROR\n")
    lab.record(
        peer, "ssh", "CLI", line.strip(), answer.write and not failed, "ERROR" if failed else "OK"
    )
    if gate.late_s:  # the line took effect; its answer comes after the client's deadline
        await asyncio.sleep(gate.late_s)
    if gate.trickle_s:
        await _trickle(answer.output, out, gate.trickle_s)
    else:
        out(answer.output)
    return answer.close


async def _trickle(text: str, out: Callable[[str], None], interval: float) -> None:
    """Fault ``trickle``: the answer one character per ``interval`` seconds."""
    for ch in text:
        out(ch)
        await asyncio.sleep(interval)


def _replayed(lab: Lab, peer: Peer, line: str) -> Answer:
    """``up --replay``: the recorded answer, or a CLI error naming the unrecorded line."""
    found = lab.replay.ssh(peer.name, line)
    if found is None:
        return Answer(error(f"not recorded: {' '.join(line.split())}"))
    return Answer(found)


def make_process_handler(lab: Lab, peer: Peer) -> Any:
    async def handle(process: asyncssh.SSHServerProcess) -> None:
        pty = process.get_terminal_type() is not None

        def out(text: str) -> None:
            process.stdout.write(text.replace("\n", "\r\n") if pty else text)

        try:
            if process.command is not None:
                await _answer(lab, peer, process, process.command, out)
                process.exit(0)
                return
            interval = faults.welcome_trickle(lab, peer)
            if interval:
                await _trickle(welcome(peer), out, interval)
            else:
                out(welcome(peer))
            lines = Lines()
            done = False
            while not done:
                try:
                    data = await process.stdin.read(4096)
                except asyncssh.TerminalSizeChanged:
                    continue  # a window resize is no input
                if not data:
                    break
                for line in lines.feed(data):
                    if pty:
                        out(line + "\n")  # echo what was typed
                    if await _answer(lab, peer, process, line, out):
                        done = True
                        break
            process.exit(0)
        except (asyncssh.BreakReceived, ConnectionError):
            process.exit(0)
        except asyncssh.Error:
            pass

    return handle


async def start(
    lab: Lab,
    peer: Peer,
    port: int,
    host_key: asyncssh.SSHKey,
    authorized: asyncssh.SSHAuthorizedKeys | None,
    conns: set[asyncssh.SSHServerConnection],
) -> asyncssh.SSHAcceptor:
    return await asyncssh.create_server(
        lambda: _Server(lab, peer, authorized, conns),
        peer.ip,
        port,
        server_host_keys=[host_key],
        process_factory=make_process_handler(lab, peer),
        line_editor=False,
        encoding="utf-8",
        keepalive_interval=0,
    )

"""The SSH admin shell of one simulated peer (asyncssh), per docs/contract.md section 4."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

import asyncssh

from mock_server.lab import MAX_PEERS, Lab, Peer
from mock_server.rest import apply_setting

WRITE = re.compile(r"^xConfiguration\s+(.+?):\s*(.*)$", re.IGNORECASE)
# CLI path -> (settings key, value style); (\d) captures the 1-based index.
PATHS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^Alternates Peer ([1-6]) Address$", re.I), "peers", "string"),
    (re.compile(r"^Alternates ConfigurationMaster$", re.I), "master", "int"),
    (re.compile(r"^Alternates Cluster Name$", re.I), "name", "string"),
    (re.compile(r"^Alternates Cluster TLSVerify Mode$", re.I), "tls", "enum"),
    (re.compile(r"^Alternates Cluster IpVersion$", re.I), "ipver", "enum"),
    (re.compile(r"^Alternates Cluster AddressMapping Mode$", re.I), "map_mode", "enum"),
    (re.compile(r"^Alternates Cluster AddressMapping ([1-6]) Name$", re.I), "map_name", "string"),
    (
        re.compile(r"^Alternates Cluster AddressMapping ([1-6]) Address$", re.I),
        "map_address",
        "string",
    ),
    (re.compile(r"^H323 Mode$", re.I), "h323", "enum"),
)


def _q(value: Any) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def error(reason: str, xpath: str = "") -> str:
    return (
        f"*r Result (status=Error):\n    Reason: {_q(reason)}\n    XPath: {_q(xpath)}\n"
        "*r/end\nERROR\n"
    )


def _config(prefix: str, items: list[tuple[str, Any]]) -> str:
    return "".join(f"*c xConfiguration {prefix} {k}: {_q(v)}\n" for k, v in items) + "OK\n"


def _status(node: str, lines: list[str]) -> str:
    return f"*s {node}: /\n" + "".join(f"  {line}\n" for line in lines) + "*s/end\n"


def alternates_config(peer: Peer) -> str:
    s = peer.saved
    items: list[tuple[str, Any]] = [("ConfigurationMaster", s["master"])]
    items += [(f"Peer {i} Address", a) for i, a in enumerate(s["peers"], 1)]
    items += [
        ("Cluster Name", s["name"]),
        ("Cluster TLSVerify Mode", s["tls"]),
        ("Cluster IpVersion", s["ipver"]),
        ("Cluster AddressMapping Mode", s["map_mode"]),
    ]
    for i, (n, a) in enumerate(s["map"], 1):
        items += [
            (f"Cluster AddressMapping {i} Name", n),
            (f"Cluster AddressMapping {i} Address", a),
        ]
    return _config("Alternates", items)


def alternates_status(lab: Lab, peer: Peer) -> str:
    a = peer.active
    from mock_server.lab import iso

    lines = [
        f"LocalPeer: {_q(peer.local_slot(a))}",
        f"ConfigurationMaster: {_q(a['master'])}",
        f"Database: {_q(peer.database)}",
        f"Replication: {_q(peer.replication)}",
        f"LastSync: {_q(iso(peer.last_sync))}",
        f"NextSync: {_q(iso(peer.last_sync + lab.interval if peer.last_sync else None))}",
        f"FactoryResetPending: {_q('True' if peer.factory_reset_pending() else 'False')}",
    ]
    for i, addr in enumerate(a["peers"], 1):
        if addr:
            lines += [
                f"Peer {i}:",
                f"  Address: {_q(addr)}",
                f"  Status: {_q(peer.states.get(addr, 'Unknown'))}",
            ]
    return _status("Alternates", lines) + "\nOK\n"


def system_unit(lab: Lab, peer: Peer) -> str:
    lines = [
        f"Name: {_q(peer.name)}",
        'Product: "TANDBERG VCS"',
        f"ProductType: {_q(peer.role)}",
        f"ExpresswaySeries: {_q('False' if peer.role == 'VCS' else 'True')}",
        "Software:",
        f"  Version: {_q(peer.version)}",
        "Hardware:",
        f"  Type: {_q(peer.hardware)}",
        f"  PlatformSize: {_q(peer.platform)}",
        f"  SerialNumber: {_q(peer.serial)}",
        f"Uptime: {_q(peer.uptime(lab.time_scale))}",
    ]
    return _status("SystemUnit", lines) + "\nOK\n"


def alarm_status(peer: Peer) -> str:
    blocks = []
    for i, alarm in enumerate(peer.alarms.values(), 1):
        r = alarm.record()
        blocks.append(
            _status(
                f"Alarm {i}",
                [
                    f"Id: {_q(r['id'])}",
                    f"Uuid: {_q(r['uuid'])}",
                    f"Status: {_q(r['status'])}",
                    f"Severity: {_q(r['severity'])}",
                    f"Title: {_q(r['title'])}",
                    f"Parameters: {_q(r['parameters'])}",
                    f"FirstRaised: {_q(r['first_raised'])}",
                    f"LastRaised: {_q(r['last_raised'])}",
                ],
            )
        )
    return ("".join(blocks) + "\nOK\n") if blocks else "OK\n"


def option_keys(peer: Peer) -> str:
    lines = []
    for i, k in enumerate(peer.option_keys, 1):
        lines += [
            f"Key {i}:",
            f"  Key: {_q(k['Key'])}",
            f"  Description: {_q(k['Description'])}",
            f"  Count: {_q(k.get('Count', ''))}",
        ]
    return _status("OptionKeys", lines) + "\nOK\n"


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
        typed: Any = value
        if key == "master":
            if not value.isdigit() or not 0 <= int(value) <= MAX_PEERS:
                return error("Invalid value", xpath)
            typed = int(value) - 1
        if key == "tls" and value == "Enforce":
            typed = "Enforcing"
        reason = apply_setting(lab, peer, key, typed, index)
        return error(reason, xpath) if reason else "OK\n"
    return error("No such configuration path", xpath)


def run(lab: Lab, peer: Peer, line: str) -> tuple[str, bool]:
    """Answer one CLI line; returns (output, close the session after)."""
    cmd = " ".join(line.strip().split())
    low = cmd.lower()
    m = WRITE.match(cmd)
    if m:
        return write(lab, peer, m.group(1), m.group(2)), False
    if low == "xconfiguration alternates":
        return alternates_config(peer), False
    if low == "xconfiguration h323":
        return _config("H323", [("Mode", "On" if peer.h323 else "Off")]), False
    if low == "xconfiguration ip dns":
        items: list[tuple[str, Any]] = [("Hostname", peer.hostname), ("Domain Name", peer.domain)]
        items += [
            (f"Server {i} Address", a) for i, a in enumerate((peer.dns_servers + [""] * 5)[:5], 1)
        ]
        return _config("IP DNS", items), False
    if low == "xconfiguration ntp":
        return _config(
            "NTP",
            [
                (f"Server {i} Address", a)
                for i, a in enumerate((peer.ntp_servers + [""] * 5)[:5], 1)
            ],
        ), False
    if low == "xstatus alternates":
        return alternates_status(lab, peer), False
    if low == "xstatus systemunit":
        return system_unit(lab, peer), False
    if low == "xstatus alarm":
        return alarm_status(peer), False
    if low == "xstatus optionkeys":
        return option_keys(peer), False
    if low == "xcommand boot":
        asyncio.get_running_loop().call_later(0.05, lab.restart, peer)
        return "OK\n", True
    if low == "xcommand forceconfigupdate":
        reason = lab.force_config_update(peer)
        return (error(reason, "/Command/ForceConfigUpdate") if reason else "OK\n"), False
    if low == "xcommand forcesystemkeyupdate":
        peer.emit("kernel", Event="System Key Updated", Detail="ForceSystemKeyUpdate completed")
        peer.alarms.pop("20109", None)
        return "OK\n", False
    if low in ("exit", "quit", "bye"):
        return "", True
    return error("Unknown command", cmd[:80]), False


def is_write(line: str) -> bool:
    low = line.strip().lower()
    return bool(WRITE.match(line.strip())) or low.startswith("xcommand")


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
        if self.lab.fault_for("ssh_auth_reject", self.peer.name):
            return False
        return username == "admin" and secrets.compare_digest(password, self.lab.password)

    def public_key_auth_supported(self) -> bool:
        return self.authorized is not None

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self.lab.fault_for("ssh_auth_reject", self.peer.name) or self.authorized is None:
            return False
        return username == "admin" and self.authorized.validate(key, "", "127.0.0.1") is not None


async def _answer(lab: Lab, peer: Peer, process: asyncssh.SSHServerProcess, line: str) -> bool:
    """Answer one line on the channel; returns True when the session must end."""
    if not line.strip():
        return False
    slow = lab.fault_for("slow", peer.name, "ssh")
    if slow:
        await asyncio.sleep(float(slow.get("seconds", 1.0)))
    drop = lab.fault_for("drop", peer.name, "ssh")
    if drop:
        lab.use_fault(drop)
        lab.record(peer, "ssh", "CLI", line.strip(), False, "dropped")
        process.stdout.write("*s Alternates: /\n")  # a partial answer, then the line dies
        process.channel.get_connection().abort()
        return True
    output, close = run(lab, peer, line)
    failed = output.endswith("ERROR\n")
    lab.record(
        peer, "ssh", "CLI", line.strip(), is_write(line) and not failed, "ERROR" if failed else "OK"
    )
    process.stdout.write(output)
    return close


def make_process_handler(lab: Lab, peer: Peer) -> Any:
    async def handle(process: asyncssh.SSHServerProcess) -> None:
        try:
            if process.command is not None:
                await _answer(lab, peer, process, process.command)
                process.exit(0)
                return
            process.stdout.write(
                f"TANDBERG Video Communication Server {peer.version}\n"
                "SW Release Date: 2026-06-01\nOK\n"
            )
            while not process.stdin.at_eof():
                line = await process.stdin.readline()
                if not line:
                    break
                if await _answer(lab, peer, process, line):
                    break
            process.exit(0)
        except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged, ConnectionError):
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

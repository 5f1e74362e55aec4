"""Pure parsers and formatters for the Expressway admin CLI (xConfiguration, xStatus).

No I/O here: the SSH transport hands answers in, models come out. A garbled or
truncated answer raises ``ApplianceError`` saying what was expected.
"""

from __future__ import annotations

from typing import Any

from exops.appliance.base import Write
from exops.appliance.knowledge import (
    CLI_WRITES,
    CONFIG_LINE,
    END_LINE,
    ERROR_OPEN,
    STATUS_CLOSE,
    STATUS_OPEN,
)
from exops.errors import ApplianceError
from exops.models import (
    MAX_PEERS,
    AddressMapping,
    Alarm,
    ClusterSettings,
    ClusterStatus,
    IpVersion,
    OptionKey,
    PeerState,
    PeerStatusEntry,
    Role,
    SystemInfo,
    TlsMode,
)

Tree = dict[str, Any]


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\\\", "\\")


def _lines(answer: str, command: str) -> list[str]:
    lines = answer.replace("\r\n", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or not END_LINE.match(lines[-1]):
        raise ApplianceError(f"answer to '{command}' is truncated (no final OK/ERROR line)")
    if lines[-1].strip() == "ERROR":
        raise ApplianceError(f"'{command}' failed: {error_reason(answer)}")
    return lines[:-1]


def error_reason(answer: str) -> str:
    """The Reason of an ``*r Result (status=Error)`` block, or the raw answer."""
    if ERROR_OPEN in answer:
        for line in answer.splitlines():
            key, _, value = line.strip().partition(":")
            if key == "Reason":
                return _unescape(value.strip().strip('"'))
    return answer.strip()[:200] or "empty answer"


def parse_config(answer: str, command: str = "xConfiguration") -> dict[str, str]:
    """``*c xConfiguration <path>: "<value>"`` lines -> {path: value}."""
    out: dict[str, str] = {}
    for line in _lines(answer, command):
        if not line.strip():
            continue
        m = CONFIG_LINE.match(line.strip())
        if not m:
            raise ApplianceError(f"unexpected line in answer to '{command}': {line.strip()[:80]!r}")
        out[m.group("path")] = _unescape(m.group("value"))
    return out


def parse_status(answer: str, command: str = "xStatus") -> list[tuple[str, Tree]]:
    """``*s Node: /`` blocks -> [(node, tree)], nesting by two-space indentation."""
    blocks: list[tuple[str, Tree]] = []
    lines = _lines(answer, command)
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        m = STATUS_OPEN.match(line.strip())
        if not m:
            raise ApplianceError(f"unexpected line in answer to '{command}': {line.strip()[:80]!r}")
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != STATUS_CLOSE:
            body.append(lines[i])
            i += 1
        if i >= len(lines):
            raise ApplianceError(f"answer to '{command}' is truncated (no '*s/end')")
        blocks.append((m.group("node"), _tree(body, command)))
        i += 1
    return blocks


def _tree(body: list[str], command: str) -> Tree:
    root: Tree = {}
    stack: list[tuple[int, Tree]] = [(-1, root)]
    for raw in body:
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        key, sep, value = raw.strip().partition(":")
        if not sep:
            raise ApplianceError(f"unexpected line in answer to '{command}': {raw.strip()[:80]!r}")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if not stack:
            raise ApplianceError(f"bad indentation in answer to '{command}'")
        parent = stack[-1][1]
        value = value.strip()
        if value == "":
            child: Tree = {}
            parent[key] = child
            stack.append((indent, child))
        else:
            parent[key] = (
                _unescape(value[1:-1])
                if len(value) >= 2 and value[0] == '"' == value[-1]
                else value
            )
    return root


def format_value(value: str | int, style: str) -> str:
    """Quote strings; enums and numbers bare. Refuse characters that could inject commands."""
    text = str(value)
    if any(ord(c) < 32 or c == "\x7f" for c in text):
        raise ApplianceError(f"refusing a value with control characters: {text!r}")
    if style == "string":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if not text or any(c.isspace() or c == '"' for c in text):
        raise ApplianceError(f"refusing an enumeration value {text!r}")
    return text


def format_write(write: Write) -> str:
    """The one CLI line for one ``Write``."""
    template, style = CLI_WRITES[write.field]
    path = template.format(index=write.index)
    return f"xConfiguration {path}: {format_value(write.value, style)}"


# -- converters --------------------------------------------------------------


def _get(config: dict[str, str], key: str, command: str) -> str:
    if key not in config:
        raise ApplianceError(f"answer to '{command}' has no '{key}'")
    return config[key]


def settings_from_config(config: dict[str, str]) -> ClusterSettings:
    """xConfiguration Alternates -> ClusterSettings."""
    cmd = "xConfiguration Alternates"
    prefix = "Alternates "
    c = {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}
    peers = tuple(_get(c, f"Peer {i} Address", cmd) for i in range(1, MAX_PEERS + 1))
    mapping = []
    for i in range(1, MAX_PEERS + 1):
        name = c.get(f"Cluster AddressMapping {i} Name", "")
        addr = c.get(f"Cluster AddressMapping {i} Address", "")
        if name or addr:
            mapping.append(AddressMapping(name=name, address=addr))
    try:
        return ClusterSettings(
            peers=peers,
            primary=int(_get(c, "ConfigurationMaster", cmd) or 0),
            cluster_name=c.get("Cluster Name", ""),
            ip_version=IpVersion(c.get("Cluster IpVersion", "IPv4")),
            tls_mode=TlsMode(c.get("Cluster TLSVerify Mode", "Permissive")),
            mapping_enabled=c.get("Cluster AddressMapping Mode", "Off") == "On",
            mapping=tuple(mapping),
        )
    except ValueError as exc:
        raise ApplianceError(f"answer to '{cmd}' has an invalid value: {exc}") from exc


def status_from_tree(tree: Tree) -> ClusterStatus:
    """xStatus Alternates -> ClusterStatus."""
    entries = []
    for key, node in tree.items():
        if key.startswith("Peer ") and isinstance(node, dict):
            try:
                entries.append(
                    PeerStatusEntry(
                        slot=int(key.split()[1]),
                        address=str(node.get("Address", "")),
                        state=PeerState(node.get("Status", "Unknown")),
                        local=str(key.split()[1]) == str(tree.get("LocalPeer", "")),
                    )
                )
            except (ValueError, IndexError) as exc:
                raise ApplianceError(f"xStatus Alternates: bad peer entry {key}: {exc}") from exc
    try:
        local = int(tree.get("LocalPeer", 0) or 0)
    except (ValueError, TypeError) as exc:
        raise ApplianceError("xStatus Alternates: LocalPeer is not a number") from exc
    return ClusterStatus(
        local_slot=local,
        database=str(tree.get("Database", "")),
        replication=str(tree.get("Replication", "")),
        last_sync=str(tree.get("LastSync", "")),
        next_sync=str(tree.get("NextSync", "")),
        factory_reset_pending=str(tree.get("FactoryResetPending", "False")) == "True",
        peers=tuple(entries),
    )


def alarms_from_blocks(blocks: list[tuple[str, Tree]]) -> tuple[Alarm, ...]:
    out = []
    for node, tree in blocks:
        if not node.startswith("Alarm") or "Id" not in tree:
            raise ApplianceError(f"xStatus Alarm: unexpected block {node!r}")
        out.append(
            Alarm(
                id=str(tree["Id"]),
                uuid=str(tree.get("Uuid", "")),
                status=str(tree.get("Status", "raised")),
                severity=str(tree.get("Severity", "")),
                title=str(tree.get("Title", "")),
                parameters=str(tree.get("Parameters", "")),
                first_raised=str(tree.get("FirstRaised", "")),
                last_raised=str(tree.get("LastRaised", "")),
            )
        )
    return tuple(out)


def role_of(product_type: str) -> Role:
    for role in Role:
        if role.value.lower() == product_type.strip().lower():
            return role
    raise ApplianceError(f"unknown product type {product_type!r}")


def system_from_cli(
    unit: Tree, h323: dict[str, str], dns: dict[str, str], ntp: dict[str, str], keys: Tree
) -> SystemInfo:
    """xStatus SystemUnit + xConfiguration H323 / IP DNS / NTP + xStatus OptionKeys."""
    software = unit.get("Software", {})
    hardware = unit.get("Hardware", {})
    if not isinstance(software, dict) or "Version" not in software:
        raise ApplianceError("xStatus SystemUnit has no Software Version")
    option_keys = []
    for node in keys.values():
        if isinstance(node, dict):
            count = node.get("Count", "")
            option_keys.append(
                OptionKey(
                    key=str(node.get("Key", "")),
                    description=str(node.get("Description", "")),
                    count=int(count) if str(count).isdecimal() else None,
                )
            )
    uptime = str(unit.get("Uptime", ""))
    return SystemInfo(
        name=str(unit.get("Name", "")),
        version=str(software["Version"]),
        role=role_of(str(unit.get("ProductType", "VCS"))),
        platform=str(hardware.get("PlatformSize", "")) if isinstance(hardware, dict) else "",
        hardware=str(hardware.get("Type", "")) if isinstance(hardware, dict) else "",
        serial=str(hardware.get("SerialNumber", "")) if isinstance(hardware, dict) else "",
        uptime_s=int(uptime) if uptime.isdecimal() else None,
        hostname=dns.get("IP DNS Hostname", ""),
        domain=dns.get("IP DNS Domain Name", ""),
        dns_servers=tuple(v for k, v in sorted(dns.items()) if k.startswith("IP DNS Server") and v),
        ntp_servers=tuple(v for k, v in sorted(ntp.items()) if k.startswith("NTP Server") and v),
        h323_enabled=h323.get("H323 Mode", "On") == "On",
        option_keys=tuple(option_keys),
    )


def _cfg_line(path: str, value: object) -> str:
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'*c xConfiguration Alternates {path}: "{escaped}"\n'


def settings_to_config(settings: ClusterSettings) -> str:
    """ClusterSettings as the appliance prints them (for tests and round trips)."""
    out = [_cfg_line("ConfigurationMaster", settings.primary)]
    out += [_cfg_line(f"Peer {i} Address", a) for i, a in enumerate(settings.peers, 1)]
    out += [
        _cfg_line("Cluster Name", settings.cluster_name),
        _cfg_line("Cluster TLSVerify Mode", settings.tls_mode.value),
        _cfg_line("Cluster IpVersion", settings.ip_version.value),
        _cfg_line("Cluster AddressMapping Mode", "On" if settings.mapping_enabled else "Off"),
    ]
    rows = list(settings.mapping) + [AddressMapping(name="", address="")] * MAX_PEERS
    for i, m in enumerate(rows[:MAX_PEERS], 1):
        out.append(_cfg_line(f"Cluster AddressMapping {i} Name", m.name))
        out.append(_cfg_line(f"Cluster AddressMapping {i} Address", m.address))
    return "".join(out) + "OK\n"

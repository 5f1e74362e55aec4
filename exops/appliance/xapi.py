"""Pure parsers and formatters for the Expressway admin CLI (xConfiguration, xStatus).

No I/O here: the SSH transport hands answers in, models come out. A garbled or
truncated answer raises ``ApplianceError`` saying what was expected.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from exops.appliance import knowledge
from exops.appliance.base import Write
from exops.appliance.knowledge import (
    CLI,
    CONFIG_LINE,
    DNS_SERVER_LEAF,
    END_LINE,
    ERROR_OPEN,
    NTP_SERVER_LEAF,
    NULL_VALUES,
    OPTIONS_TREE,
    ROLE_BY_FLAGS,
    STATUS_CLOSE,
    STATUS_OPEN,
    SYSTEM_UNIT,
    VERSION,
)
from exops.core.errors import ApplianceError, DuplicateSlotsError
from exops.core.models import (
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


class CommandRefused(ApplianceError):
    """The appliance answered ERROR (an unknown command, a refused value)."""


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\\\", "\\")


def _lines(answer: str, command: str) -> list[str]:
    lines = answer.replace("\r\n", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or not END_LINE.match(lines[-1]):
        raise ApplianceError(f"answer to '{command}' is truncated (no final OK/ERROR line)")
    if lines[-1].strip() == "ERROR":
        raise CommandRefused(f"'{command}' failed: {error_reason(answer)}")
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
        if m.group("path") in out:
            raise ApplianceError(f"answer to '{command}' repeats '{m.group('path')}'")
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
        if key in parent:
            raise ApplianceError(f"answer to '{command}' repeats '{key.strip()}'")
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
    rule = knowledge.SETTING_RULES[write.field.value]
    path = rule.cli.format(index=write.index)
    return f"xConfiguration {path}: {format_value(write.value, rule.cli_style)}"


# -- converters --------------------------------------------------------------
# Fail closed: a leaf exops needs and cannot find raises (settings have no
# "unknown"); a SystemInfo fact that is missing or outside its value space is
# None; a null-like value, a repeated or out-of-range slot, or one address in
# two slots is a garbled answer and raises, naming the field.


def _get(config: dict[str, str], key: str, command: str) -> str:
    if key not in config:
        raise ApplianceError(f"answer to '{command}' has no '{key}'")
    return config[key]


def _not_null(value: str, field: str, command: str) -> str:
    if value.strip().lower() in NULL_VALUES:
        raise ApplianceError(f"answer to '{command}' has a null value {value!r} for '{field}'")
    return value


def _check_indices(keys: list[str], family: str, command: str) -> None:
    """Every ``<family> <n> ...`` key has 1 <= n <= MAX_PEERS."""
    width = len(family.split())
    for key in keys:
        words = key.split()
        if words[:width] != family.split() or len(words) <= width:
            continue
        n = words[width]
        if not n.isdecimal():
            continue  # e.g. 'Cluster AddressMapping Mode'
        if not 1 <= int(n) <= MAX_PEERS:
            raise ApplianceError(f"answer to '{command}' has an out-of-range index in '{key}'")


def _no_duplicates(named: list[tuple[str, str]], command: str) -> None:
    seen: dict[str, str] = {}
    for field, value in named:
        if not value:
            continue
        other = seen.setdefault(value.lower(), field)
        if other != field:
            raise ApplianceError(
                f"answer to '{command}' lists {value!r} twice ('{other}' and '{field}')"
            )


def settings_from_config(config: dict[str, str]) -> ClusterSettings:
    """xConfiguration Alternates -> ClusterSettings; every leaf is required."""
    cmd = "xConfiguration Alternates"
    prefix = "Alternates "
    c = {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}
    _check_indices(list(c), "Peer", cmd)
    _check_indices(list(c), "Cluster AddressMapping", cmd)
    slots = [f"Peer {i} Address" for i in range(1, MAX_PEERS + 1)]
    peers = tuple(_not_null(_get(c, k, cmd), k, cmd) for k in slots)
    try:
        _no_duplicates(list(zip(slots, peers, strict=True)), cmd)
    except ApplianceError as exc:  # the raw slots, for the repair of a killed move
        raise DuplicateSlotsError(exc.message, slots=peers) from exc
    mapping = []
    names: list[tuple[str, str]] = []
    for i in range(1, MAX_PEERS + 1):
        name_key, addr_key = (
            f"Cluster AddressMapping {i} Name",
            f"Cluster AddressMapping {i} Address",
        )
        name = _not_null(_get(c, name_key, cmd), name_key, cmd)
        addr = _not_null(_get(c, addr_key, cmd), addr_key, cmd)
        names.append((name_key, name))
        if name or addr:
            mapping.append(AddressMapping(name=name, address=addr))
    _no_duplicates(names, cmd)
    master = _get(c, "ConfigurationMaster", cmd)
    if not master.isdecimal() or not 0 <= int(master) <= MAX_PEERS:
        raise ApplianceError(
            f"answer to '{cmd}' has an invalid value {master!r} for 'ConfigurationMaster'"
        )
    mode = _get(c, "Cluster AddressMapping Mode", cmd)
    if mode not in ("On", "Off"):
        raise ApplianceError(
            f"answer to '{cmd}' has an invalid value {mode!r} for 'Cluster AddressMapping Mode'"
        )
    try:
        return ClusterSettings(
            peers=peers,
            primary=int(master),
            cluster_name=_get(c, "Cluster Name", cmd),
            ip_version=IpVersion(_get(c, "Cluster IpVersion", cmd)),
            tls_mode=TlsMode(_get(c, "Cluster TLSVerify Mode", cmd)),
            mapping_enabled=mode == "On",
            mapping=tuple(mapping),
        )
    except ValueError as exc:
        raise ApplianceError(f"answer to '{cmd}' has an invalid value: {exc}") from exc


def status_from_tree(tree: Tree) -> ClusterStatus:
    """xStatus Alternates -> ClusterStatus."""
    cmd = "xStatus Alternates"
    entries = []
    for key, node in tree.items():
        if key.startswith("Peer ") and isinstance(node, dict):
            try:
                slot = int(key.split()[1])
                if not 1 <= slot <= MAX_PEERS:
                    raise ValueError(f"slot {slot} out of range")
                if "Address" not in node or "Status" not in node:
                    raise ValueError("no Address or no Status")
                entries.append(
                    PeerStatusEntry(
                        slot=slot,
                        address=_not_null(str(node["Address"]), f"{key} Address", cmd),
                        state=PeerState(node["Status"]),
                        local=str(slot) == str(tree.get("LocalPeer", "")),
                    )
                )
            except (ValueError, IndexError) as exc:
                raise ApplianceError(f"xStatus Alternates: bad peer entry {key}: {exc}") from exc
    _no_duplicates([(f"Peer {e.slot}", e.address) for e in entries], cmd)
    try:
        local = int(tree["LocalPeer"])
    except KeyError as exc:
        raise ApplianceError("xStatus Alternates: no LocalPeer") from exc
    except (ValueError, TypeError) as exc:
        raise ApplianceError("xStatus Alternates: LocalPeer is not a number") from exc
    pending = tree.get("FactoryResetPending")
    if pending not in ("True", "False"):
        raise ApplianceError(f"xStatus Alternates: FactoryResetPending is {pending!r}")
    return ClusterStatus(
        local_slot=local,
        database=str(tree.get("Database", "")),
        replication=str(tree.get("Replication", "")),
        last_sync=str(tree.get("LastSync", "")),
        next_sync=str(tree.get("NextSync", "")),
        factory_reset_pending=pending == "True",
        peers=tuple(entries),
    )


def alarms_from_warnings(blocks: list[tuple[str, Tree]]) -> tuple[Alarm, ...]:
    """``xStatus Warnings`` -> alarms. Each ``Warning <n>`` holds ``ID`` (the alarm's
    type UUID), ``Reason`` and ``State``; the catalogue maps the UUID to the alarm id.
    An unknown UUID stays an alarm whose id is the UUID (never dropped)."""
    cmd = "xStatus Warnings"
    out = []
    for node, tree in blocks:
        if node != "Warnings":
            raise ApplianceError(f"{cmd}: unexpected block {node!r}")
        for key, entry in tree.items():
            words = key.split()
            if len(words) != 2 or words[0] != "Warning" or not words[1].isdecimal():
                raise ApplianceError(f"{cmd}: unexpected entry {key!r}")
            if not isinstance(entry, dict) or not isinstance(entry.get("ID"), str):
                raise ApplianceError(f"{cmd}: {key} has no ID")
            uuid = _not_null(entry["ID"].strip(), f"{key} ID", cmd)
            if not uuid:
                raise ApplianceError(f"{cmd}: {key} has an empty ID")
            info = knowledge.ALARM_BY_UUID.get(uuid.lower())
            reason = str(entry.get("Reason", ""))
            out.append(
                Alarm(
                    id=info.id if info else uuid,
                    uuid=uuid,
                    title=reason or (info.title if info else ""),
                    status="raised",  # listed = active, acknowledged or not
                    severity=info.severity if info else "",
                )
            )
    return tuple(out)


def alarms_from_blocks(blocks: list[tuple[str, Tree]]) -> tuple[Alarm, ...]:
    """``xStatus Alarm`` (fallback; MOCK-DEFINED form) -> alarms."""
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


def _leaf(tree: Tree, path: tuple[str, ...]) -> str | None:
    node: Any = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, str) else None


def _bool_flag(value: str | None, field: str, command: str) -> str | None:
    if value is None:
        return None
    _not_null(value, field, command)
    return {"true": "True", "false": "False"}.get(value.strip().lower())


def role_from_unit(unit: Tree) -> Role | None:
    """Role from the SystemUnit Configuration flags; None when they are missing or
    outside True/False (never a default)."""
    cmd = "xStatus SystemUnit"
    flags = SYSTEM_UNIT.flags
    series = _bool_flag(
        _leaf(unit, (*flags, SYSTEM_UNIT.series_flag)), SYSTEM_UNIT.series_flag, cmd
    )
    expressway = _bool_flag(
        _leaf(unit, (*flags, SYSTEM_UNIT.expressway_flag)), SYSTEM_UNIT.expressway_flag, cmd
    )
    if series is None:
        return None
    return ROLE_BY_FLAGS.get((series, expressway))


def h323_mode(config: dict[str, str]) -> bool | None:
    """``H323 Mode`` On/Off -> True/False; None when missing or another value."""
    value = config.get("H323 Mode")
    if value is None:
        return None
    _not_null(value, "H323 Mode", "xConfiguration H323")
    return {"On": True, "Off": False}.get(value)


# A read whose answer could not be taken: the text says why (the command refused it,
# or its shape is not one exops reads). The fact it was for is then unknown.
Unread = str


def servers_from_config(
    config: dict[str, str] | Unread, leaf: re.Pattern[str], command: str
) -> tuple[tuple[str, ...] | None, str]:
    """The ``... Server <n> Address`` leaves -> (addresses in slot order, ""); an answer
    without any such leaf -> (None, the leaves it did have): unknown, never "none"."""
    if isinstance(config, str):
        return None, config
    slots: dict[int, str] = {}
    for key, value in config.items():
        m = leaf.match(key)
        if m:
            slots[int(m.group("n"))] = value.strip()
    if not slots:
        seen = ", ".join(sorted(config)[:5]) or "nothing"
        name = leaf.pattern.strip("^$").replace(r"(?P<n>\d+)", "<n>")
        return None, f"answer to '{command}' has no '{name}' leaf (it printed: {seen})"
    for n, value in slots.items():
        if value.lower() in NULL_VALUES:
            return None, f"answer to '{command}' has a null value {value!r} in Server {n}"
    return tuple(v for _, v in sorted(slots.items()) if v), ""


def option_keys_from_status(
    blocks: list[tuple[str, Tree]] | Unread | None,
) -> tuple[tuple[OptionKey, ...] | None, str]:
    """``xStatus Options`` -> (keys, ""), or (None, why). The node is CONFIRMED (X8.11.3
    capture), its entries ``Option <n>: Key, Description, Count`` MOCK-DEFINED. No block
    or an empty node is unknown: the capture's ``Options`` is empty on a licensed VCS,
    so an empty node does not show that a peer has no keys. ``None``: not asked,
    because the peer's version has none (``option_keys_removed``): no keys."""
    t = OPTIONS_TREE
    cmd = CLI.status_options
    if blocks is None:
        return (), ""
    if isinstance(blocks, str):
        return None, blocks
    nodes = [node for node, _ in blocks]
    if nodes != [t.node]:
        shown = ", ".join(nodes) or "no block"
        return None, f"answer to '{cmd}' printed {shown}; exops reads one '{t.node}' block"
    tree = blocks[0][1]
    if not tree:
        return None, (
            f"'{cmd}' lists no entries: an empty {t.node} node does not show which option "
            "keys a peer has (the real X8.11.3 capture shows it empty on a licensed system)"
        )
    keys = []
    for name, entry in tree.items():
        words = name.split()
        ok = len(words) == 2 and words[0] == t.entry and words[1].isdecimal()
        if not ok or not isinstance(entry, dict) or not str(entry.get(t.key, "")).strip():
            return None, (
                f"answer to '{cmd}' has an entry {name!r} exops does not read (it reads "
                f"'{t.entry} <n>' with {t.key}, {t.description}, {t.count}: a MOCK-DEFINED form)"
            )
        count = str(entry.get(t.count, "")).strip()
        if count and not count.isdecimal():
            return None, f"answer to '{cmd}': {name} {t.count} is {count!r}, not a number"
        keys.append(
            OptionKey(
                key=str(entry[t.key]),
                description=str(entry.get(t.description, "")),
                count=int(count) if count else None,
            )
        )
    return tuple(keys), ""


def unit_version(unit: Tree) -> str | None:
    """``Software Version`` of an ``xStatus SystemUnit`` tree; None when missing or not
    an ``X<n>...`` version (a null value fails)."""
    version = _leaf(unit, SYSTEM_UNIT.version)
    if version is not None:
        _not_null(version, "Software Version", "xStatus SystemUnit")
        version = version.strip() if VERSION.match(version.strip()) else None
    return version


def system_from_cli(
    unit: Tree,
    h323: dict[str, str],
    dns: dict[str, str] | Unread,
    ntp: dict[str, str] | Unread,
    options: list[tuple[str, Tree]] | Unread | None,
    unknown: dict[str, str] | None = None,
) -> SystemInfo:
    """xStatus SystemUnit (real X8.11.3 tree) + xConfiguration H323 / IP DNS / NTP +
    xStatus Options. Version, role and H.323 mode are None when unknown; the
    platform size is not in the tree, so it is always None over SSH. The DNS and
    NTP servers and the option keys are None when their answer was refused or has
    no leaf exops reads, with the reason in ``unknown`` (``"system.dns_servers"``)."""
    cmd = "xStatus SystemUnit"
    unknown = {} if unknown is None else unknown
    version = unit_version(unit)
    serial = _leaf(unit, SYSTEM_UNIT.serial) or ""
    _not_null(serial, "Hardware SerialNumber", cmd)
    dns_servers, why = servers_from_config(dns, DNS_SERVER_LEAF, CLI.read_dns)
    if dns_servers is None:
        unknown["system.dns_servers"] = why
    ntp_servers, why = servers_from_config(ntp, NTP_SERVER_LEAF, CLI.read_ntp)
    if ntp_servers is None:
        unknown["system.ntp_servers"] = why
    option_keys, why = option_keys_from_status(options)
    if option_keys is None:
        unknown["system.option_keys"] = why
    names = dns if isinstance(dns, dict) else {}
    uptime = _leaf(unit, SYSTEM_UNIT.uptime) or ""
    return SystemInfo(
        name=names.get("IP DNS Hostname", ""),
        version=version,
        role=role_from_unit(unit),
        platform=None,
        hardware=_leaf(unit, SYSTEM_UNIT.hardware) or "",
        serial=serial,
        uptime_s=int(uptime) if uptime.isdecimal() else None,
        hostname=names.get("IP DNS Hostname", ""),
        domain=names.get("IP DNS Domain Name", ""),
        dns_servers=dns_servers,
        ntp_servers=ntp_servers,
        h323_enabled=h323_mode(h323),
        option_keys=option_keys,
        system_time=parse_system_time(_leaf(unit, ("SystemTime",))),
    )


def log_lines(answer: str, command: str) -> list[str]:
    """``eventlog N`` -> its log lines (the final OK dropped; ERROR raises)."""
    return [line for line in _lines(answer, command) if line.strip()]


def parse_system_time(value: object) -> datetime | None:
    """``SystemTime: "2018-12-18 21:32:46"`` (UTC; ``TimeZone`` only names the zone
    of ``LocalTime``) -> an aware datetime; None when missing or not a time."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("T", " ").removesuffix("Z")
    try:
        parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC)


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

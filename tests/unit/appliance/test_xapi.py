"""The admin CLI parsers and formatters (exops.appliance.xapi): pure, no I/O.

Fixtures follow docs/contract.md section 4 and the text the bundled mock
prints (exops/lab/ssh.py). Garbled, partial and truncated answers must give
an ``ApplianceError`` that says what was wrong, never an IndexError/KeyError.
"""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from xapikit import alternates_answer

from exops.appliance import xapi
from exops.appliance.base import Field, Write, apply_writes, settings_writes
from exops.appliance.knowledge import NULL_VALUES
from exops.core.errors import ApplianceError
from exops.core.models import (
    EMPTY_SLOTS,
    AddressMapping,
    ClusterSettings,
    IpVersion,
    PeerState,
    Role,
    TlsMode,
)

# -- fixtures: what a peer prints ---------------------------------------------

ALTERNATES = """\
*c xConfiguration Alternates ConfigurationMaster: "2"
*c xConfiguration Alternates Peer 1 Address: "10.0.0.11"
*c xConfiguration Alternates Peer 2 Address: "10.0.0.12"
*c xConfiguration Alternates Peer 3 Address: "exp-c-3.example.com"
*c xConfiguration Alternates Peer 4 Address: ""
*c xConfiguration Alternates Peer 5 Address: ""
*c xConfiguration Alternates Peer 6 Address: ""
*c xConfiguration Alternates Cluster Name: "exp-c.example.com"
*c xConfiguration Alternates Cluster TLSVerify Mode: "Enforce"
*c xConfiguration Alternates Cluster IpVersion: "IPv4"
*c xConfiguration Alternates Cluster AddressMapping Mode: "On"
*c xConfiguration Alternates Cluster AddressMapping 1 Name: "exp-e-1.example.com"
*c xConfiguration Alternates Cluster AddressMapping 1 Address: "192.0.2.11"
*c xConfiguration Alternates Cluster AddressMapping 2 Name: ""
*c xConfiguration Alternates Cluster AddressMapping 2 Address: ""
*c xConfiguration Alternates Cluster AddressMapping 3 Name: "exp-e-3.example.com"
*c xConfiguration Alternates Cluster AddressMapping 3 Address: "192.0.2.13"
*c xConfiguration Alternates Cluster AddressMapping 4 Name: ""
*c xConfiguration Alternates Cluster AddressMapping 4 Address: ""
*c xConfiguration Alternates Cluster AddressMapping 5 Name: ""
*c xConfiguration Alternates Cluster AddressMapping 5 Address: ""
*c xConfiguration Alternates Cluster AddressMapping 6 Name: ""
*c xConfiguration Alternates Cluster AddressMapping 6 Address: ""
OK
"""

UNCLUSTERED = alternates_answer([], 0)

STATUS_ALTERNATES = """\
*s Alternates: /
  LocalPeer: "1"
  ConfigurationMaster: "1"
  Database: "Active"
  Replication: "Synchronised"
  LastSync: "2026-11-25T04:00:00Z"
  NextSync: "2026-11-25T04:02:00Z"
  FactoryResetPending: "False"
  Peer 1:
    Address: "10.0.0.11"
    Status: "Active"
  Peer 2:
    Address: "10.0.0.12"
    Status: "Failed"
  Peer 3:
    Address: "10.0.0.13"
    Status: "Unknown"
*s/end

OK
"""

ALARMS = """\
*s Alarm 1: /
  Id: "20007"
  Uuid: "6b0c7b1e-0a4a-4f5e-9b55-2f1f3b4c5d6e"
  Status: "raised"
  Severity: "warning"
  Title: "Restart required: configuration changes need a restart to take effect"
  Parameters: ""
  FirstRaised: "2026-11-25T04:00:00Z"
  LastRaised: "2026-11-25T04:00:00Z"
*s/end
*s Alarm 2: /
  Id: "20101"
  Uuid: "0f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910"
  Status: "lowered"
  Severity: "error"
  Title: "Cluster replication error: manual synchronization of configuration is required"
  Parameters: "10.0.0.12"
  FirstRaised: "2026-11-24T10:00:00Z"
  LastRaised: "2026-11-24T10:05:00Z"
*s/end

OK
"""

SYSTEM_UNIT = """\
*s SystemUnit: /
  Product: "TANDBERG VCS"
  Uptime: "1234"
  Software:
    Version: "X15.2.1"
    Configuration:
      Expressway: "False"
      ExpresswaySeries: "True"
  Hardware:
    Version: "VMware"
    SerialNumber: "0A1B2C3D"
*s/end

OK
"""

# `xStatus Options`: the node is CONFIRMED (X8.11.3 capture); these entries are the
# MOCK-DEFINED form (knowledge.OPTIONS_TREE).
OPTION_KEYS = """\
*s Options: /
  Option 1:
    Key: "116341FA1-1-AAAAAAAA"
    Description: "Rich Media Sessions"
    Count: "10"
  Option 2:
    Key: "116341FB1-1-BBBBBBBB"
    Description: "Expressway Series"
    Count: ""
*s/end

OK
"""

H323 = '*c xConfiguration H323 Mode: "Off"\nOK\n'
DNS = """\
*c xConfiguration IP DNS Hostname: "exp-c-1"
*c xConfiguration IP DNS Domain Name: "example.com"
*c xConfiguration IP DNS Server 1 Address: "192.0.2.53"
*c xConfiguration IP DNS Server 2 Address: "192.0.2.54"
*c xConfiguration IP DNS Server 3 Address: ""
*c xConfiguration IP DNS Server 4 Address: ""
*c xConfiguration IP DNS Server 5 Address: ""
OK
"""
NTP = """\
*c xConfiguration NTP Server 1 Address: "192.0.2.123"
*c xConfiguration NTP Server 2 Address: ""
*c xConfiguration NTP Server 3 Address: ""
*c xConfiguration NTP Server 4 Address: ""
*c xConfiguration NTP Server 5 Address: ""
OK
"""

ERROR_BLOCK = """\
*r Result (status=Error):
    Reason: "This command must be run on a subordinate peer"
    XPath: "/Command/ForceConfigUpdate"
*r/end
ERROR
"""


def _one(answer: str, command: str = "xStatus") -> xapi.Tree:
    blocks = xapi.parse_status(answer, command)
    assert len(blocks) == 1
    return blocks[0][1]


# -- xConfiguration -------------------------------------------------------------


def test_alternates_config_to_settings() -> None:
    config = xapi.parse_config(ALTERNATES, "xConfiguration Alternates")
    assert config["Alternates Peer 3 Address"] == "exp-c-3.example.com"
    s = xapi.settings_from_config(config)
    assert s.peers == ("10.0.0.11", "10.0.0.12", "exp-c-3.example.com", "", "", "")
    assert s.primary == 2
    assert s.primary_address == "10.0.0.12"
    assert s.cluster_name == "exp-c.example.com"
    assert s.tls_mode is TlsMode.ENFORCE
    assert s.ip_version is IpVersion.IPV4
    assert s.mapping_enabled is True
    # Unused rows are dropped; used rows keep their order.
    assert s.mapping == (
        AddressMapping(name="exp-e-1.example.com", address="192.0.2.11"),
        AddressMapping(name="exp-e-3.example.com", address="192.0.2.13"),
    )


def test_unclustered_peer() -> None:
    s = xapi.settings_from_config(xapi.parse_config(UNCLUSTERED))
    assert s.peers == EMPTY_SLOTS
    assert s.is_empty
    assert s.primary == 0
    assert s.primary_address is None
    assert s.tls_mode is TlsMode.PERMISSIVE
    assert s.ip_version is IpVersion.IPV4
    assert s.mapping_enabled is False
    assert s.cluster_name == ""


@pytest.mark.parametrize(
    "leaf",
    [
        "Cluster Name",
        "Cluster TLSVerify Mode",
        "Cluster IpVersion",
        "Cluster AddressMapping Mode",
        "Cluster AddressMapping 3 Address",
    ],
)
def test_a_missing_leaf_is_an_error_never_a_default(leaf: str) -> None:
    """Fail closed (changed: these leaves used to default to '', Permissive, IPv4, Off)."""
    config = xapi.parse_config(UNCLUSTERED)
    del config[f"Alternates {leaf}"]
    with pytest.raises(ApplianceError, match=f"has no '{leaf}'"):
        xapi.settings_from_config(config)


def test_config_accepts_crlf_blank_lines_and_trailing_space() -> None:
    answer = ALTERNATES.replace("\n", "\r\n").replace("OK\r\n", "\r\nOK  \r\n\r\n")
    assert xapi.parse_config(answer) == xapi.parse_config(ALTERNATES)


def test_config_unescapes_quotes_and_backslashes() -> None:
    answer = '*c xConfiguration Alternates Cluster Name: "a \\"b\\" c\\\\d"\nOK\n'
    assert xapi.parse_config(answer) == {"Alternates Cluster Name": 'a "b" c\\d'}


def test_config_value_with_colon_and_empty_answer() -> None:
    answer = '*c xConfiguration IP DNS Server 1 Address: "2001:db8::53"\nOK\n'
    assert xapi.parse_config(answer) == {"IP DNS Server 1 Address": "2001:db8::53"}
    assert xapi.parse_config("OK\n") == {}


def test_h323_dns_ntp_and_system_unit_to_system_info() -> None:
    info = xapi.system_from_cli(
        _one(SYSTEM_UNIT),
        xapi.parse_config(H323),
        xapi.parse_config(DNS),
        xapi.parse_config(NTP),
        xapi.parse_status(OPTION_KEYS),
    )
    assert info.name == "exp-c-1"  # the DNS host name (no Name in the real tree)
    assert info.version == "X15.2.1"
    assert info.role is Role.EXPRESSWAY_C
    assert info.platform is None  # not in the real tree: unknown over SSH
    assert info.hardware == "VMware"
    assert info.serial == "0A1B2C3D"
    assert info.uptime_s == 1234
    assert info.hostname == "exp-c-1"
    assert info.fqdn == "exp-c-1.example.com"
    assert info.dns_servers == ("192.0.2.53", "192.0.2.54")
    assert info.ntp_servers == ("192.0.2.123",)
    assert info.h323_enabled is False
    assert [(k.key, k.description, k.count) for k in info.option_keys] == [
        ("116341FA1-1-AAAAAAAA", "Rich Media Sessions", 10),
        ("116341FB1-1-BBBBBBBB", "Expressway Series", None),
    ]


def test_system_info_missing_parts_are_unknown_never_defaults() -> None:
    """Changed: a missing role used to read as VCS and H.323 as On."""
    unit = _one('*s SystemUnit: /\n  Software:\n    Version: "X14.3.0"\n*s/end\n\nOK\n')
    unknown: dict[str, str] = {}
    info = xapi.system_from_cli(unit, {}, {}, {}, [], unknown)
    assert info.version == "X14.3.0"
    assert info.role is None
    assert info.h323_enabled is None
    assert info.uptime_s is None
    assert info.platform is None
    assert info.hardware == info.serial == ""
    # Changed (issue 24): no server leaf, no Options block: unknown with why, never ().
    assert (info.dns_servers, info.ntp_servers, info.option_keys) == (None, None, None)
    assert "no 'IP DNS Server <n> Address' leaf" in unknown["system.dns_servers"]
    assert "no block" in unknown["system.option_keys"]


@pytest.mark.parametrize(
    ("product", "role"),
    [("Expressway-E", Role.EXPRESSWAY_E), (" expressway-c ", Role.EXPRESSWAY_C), ("VCS", Role.VCS)],
)
def test_role_of(product: str, role: Role) -> None:
    assert xapi.role_of(product) is role


@pytest.mark.parametrize(
    ("series", "expressway", "role"),
    [
        ("True", "True", Role.EXPRESSWAY_E),
        ("True", "False", Role.EXPRESSWAY_C),
        ("true", "false", Role.EXPRESSWAY_C),
        ("False", "True", Role.VCS),
        ("False", "False", Role.VCS),
        ("False", None, Role.VCS),
        ("True", None, None),  # an Expressway without the C/E flag: unknown
        (None, "True", None),
        ("Yes", "True", None),
    ],
)
def test_role_from_the_configuration_flags(
    series: str | None, expressway: str | None, role: Role | None
) -> None:
    flags = {k: v for k, v in (("ExpresswaySeries", series), ("Expressway", expressway)) if v}
    unit = {"Software": {"Version": "X15.2.1", "Configuration": flags}}
    assert xapi.role_from_unit(unit) is role


# -- xStatus ------------------------------------------------------------------------


def test_status_alternates_to_cluster_status() -> None:
    st_ = xapi.status_from_tree(_one(STATUS_ALTERNATES, "xStatus Alternates"))
    assert st_.local_slot == 1
    assert st_.database == "Active"
    assert st_.replication == "Synchronised"
    assert st_.last_sync == "2026-11-25T04:00:00Z"
    assert st_.next_sync == "2026-11-25T04:02:00Z"
    assert st_.factory_reset_pending is False
    assert [(e.slot, e.address, e.state, e.local) for e in st_.peers] == [
        (1, "10.0.0.11", PeerState.ACTIVE, True),
        (2, "10.0.0.12", PeerState.FAILED, False),
        (3, "10.0.0.13", PeerState.UNKNOWN, False),
    ]


def test_status_of_a_lone_peer_pending_factory_reset() -> None:
    answer = (
        '*s Alternates: /\n  LocalPeer: "0"\n  Database: "Inactive"\n'
        '  Replication: "Not clustered"\n  LastSync: ""\n  NextSync: ""\n'
        '  FactoryResetPending: "True"\n*s/end\n\nOK\n'
    )
    st_ = xapi.status_from_tree(_one(answer))
    assert st_.local_slot == 0
    assert st_.peers == ()
    assert st_.factory_reset_pending is True
    assert st_.replication == "Not clustered"


def test_alarms_raised_and_lowered() -> None:
    alarms = xapi.alarms_from_blocks(xapi.parse_status(ALARMS, "xStatus Alarm"))
    assert [(a.id, a.status, a.severity, a.raised) for a in alarms] == [
        ("20007", "raised", "warning", True),
        ("20101", "lowered", "error", False),
    ]
    # A title with a colon in it keeps everything after the first colon.
    assert alarms[1].title.startswith("Cluster replication error: manual")
    assert alarms[1].parameters == "10.0.0.12"
    assert alarms[0].uuid.startswith("6b0c7b1e")
    assert alarms[1].first_raised == "2026-11-24T10:00:00Z"


def test_no_alarm_is_just_ok() -> None:
    assert xapi.alarms_from_blocks(xapi.parse_status("OK\n", "xStatus Alarm")) == ()


def test_status_nesting_by_indentation() -> None:
    tree = _one(SYSTEM_UNIT)
    assert tree["Software"] == {
        "Version": "X15.2.1",
        "Configuration": {"Expressway": "False", "ExpresswaySeries": "True"},
    }
    assert tree["Hardware"]["SerialNumber"] == "0A1B2C3D"  # back up two levels
    assert tree["Uptime"] == "1234"


def test_a_repeated_key_in_one_node_is_an_error() -> None:
    answer = '*s Warnings: /\n  Warning 3:\n    ID: "a"\n  Warning 3:\n    ID: "b"\n*s/end\nOK\n'
    with pytest.raises(ApplianceError, match="repeats 'Warning 3'"):
        xapi.parse_status(answer, "xStatus Warnings")
    # The same key under two different parents is fine.
    assert _one('*s X: /\n  A:\n    ID: "1"\n  B:\n    ID: "2"\n*s/end\nOK\n') == {
        "A": {"ID": "1"},
        "B": {"ID": "2"},
    }


def test_status_values_bare_or_unterminated_quote_kept_as_text() -> None:
    """Documented fallback: a value not wrapped in quotes is kept verbatim."""
    tree = _one('*s X: /\n  A: 12\n  B: "open\n  C: "a \\"q\\""\n*s/end\nOK\n')
    assert tree == {"A": "12", "B": '"open', "C": 'a "q"'}


# -- xCommand answers and error blocks -----------------------------------------------


def test_error_reason_of_a_result_block() -> None:
    assert xapi.error_reason(ERROR_BLOCK) == "This command must be run on a subordinate peer"


def test_error_reason_without_a_block_is_the_raw_answer() -> None:
    assert xapi.error_reason("ERROR\n") == "ERROR"
    assert xapi.error_reason("") == "empty answer"
    assert len(xapi.error_reason("x" * 1000)) == 200


def test_error_block_answer_to_a_read_raises_with_the_reason() -> None:
    answer = '*r Result (status=Error):\n    Reason: "Unknown command"\n*r/end\nERROR\n'
    with pytest.raises(ApplianceError, match=r"'xStatus Nonsense' failed: Unknown command"):
        xapi.parse_status(answer, "xStatus Nonsense")
    with pytest.raises(ApplianceError, match="Unknown command"):
        xapi.parse_config(answer, "xConfiguration Nonsense")


# -- writes: format_write -------------------------------------------------------------


@pytest.mark.parametrize(
    ("write", "line"),
    [
        (
            Write(field=Field.PEER_ADDRESS, index=2, value="10.0.0.12"),
            'xConfiguration Alternates Peer 2 Address: "10.0.0.12"',
        ),
        (
            Write(field=Field.PEER_ADDRESS, index=6, value=""),
            'xConfiguration Alternates Peer 6 Address: ""',
        ),
        (Write(field=Field.PRIMARY, value=2), "xConfiguration Alternates ConfigurationMaster: 2"),
        (Write(field=Field.PRIMARY, value=0), "xConfiguration Alternates ConfigurationMaster: 0"),
        (
            Write(field=Field.TLS_MODE, value="Enforce"),
            "xConfiguration Alternates Cluster TLSVerify Mode: Enforce",
        ),
        (
            Write(field=Field.IP_VERSION, value="IPv6"),
            "xConfiguration Alternates Cluster IpVersion: IPv6",
        ),
        (
            Write(field=Field.MAPPING_MODE, value="On"),
            "xConfiguration Alternates Cluster AddressMapping Mode: On",
        ),
        (
            Write(field=Field.MAPPING_NAME, index=1, value="exp-e-1.example.com"),
            'xConfiguration Alternates Cluster AddressMapping 1 Name: "exp-e-1.example.com"',
        ),
        (
            Write(field=Field.MAPPING_ADDRESS, index=1, value="192.0.2.11"),
            'xConfiguration Alternates Cluster AddressMapping 1 Address: "192.0.2.11"',
        ),
        (
            Write(field=Field.CLUSTER_NAME, value='we "quote" \\ it'),
            'xConfiguration Alternates Cluster Name: "we \\"quote\\" \\\\ it"',
        ),
    ],
)
def test_format_write(write: Write, line: str) -> None:
    assert xapi.format_write(write) == line


@pytest.mark.parametrize(
    "write",
    [
        Write(field=Field.CLUSTER_NAME, value="x\nxCommand Boot"),
        Write(field=Field.PEER_ADDRESS, index=1, value="10.0.0.11\r"),
        Write(field=Field.CLUSTER_NAME, value="bell\x07"),
        Write(field=Field.CLUSTER_NAME, value="del\x7f"),
        Write(field=Field.TLS_MODE, value="Enforce\nxCommand Boot"),
        Write(field=Field.TLS_MODE, value="Enforce xCommand"),
        Write(field=Field.IP_VERSION, value=""),
        Write(field=Field.MAPPING_MODE, value='On"'),
    ],
)
def test_format_write_refuses_injection(write: Write) -> None:
    with pytest.raises(ApplianceError, match="refusing"):
        xapi.format_write(write)


# -- round trips ------------------------------------------------------------------------

WRITE_LINE = re.compile(r"^xConfiguration (?P<path>.+?): (?P<value>.*)$")


def _cli_apply(config: dict[str, str], line: str) -> None:
    """What a peer does with one write line (quoted strings, bare enums/numbers)."""
    m = WRITE_LINE.match(line)
    assert m, line
    raw = m.group("value")
    if raw.startswith('"'):
        assert raw.endswith('"') and len(raw) >= 2
        value = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    else:
        assert raw and not any(c.isspace() or c == '"' for c in raw)
        value = raw
    config[m.group("path")] = value


def _cli_print(config: dict[str, str]) -> str:
    return (
        "".join(
            '*c xConfiguration {}: "{}"\n'.format(k, v.replace("\\", "\\\\").replace('"', '\\"'))
            for k, v in config.items()
        )
        + "OK\n"
    )


text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"),
    max_size=20,
).filter(lambda t: t.strip().lower() not in NULL_VALUES)


def _distinct(values: tuple[str, ...]) -> bool:
    """A real peer list never holds one address twice (exops refuses such an answer)."""
    filled = [v.lower() for v in values if v]
    return len(filled) == len(set(filled))


# Peer addresses are valid addresses (ClusterSettings refuses anything else, rule R6);
# the quoting of arbitrary text is exercised through the cluster name and mappings.
_POOL = ["10.0.0.11", "10.0.0.12", "fe80::1", "exp-c-4.example.com"]
# Six slots: distinct addresses in any slots, the others empty (generated, not filtered).
peer_slots = st.lists(st.sampled_from(_POOL), unique=True, max_size=4).flatmap(
    lambda named: st.permutations([*named, *[""] * (6 - len(named))])
)
row = st.builds(AddressMapping, name=text, address=text).filter(lambda m: bool(m.name or m.address))
cluster_settings = st.builds(
    ClusterSettings,
    peers=peer_slots.map(tuple),
    primary=st.integers(0, 6),
    cluster_name=text,
    ip_version=st.sampled_from(list(IpVersion)),
    tls_mode=st.sampled_from(list(TlsMode)),
    mapping_enabled=st.booleans(),
    mapping=st.lists(row, max_size=6)
    .map(tuple)
    .filter(lambda rows: _distinct(tuple(m.name for m in rows))),
)


@settings(max_examples=30, deadline=None)
@given(cluster_settings)
@example(ClusterSettings(cluster_name='\\"', peers=("10.0.0.11", "", "", "", "", "")))
def test_settings_print_parse_round_trip(s: ClusterSettings) -> None:
    printed = xapi.settings_to_config(s)
    assert xapi.settings_from_config(xapi.parse_config(printed, "xConfiguration Alternates")) == s


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cluster_settings, cluster_settings)
def test_write_lines_reach_the_target_through_the_cli(
    before: ClusterSettings, after: ClusterSettings
) -> None:
    """settings -> Write records -> CLI lines -> a peer's config -> parsed settings."""
    config = xapi.parse_config(xapi.settings_to_config(before))
    writes = settings_writes(before, after)
    for w in writes:
        _cli_apply(config, xapi.format_write(w))
    assert xapi.settings_from_config(xapi.parse_config(_cli_print(config))) == after
    assert apply_writes(before, writes) == after


# -- garbled, partial and truncated answers ---------------------------------------------


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("", "truncated"),
        ("\n\n", "truncated"),
        (ALTERNATES[: ALTERNATES.index("Peer 4")], "truncated"),
        (ALTERNATES.replace("OK\n", ""), "truncated"),
        ('*c xConfiguration Alternates Peer 1 Address: "10.0.0.11\nOK\n', "unexpected line"),
        ("*c xConfiguration Alternates Peer 1 Address: 10.0.0.11\nOK\n", "unexpected line"),
        ("login: admin\nPassword:\nOK\n", "unexpected line"),
        ('*s Alternates: /\n  Database: "Active"\n*s/end\nOK\n', "unexpected line"),
        ("\x00\xff\ufffd garbage\nOK\n", "unexpected line"),
    ],
)
def test_garbled_config_is_a_clear_error(answer: str, message: str) -> None:
    with pytest.raises(ApplianceError, match=message) as info:
        xapi.parse_config(answer, "xConfiguration Alternates")
    assert "xConfiguration Alternates" in str(info.value)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (STATUS_ALTERNATES[: STATUS_ALTERNATES.index("  Peer 2")], "truncated"),
        (STATUS_ALTERNATES.replace("*s/end\n", ""), r"no '\*s/end'"),
        ('  Database: "Active"\n*s/end\nOK\n', "unexpected line"),
        ('*s Alternates:\n  Database: "Active"\n*s/end\nOK\n', "unexpected line"),
        ("*s Alternates: /\n  Database Active\n*s/end\nOK\n", "unexpected line"),
        ('*c xConfiguration H323 Mode: "On"\nOK\n', "unexpected line"),
    ],
)
def test_garbled_status_is_a_clear_error(answer: str, message: str) -> None:
    with pytest.raises(ApplianceError, match=message) as info:
        xapi.parse_status(answer, "xStatus Alternates")
    assert "xStatus Alternates" in str(info.value)


def test_missing_peer_slot_in_config_names_the_leaf() -> None:
    partial = ALTERNATES.replace('*c xConfiguration Alternates Peer 6 Address: ""\n', "")
    with pytest.raises(ApplianceError, match="has no 'Peer 6 Address'"):
        xapi.settings_from_config(xapi.parse_config(partial))
    with pytest.raises(ApplianceError, match="has no 'ConfigurationMaster'"):
        xapi.settings_from_config(
            xapi.parse_config(ALTERNATES.replace("ConfigurationMaster", "ConfigMaster"))
        )


@pytest.mark.parametrize(
    ("leaf", "value"),
    [
        ("ConfigurationMaster", "two"),
        ("Cluster TLSVerify Mode", "Enforcing"),
        ("Cluster IpVersion", "IPv5"),
    ],
)
def test_invalid_config_values_are_appliance_errors(leaf: str, value: str) -> None:
    config = xapi.parse_config(ALTERNATES)
    config[f"Alternates {leaf}"] = value
    with pytest.raises(ApplianceError, match="invalid value"):
        xapi.settings_from_config(config)


@pytest.mark.parametrize(
    "body",
    [
        '  Peer 1:\n    Address: "10.0.0.11"\n    Status: "Sleeping"\n',
        '  Peer one:\n    Address: "10.0.0.11"\n    Status: "Active"\n',
        '  Peer :\n    Address: "10.0.0.11"\n',
        '  LocalPeer: "first"\n',
        '  LocalPeer:\n    Nested: "1"\n',
        '  Peer 1:\n    Address: "10.0.0.11"\n    Status:\n      Deep: "x"\n',
    ],
)
def test_garbled_status_tree_is_an_appliance_error(body: str) -> None:
    tree = _one(f"*s Alternates: /\n{body}*s/end\n\nOK\n")
    with pytest.raises(ApplianceError, match="xStatus Alternates"):
        xapi.status_from_tree(tree)


@pytest.mark.parametrize(
    "answer",
    [
        '*s Alarm 1: /\n  Uuid: "x"\n  Status: "raised"\n*s/end\nOK\n',  # no Id
        '*s Alternates: /\n  Id: "20007"\n*s/end\nOK\n',  # not an alarm block
    ],
)
def test_garbled_alarm_blocks(answer: str) -> None:
    with pytest.raises(ApplianceError, match="xStatus Alarm: unexpected block"):
        xapi.alarms_from_blocks(xapi.parse_status(answer, "xStatus Alarm"))


def test_system_unit_without_a_version_or_with_odd_values() -> None:
    """Changed: a missing version used to raise; now the fact is unknown (None)."""
    for unit in (
        '*s SystemUnit: /\n  Uptime: "1"\n*s/end\nOK\n',
        '*s SystemUnit: /\n  Software: "X15"\n*s/end\nOK\n',
        '*s SystemUnit: /\n  Software:\n    Version: "fifteen"\n*s/end\nOK\n',
    ):
        assert xapi.system_from_cli(_one(unit), {}, {}, {}, []).version is None
    for null in ("null", "None", "(null)", "N/A"):
        with pytest.raises(ApplianceError, match=r"null value .* for 'Software Version'"):
            xapi.system_from_cli(_one(SYSTEM_UNIT.replace("X15.2.1", null)), {}, {}, {}, [])
    with pytest.raises(ApplianceError, match="null value 'nil' for 'Hardware SerialNumber'"):
        xapi.system_from_cli(_one(SYSTEM_UNIT.replace("0A1B2C3D", "nil")), {}, {}, {}, [])


def test_system_unit_odd_numbers_fall_back_to_none() -> None:
    """Documented fallback: a non-numeric uptime is unknown, not an error; an option
    key whose count is not a number makes the option keys unknown (issue 24)."""
    unit = _one(SYSTEM_UNIT.replace('Uptime: "1234"', 'Uptime: "12 days"'))
    keys = xapi.parse_status(OPTION_KEYS.replace('Count: "10"', 'Count: "\u00b2"'))
    unknown: dict[str, str] = {}
    info = xapi.system_from_cli(unit, {}, {}, {}, keys, unknown)
    assert info.uptime_s is None
    assert info.option_keys is None
    assert "Option 1 Count is '\u00b2', not a number" in unknown["system.option_keys"]
    unit = _one(SYSTEM_UNIT.replace('Uptime: "1234"', 'Uptime: "\u00b9\u00b2"'))
    assert xapi.system_from_cli(unit, {}, {}, {}, []).uptime_s is None


# Fuzz: any text at all gives a result or an ApplianceError.
line_parts = st.sampled_from(
    [
        "*s Alternates: /",
        "*s Alarm 1: /",
        "*s SystemUnit: /",
        "*s/end",
        "OK",
        "ERROR",
        "*r Result (status=Error):",
        '  Reason: "x"',
        '*c xConfiguration Alternates Peer 1 Address: "10.0.0.11"',
        '  LocalPeer: "1"',
        "  LocalPeer: x",
        "  Peer 1:",
        "  Peer :",
        '    Address: "10.0.0.12"',
        '    Status: "Active"',
        "    Status: Broken",
        '  Id: "20007"',
        "  Software:",
        '    Version: "X15"',
        "  Uptime: \u00b2",
        "  Count: \u00b3",
        "      Deep:",
        "",
        ":",
        "   ",
    ]
)
garbage = st.one_of(
    st.lists(st.one_of(line_parts, st.text(max_size=12)), max_size=14).map("\n".join),
    st.text(max_size=60),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage)
@example('*s Alternates: /\n  Peer :\n    Address: "x"\n*s/end\nOK')
@example('*s Alternates: /\n  LocalPeer:\n    Deep: "1"\n*s/end\nOK')
@example(
    '*s SystemUnit: /\n  Software:\n    Version: "X"\n  Uptime: \u00b2\n'
    "  Key 1:\n    Count: \u00b3\n*s/end\nOK"
)
def test_any_answer_parses_or_raises_appliance_error(answer: str) -> None:
    with contextlib.suppress(ApplianceError):
        xapi.settings_from_config(xapi.parse_config(answer, "xConfiguration Alternates"))
    try:
        blocks = xapi.parse_status(answer, "xStatus Alternates")
    except ApplianceError:
        return
    for _node, tree in blocks:
        with contextlib.suppress(ApplianceError):
            xapi.status_from_tree(tree)
        with contextlib.suppress(ApplianceError):
            xapi.system_from_cli(tree, {}, {}, {}, blocks)
    with contextlib.suppress(ApplianceError):
        xapi.alarms_from_blocks(blocks)

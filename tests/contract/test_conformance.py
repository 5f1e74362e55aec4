"""The conformance checklist: one row per CONTRADICTED item of the evidence's Table B.

`../shared/evidence/interface-2026-12.md` Table B found five forms where exops
and its lab agreed with each other and not with Cisco's documents (plus the
bare-`xStatus` node list of its WEAK item 7). Each row below names the form,
quotes the evidence, and is checked three ways where it applies: exops's real
parser on the documented body, the lab answering the documented form over real
sockets, and exops reading that lab end to end. docs/contract.md section 10
goes through the whole table; section 9 (forms with no evidence) is kept equal
to ``knowledge.FORMS`` here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from labkit import Rest, cli, require, wait_for
from paths import REPO as ROOT
from pydantic import SecretStr

from exops.appliance import xapi
from exops.appliance.base import ConnectionTarget
from exops.appliance.knowledge import CLI, FORMS, OPTIONS_TREE, SERVER_LISTS
from exops.appliance.rest import RestAppliance, parse_system
from exops.appliance.ssh import SshAppliance
from exops.lab import logtext
from exops.lab import rest as lab_rest
from exops.lab import ssh as lab_ssh
from exops.lab.pytest_plugin import start_lab

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Row:
    id: str
    form: str  # Table B "form (where in code)"
    evidence: str  # Table B "best evidence (source, short quote)"
    now: str  # what exops and the lab do now


CHECKLIST: tuple[Row, ...] = (
    Row(
        "dnsserver-shape",
        "GET /api/v1/provisioning/common/dns/dnsserver parsed as a list (rest.py)",
        'REST API Summary Guide X14.2 / 2020: response body { "DefaultDNSServers": '
        '{ "index": 2, "address": "10.0.0.2" } }; POST/PUT body same wrapper',
        "read as the wrapped object, a bare object or a list of either; the lab answers "
        "the wrapped object by default",
    ),
    Row(
        "ntpserver-shape",
        "GET /api/v1/provisioning/common/time/ntpserver parsed as a list (rest.py)",
        'REST API Summary Guide X14.2: response body {"index": 5, "KeyId": 1, "Hash": '
        '"sha1", "Authentication": "disabled", "Address": "10.0.0.1"}',
        "read as one object or a list of them; the lab answers one object by default",
    ),
    Row(
        "raml-0.8",
        "GET /api/raml served by the mock as #%RAML 1.0",
        'REST API Summary Guide X14.2: "The Expressway REST API is compliant with RAML '
        'version 0.8"',
        "the lab serves #%RAML 0.8 (exops does not read it)",
    ),
    Row(
        "xstatus-options",
        "xStatus OptionKeys (Cli.status_option_keys, ssh.py read_system)",
        "VCS X8.11.3 status tree (py-expressway tests/status.xml): top-level "
        '<Options item="1"/>, no OptionKeys node',
        "exops sends xStatus Options (entries MOCK-DEFINED in OPTIONS_TREE); the lab "
        "prints Options and refuses OptionKeys",
    ),
    Row(
        "alarm-log-tags",
        "log tag of alarm lines (lab logtext.py: always management:)",
        'seed :644 expc01 alarm: Level="WARN" Event="Alarm Raised" Id="20006"; '
        ':758 expc01 management: ... Id="20007"',
        "the lab logs 20004/20006 with alarm:, 20007 with management:",
    ),
    Row(
        "bare-xstatus-nodes",
        "contract 4.4's list of the nodes a bare xStatus prints (WEAK 7)",
        "the X8.11.3 tree's top-level nodes include Options, not OptionKeys",
        "docs/contract.md 4.4 lists the real tree's nodes; the lab prints Options",
    ),
)


# -- a lab answering the documented forms (the default) --------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require("ssh")
    running = start_lab(
        tmp_path_factory.mktemp("conformance"),
        peers=3,
        time_scale=0.01,
        preset="formed",
        cdb_rest=True,
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def rest(lab: Any) -> Iterator[Rest]:
    client = Rest(lab)
    yield client
    client.close()


def _target(lab: Any, peer: str) -> ConnectionTarget:
    return ConnectionTarget(
        host=peer,
        hostname=lab.peers[peer],
        port=lab.https_port,
        ssh_port=lab.ssh_port,
        password=SecretStr(lab.password),
        ca_bundle=str(lab.ca_path),
        known_hosts=str(lab.state_dir / "known_hosts"),
        read_timeout_s=10.0,
    )


def _exops_rest(lab: Any, peer: str) -> RestAppliance:
    return RestAppliance(_target(lab, peer))


def _exops_ssh(lab: Any, peer: str) -> SshAppliance:
    return SshAppliance(_target(lab, peer).model_copy(update={"transport": "ssh"}))


# -- the rows -------------------------------------------------------------------------------

GUIDE_DNS = {"DefaultDNSServers": {"index": 2, "address": "10.0.0.2"}}
GUIDE_NTP = {
    "index": 5,
    "KeyId": 1,
    "Hash": "sha1",
    "Authentication": "disabled",
    "Address": "10.0.0.1",
}
SYSINFO = {"Version": "X15.2.1", "ProductType": "Expressway-C", "PlatformSize": "medium"}


def _keys_of(value: Any) -> Any:
    """Key structure and value types (not values)."""
    if isinstance(value, dict):
        return {k: _keys_of(v) for k, v in value.items()}
    return type(value).__name__


def row_dnsserver_shape(lab: Any, rest: Rest) -> None:
    unknown: dict[str, str] = {}
    info = parse_system(SYSINFO, {}, GUIDE_DNS, GUIDE_NTP, [], True, unknown)
    assert info.dns_servers == ("10.0.0.2",) and not unknown
    answer = rest.get("c1-p1", SERVER_LISTS["dns_servers"].path).json()
    assert _keys_of(answer) == _keys_of(GUIDE_DNS)  # the guide's shape, by default
    assert SERVER_LISTS["dns_servers"].wrapper == lab_rest.DNS_WRAPPER
    app = _exops_rest(lab, "c1-p1")
    try:
        assert app.read_system().dns_servers == ("192.0.2.53",)
    finally:
        app.close()


def row_ntpserver_shape(lab: Any, rest: Rest) -> None:
    unknown: dict[str, str] = {}
    info = parse_system(SYSINFO, {}, GUIDE_DNS, GUIDE_NTP, [], True, unknown)
    assert info.ntp_servers == ("10.0.0.1",) and not unknown
    answer = rest.get("c1-p1", SERVER_LISTS["ntp_servers"].path).json()
    assert _keys_of(answer) == _keys_of(GUIDE_NTP)
    app = _exops_rest(lab, "c1-p1")
    try:
        assert app.read_system().ntp_servers == ("192.0.2.123",)
    finally:
        app.close()


def row_raml_0_8(lab: Any, rest: Rest) -> None:
    r = rest.get("c1-p1", "/api/raml")
    assert r.status_code == 200 and r.text.splitlines()[0] == "#%RAML 0.8"


def row_xstatus_options(lab: Any, rest: Rest) -> None:
    assert CLI.status_options == "xStatus Options"
    assert not any("OptionKeys" in str(v) for v in vars(CLI).values())
    assert OPTIONS_TREE.entry == lab_ssh.OPTION_ENTRY
    out = cli(lab, "c1-p2", "xStatus Options", "xStatus OptionKeys")
    assert "\n*s Options: /\n*s/end\n\nOK\n" in out  # X15.2.1: the node, empty
    assert 'Reason: "No such status path"' in out
    lab.control.patch_peer("c1-p2", role="VCS", version="X8.11.3")
    app = _exops_ssh(lab, "c1-p2")
    try:
        info = app.read_system()
        assert [k.description for k in info.option_keys or ()][:2] == [
            "H323-SIP Interworking Gateway",
            "Microsoft Interoperability",
        ]
    finally:
        app.close()
        lab.control.patch_peer("c1-p2", role="Expressway-C", version="X15.2.1")


def row_alarm_log_tags(lab: Any, rest: Rest) -> None:
    assert logtext.ALARM_TAGS == {"20004": "alarm", "20006": "alarm", "20007": "management"}
    fid = lab.control.inject("unreachable", peer="c1-p3")
    try:
        wait_for(
            lambda: {"20004", "20006"} <= rest.raised("c1-p1"), "c1-p1 to lose c1-p3", timeout=20
        )
    finally:
        lab.control.clear(fid)
    rest.post(
        "c1-p1", "/api/management/configuration/cluster", data={"tls_verify": "Enforcing"}
    ).raise_for_status()
    logs = lab.control.logs("c1-p1").splitlines()
    for alarm, tag in (("20004", "alarm"), ("20006", "alarm"), ("20007", "management")):
        raised = [ln for ln in logs if f'Event="Alarm Raised" Id="{alarm}"' in ln]
        assert raised and all(re.match(rf"\S+ c1-p1 {tag}: Level=", ln) for ln in raised), raised
    rest.post(
        "c1-p1", "/api/management/configuration/cluster", data={"tls_verify": "Permissive"}
    ).raise_for_status()


def row_bare_xstatus_nodes(lab: Any, rest: Rest) -> None:
    nodes = {
        ln[3:-3]
        for ln in cli(lab, "c1-p1", "xstatus").splitlines()
        if ln.startswith("*s ") and ln.endswith(": /")
    }
    assert "Options" in nodes and "OptionKeys" not in nodes
    section = _section(ROOT / "docs" / "contract.md", "### 4.4", "### 4.5")
    assert "43 top-level nodes" in section and "`Options` (empty)" in section
    assert "no `OptionKeys`" in section


CHECKS: dict[str, Callable[[Any, Rest], None]] = {
    "dnsserver-shape": row_dnsserver_shape,
    "ntpserver-shape": row_ntpserver_shape,
    "raml-0.8": row_raml_0_8,
    "xstatus-options": row_xstatus_options,
    "alarm-log-tags": row_alarm_log_tags,
    "bare-xstatus-nodes": row_bare_xstatus_nodes,
}


@pytest.mark.parametrize("row", CHECKLIST, ids=[r.id for r in CHECKLIST])
def test_checklist_row(lab: Any, rest: Rest, row: Row) -> None:
    CHECKS[row.id](lab, rest)


def test_every_row_has_its_check_and_a_place_in_the_contract() -> None:
    assert set(CHECKS) == {r.id for r in CHECKLIST}
    table = _section(ROOT / "docs" / "contract.md", "## 10.", "## 11.")
    for row in CHECKLIST[:-1]:  # the last is WEAK 7, not a Table B row
        assert f"checklist `{row.id}`" in table, row.id
    assert table.count("**CONTRADICTED**") == 5


EVIDENCE = Path("/work/shared/evidence/interface-2026-12.md")


@pytest.mark.skipif(not EVIDENCE.exists(), reason="the evidence file is outside the repository")
def test_the_checklist_covers_every_contradicted_row_of_table_b() -> None:
    table = EVIDENCE.read_text().split("## Table B", 1)[1]
    contradicted = [
        ln
        for ln in table.splitlines()
        if ln.startswith("|") and "CONTRADICTED" in ln.split("|")[-2]
    ]
    assert len(contradicted) == 5
    covered = {
        "dnsserver": "dnsserver-shape",
        "ntpserver": "ntpserver-shape",
        "RAML 1.0": "raml-0.8",
        "xStatus OptionKeys": "xstatus-options",
        "log tag": "alarm-log-tags",
    }
    for line in contradicted:
        hits = [row for key, row in covered.items() if key in line.split("|")[1]]
        assert len(hits) == 1, line
        assert hits[0] in CHECKS


# -- section 9 of the contract is knowledge.FORMS -----------------------------------------


def _section(path: Path, start: str, end: str) -> str:
    text = path.read_text()
    return text[text.index(start) : text.index(end, text.index(start))]


def test_the_no_evidence_section_lists_exactly_the_form_rows() -> None:
    section = _section(ROOT / "docs" / "contract.md", "## 9.", "## 10.")
    listed = re.findall(r"^\| `([a-z_.0-9]+)` \|", section, flags=re.M)
    assert listed == list(FORMS)
    for form in FORMS.values():
        assert form.mark == "MOCK-DEFINED"
        assert f"`{form.request}`" in section


def test_the_options_entries_of_the_lab_are_what_exops_reads() -> None:
    """In-process (no sockets): the lab's Options node for a VCS through exops's parser."""
    from exops.lab.certs import LabCA
    from exops.lab.server import build_lab

    cfg = {"clusters": 1, "peers": 1, "time_scale": 1.0, "subnet": "127.0"}
    model = build_lab(
        {**cfg, "spec": {"c1-p1": {"role": "VCS", "version": "X8.11.3"}}}, "pw", LabCA()
    )
    answer = lab_ssh.run(model, model.peers["c1-p1"], "xStatus Options").output
    keys, why = xapi.option_keys_from_status(xapi.parse_status(answer, CLI.status_options))
    assert keys is not None and not why
    assert [k.count for k in keys] == [None, None, 10, 50]


def test_sections_13_to_15_point_to_section_9_rows_instead_of_repeating_them() -> None:
    """The forms of drain, upgrade and renew-cert with no evidence are section 9 rows
    (``[[form]]``), only there: each MOCK-DEFINED mention in sections 13-15 names the
    row it stands for (or is the lab's behaviour, which is no form), each such row is
    named from there, and the tables that keep their own lists point to the rows."""
    import tomllib

    text = (ROOT / "docs" / "contract.md").read_text()
    later = text[text.index("## 13.") :]
    chunks = [c for part in later.split("\n\n") for c in (part.splitlines() if "|" in part else [part])]
    for chunk in chunks:
        if "MOCK-DEFINED" in chunk:
            named = any(f"`{name}`" in chunk for name in FORMS)
            assert named or "behaviour" in chunk, chunk[:160]
    own = [
        "cdb.system.maintenance_mode",
        "alarm.maintenance",
        "rest.upgrade.sftpconfig",
        "rest.upgrade.start",
        "rest.upgrade.status",
        "rest.certs.generate_csr",
        "rest.certs.server_upload",
        "rest.certs.root_upload",
    ]
    for name in own:
        assert FORMS[name].mark == "MOCK-DEFINED"
        assert f"`{name}`" in later, name
    table = tomllib.loads((ROOT / "exops" / "appliance" / "knowledge.toml").read_text())
    assert table["upgrade"]["mock_defined"] == own[2:5]
    assert "cdb.system.maintenance_mode" in table["maintenance_mode"]["values_source"]
    (csr,) = [f for f in table["certs"]["form"] if f["mark"] == "MOCK-DEFINED"]
    assert all(name in csr["form"] for name in own[5:])

"""Inventory loading: a good estate loads; every bad one fails with file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from paths import REPO

from exops.core.errors import InventoryError, UsageError
from exops.core.settings import Settings
from exops.inventory import connection_target, is_fqdn, load_inventory, password_for

GROUPS = """\
c1:
  data:
    cluster_name: c1.example.com
    transport: auto
"""
HOSTS = """\
p1:
  hostname: 10.0.0.11
  groups: [c1]
  data: {address: 10.0.0.11, fqdn: p1.example.com, role: Expressway-C, slot: 1}
p2:
  hostname: 10.0.0.12
  groups: [c1]
  data: {address: 10.0.0.12, fqdn: p2.example.com, role: Expressway-C, slot: 2}
"""


def write(
    tmp_path: Path, hosts: str = HOSTS, groups: str = GROUPS, defaults: str = "username: admin\n"
) -> Path:
    (tmp_path / "hosts.yaml").write_text(textwrap.dedent(hosts))
    (tmp_path / "groups.yaml").write_text(textwrap.dedent(groups))
    (tmp_path / "defaults.yaml").write_text(defaults)
    return tmp_path


def test_example_inventory_loads() -> None:
    inv = load_inventory(REPO / "inventory", Settings())
    assert set(inv.clusters) == {"core-c", "edge-e"}
    assert [p.name for p in inv.cluster("core-c").peers] == [
        "expc-par-1",
        "expc-par-2",
        "expc-par-3",
    ]
    assert inv.cluster("edge-e").peers[0].fqdn == "expe-par-1.corp.example.com"


def test_good_inventory(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path), Settings())
    c1 = inv.cluster("c1")
    assert c1.cluster_name == "c1.example.com"
    assert [(p.name, p.slot, p.port) for p in c1.peers] == [("p1", 1, 443), ("p2", 2, 443)]


BAD = [
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  groups: [c1]\n  data: {address: 10.0.0.11\n",
        "hosts.yaml:4",  # the unclosed mapping's opening line
        "not valid YAML",
    ),
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  groups: [c1]\n  password: hunter2\n",
        "hosts.yaml:4: p1.password",
        "passwords do not belong",
    ),
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  groups: [c1]\n  colour: red\n",
        "hosts.yaml:4: p1.colour",
        "unknown key",
    ),
    (
        "hosts",
        "p1:\n  hostname: 'bad host!'\n  groups: [c1]\n",
        "hosts.yaml:2: p1.hostname",
        "not an IP address",
    ),
    ("hosts", "p1:\n  groups: [c1]\n", "p1.hostname", "not an IP address"),
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  groups: [nope]\n",
        "hosts.yaml:3: p1.groups",
        "unknown group",
    ),
    ("hosts", "p1:\n  hostname: 10.0.0.11\n  groups: []\n", "p1.groups", "exactly one cluster"),
    ("hosts", "p1:\n  hostname: 10.0.0.11\n  groups: c1\n", "p1.groups", "expected a list"),
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  port: 70000\n  groups: [c1]\n",
        "hosts.yaml:3: p1.port",
        "whole number from 1 to 65535",
    ),
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  port: 'https'\n  groups: [c1]\n",
        "p1.port",
        "whole number",
    ),
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  groups: [c1]\n  data: {address: 10.0.0.999}\n",
        "p1.data.address",
        "neither an IP address nor a valid FQDN",
    ),
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  groups: [c1]\n  data: {fqdn: 'no_dots'}\n",
        "p1.data.fqdn",
        "not a valid FQDN",
    ),
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  groups: [c1]\n  data: {role: router}\n",
        "p1.data.role",
        "unknown role",
    ),
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  groups: [c1]\n  data: {slot: 7}\n",
        "p1.data.slot",
        "from 1 to 6",
    ),
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  groups: [c1]\n  data: {ssh_port: 0}\n",
        "p1.data.ssh_port",
        "from 1 to 65535",
    ),
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  groups: [c1]\n  data: {transport: telnet}\n",
        "p1.data.transport",
        "not one of",
    ),
    (
        "hosts",
        "p1:\n  hostname: 10.0.0.11\n  groups: [c1]\n  data: [1, 2]\n",
        "p1.data",
        "expected a mapping",
    ),
    ("hosts", "- p1\n- p2\n", "hosts.yaml", "expected a mapping"),
    (
        "hosts",
        HOSTS.replace("address: 10.0.0.12", "address: 10.0.0.11"),
        "p2.data.address",
        "also used by p1",
    ),
    ("hosts", HOSTS.replace("slot: 2", "slot: 1"), "p2.data.slot", "slot 1 is also given to p1"),
    (
        "hosts",
        HOSTS.replace("hostname: 10.0.0.12", "hostname: 10.0.0.11"),
        "p2.hostname",
        "also used by p1",
    ),
    (
        "groups",
        "c1:\n  data:\n    cluster_name: not a name\n",
        "groups.yaml:3: c1.data.cluster_name",
        "not a valid FQDN",
    ),
    (
        "groups",
        "c1:\n  data:\n    cluster_name: c1.example.com\n    transport: carrier-pigeon\n",
        "c1.data.transport",
        "not one of",
    ),
    (
        "groups",
        "c1:\n  data:\n    cluster_name: c1.example.com\n    flavour: x\n",
        "c1.data.flavour",
        "unknown key",
    ),
]


@pytest.mark.parametrize(
    ("which", "text", "where", "what"), BAD, ids=[b[3][:30] + "-" + b[2] for b in BAD]
)
def test_bad_inventory_names_file_line_and_key(
    tmp_path: Path, which: str, text: str, where: str, what: str
) -> None:
    directory = write(tmp_path, **{which: text})
    with pytest.raises(InventoryError) as err:
        load_inventory(directory, Settings())
    message = str(err.value)
    assert where in message
    assert what in message
    assert "\n" not in message
    assert "hunter2" not in message


def test_missing_directory_and_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="inventory directory not found"):
        load_inventory(tmp_path / "nope", Settings())
    (tmp_path / "hosts.yaml").write_text(HOSTS)
    with pytest.raises(InventoryError, match=r"groups.yaml: file not found"):
        load_inventory(tmp_path, Settings())


def test_unknown_cluster_and_peer(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path), Settings())
    with pytest.raises(UsageError, match=r"unknown cluster 'c9' \(inventory .* has: c1\)"):
        inv.cluster("c9")
    with pytest.raises(UsageError, match=r"unknown peer 'p9' in cluster c1 \(peers: p1, p2\)"):
        inv.cluster("c1").peer("p9")


def test_password_precedence_and_message() -> None:
    inv_peer = (
        load_inventory(REPO / "inventory", Settings())
        .cluster("core-c")
        .peers[0]
    )
    env = {"EXOPS_PASSWORD": "global", "EXOPS_PASSWORD_CORE_C": "cluster"}
    assert password_for(inv_peer, env).get_secret_value() == "cluster"
    env["EXOPS_PASSWORD_EXPC_PAR_1"] = "peer"
    assert password_for(inv_peer, env).get_secret_value() == "peer"
    with pytest.raises(
        UsageError, match="no password for peer expc-par-1: set EXOPS_PASSWORD_EXPC_PAR_1"
    ):
        password_for(inv_peer, {})


def test_connection_target_hides_password() -> None:
    peer = (
        load_inventory(REPO / "inventory", Settings())
        .cluster("core-c")
        .peers[0]
    )
    target = connection_target(peer, Settings(), {"EXOPS_PASSWORD": "s3cret-pw"})
    assert target.verify_tls is True
    assert "s3cret-pw" not in repr(target)
    assert "s3cret-pw" not in target.model_dump_json()


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a.example.com", True),
        ("exp-c-1.lab.example.com", True),
        ("localhost", False),
        ("10.0.0.1", False),
        ("-bad.example.com", False),
        ("a..b", False),
        ("x" * 64 + ".com", False),
    ],
)
def test_is_fqdn(value: str, ok: bool) -> None:
    assert is_fqdn(value) is ok


# -- names become file names: checked first (issue 11, item 7) ------------------------------------
@pytest.mark.parametrize(
    "name", ["../evil", "a/b", "..", ".hidden", "-rf", "p 1", "p1\\x", "a..b", "x" * 65, "pé"]
)
def test_unsafe_host_names_are_refused(tmp_path: Path, name: str) -> None:
    hosts = HOSTS.replace("p2:\n", f"{name!r}:\n")
    with pytest.raises(InventoryError) as exc:
        load_inventory(write(tmp_path, hosts=hosts), Settings())
    assert "it becomes a file name" in str(exc.value) and "\n" not in str(exc.value)
    assert exc.value.exit_code == 2


@pytest.mark.parametrize("name", ["../c1", "c1/..", ".c1", "c 1"])
def test_unsafe_cluster_names_are_refused(tmp_path: Path, name: str) -> None:
    groups = GROUPS.replace("c1:\n", f"{name!r}:\n", 1)
    hosts = HOSTS.replace("groups: [c1]", f"groups: [{name!r}]")
    with pytest.raises(InventoryError) as exc:
        load_inventory(write(tmp_path, hosts=hosts, groups=groups), Settings())
    assert "cluster name" in str(exc.value) and "file name" in str(exc.value)


@pytest.mark.parametrize("name", ["p7", "exp-c.par_1", "A9", "x" * 64])
def test_safe_names_load(tmp_path: Path, name: str) -> None:
    hosts = HOSTS.replace("p2:\n", f"{name}:\n")
    inv = load_inventory(write(tmp_path, hosts=hosts), Settings())
    assert name in [p.name for p in inv.cluster("c1").peers]


def test_ipv6_management_and_cluster_addresses_load(tmp_path: Path) -> None:
    hosts = """\
    p1:
      hostname: "2001:db8::11"
      groups: [c1]
      data: {address: "2001:db8::11", fqdn: p1.example.com, slot: 1}
    p2:
      hostname: "2001:db8::12"
      groups: [c1]
      data: {address: "2001:db8::12", slot: 2}
    """
    inv = load_inventory(write(tmp_path, hosts=hosts), Settings())
    p1 = inv.cluster("c1").peer("p1")
    assert p1.hostname == "2001:db8::11" and p1.address == "2001:db8::11"

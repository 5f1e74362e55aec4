"""Safety rules and bounded input through the real CLI against one real mock lab.

The lab is shared by the module and nothing here may change it: every case is
refused, and each asserts from the mock's own request log that no write and no
restart reached an appliance, that stderr holds one line naming the rule or the
problem, and that there is no traceback.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from clikit import Cli, cli_for, last_seq, writes_since

from exops.lab.pytest_plugin import start_lab

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    running = start_lab(
        tmp_path_factory.mktemp("safetylab"), clusters=1, peers=3, time_scale=0.004, preset="formed"
    )
    yield running
    running.stop()


def restarts(lab: Any) -> list[Any]:
    return list(lab.control.metrics()["restarts"])


def refused_cleanly(lab: Any, cli: Cli, *args: str, code: int | None) -> str:
    """Run; assert nothing reached an appliance and no traceback; return stderr."""
    seq, before = last_seq(lab), restarts(lab)
    proc = cli(*args, expect=code, timeout=120)
    assert proc.returncode != 0
    assert writes_since(lab, seq) == [], "a write or restart reached an appliance"
    assert restarts(lab) == before, "an appliance was restarted"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


# -- R2: restart --peer while another member is down ---------------------------------------
def test_restart_peer_refused_while_another_member_is_unreachable(lab: Any, tmp_path: Path) -> None:
    cli = cli_for(lab, tmp_path, EXOPS_CONNECT_TIMEOUT="2", EXOPS_READ_TIMEOUT="3")
    fault = lab.control.inject("unreachable", peer="c1-p3")
    try:
        stderr = refused_cleanly(
            lab, cli, "restart", "-c", "c1", "--peer", "c1-p2", "--yes", code=3
        )
    finally:
        lab.control.clear(fault)
    assert "cluster_health" in stderr and "c1-p3" in stderr


CUSTOM_RESTART = """\
name: my-restart
params: {peer: {type: peer, required: true}}
steps:
  - name: restart {{ peer }}
    on: "{{ peer }}"
    restart: {when: always}
"""


def test_custom_runbook_without_preflight_cannot_restart_with_a_member_down(
    lab: Any, tmp_path: Path
) -> None:
    """No preflight at all: the executor's rule R2, on a fresh read, still refuses."""
    path = tmp_path / "my-restart.yaml"
    path.write_text(CUSTOM_RESTART)
    cli = cli_for(lab, tmp_path, EXOPS_CONNECT_TIMEOUT="2", EXOPS_READ_TIMEOUT="3")
    fault = lab.control.inject("unreachable", peer="c1-p3")
    try:
        stderr = refused_cleanly(
            lab, cli, "run", str(path), "-c", "c1", "--param", "peer=c1-p2", "--yes", code=None
        )
    finally:
        lab.control.clear(fault)
    assert "safety rule R2" in stderr and "c1-p3" in stderr and "unreachable" in stderr


# -- R1: a runbook file's decommission flag cannot empty a non-leaver -----------------------------
CUSTOM_WIPE = """\
name: my-wipe
params: {peer: {type: peer, required: true}}
steps:
  - name: clear every slot of {{ peer }}
    on: "{{ peer }}"
    decommission: true
    configure:
      peers: ["", "", "", "", "", ""]
"""


def test_custom_runbook_decommission_flag_cannot_empty_a_list(lab: Any, tmp_path: Path) -> None:
    path = tmp_path / "my-wipe.yaml"
    path.write_text(CUSTOM_WIPE)
    cli = cli_for(lab, tmp_path)
    stderr = refused_cleanly(
        lab, cli, "run", str(path), "-c", "c1", "--param", "peer=c1-p3", "--yes", code=None
    )
    assert "safety rule R1" in stderr and "c1-p3" in stderr
    assert lab.control.peer_state("c1-p3")["saved"]["peers"][0]  # still listed


def test_a_safety_refusal_exits_3(lab: Any, tmp_path: Path) -> None:
    path = tmp_path / "my-wipe.yaml"
    path.write_text(CUSTOM_WIPE)
    cli = cli_for(lab, tmp_path)
    refused_cleanly(
        lab, cli, "run", str(path), "-c", "c1", "--param", "peer=c1-p3", "--yes", code=3
    )


# -- bounded input: one line, exit 2, nothing written ---------------------------------------------
def _runbook(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "mine.yaml"
    path.write_bytes(content)
    return str(path)


ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]\n"
        for i in range(1, 9)
    )
    + "name: x\nsteps: []\n"
)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"name: x\n" + b"#" * (300 * 1024) + b"\n", "larger than 256 KiB"),
        (b"name: x\nsteps:\n  - name: \xff\n", ":3: not valid UTF-8"),
        (ALIAS_BOMB.encode(), "aliases"),
        (b"name: x\nsteps: " + b"[" * 500 + b"]" * 500 + b"\n", "nested deeper"),
        (
            b"name: x\nsteps:\n  - name: a\n    on: primary\n    when: \"{{ 'a' * 100000000 }}\"\n"
            b"    restart: {}\n",
            "'*' would make",
        ),
    ],
    ids=["oversized", "utf8", "alias-bomb", "deep-nesting", "string-multiplication"],
)
def test_bounded_runbook_input(lab: Any, tmp_path: Path, content: bytes, says: str) -> None:
    cli = cli_for(lab, tmp_path)
    ref = _runbook(tmp_path, content)
    line = one_line(refused_cleanly(lab, cli, "run", ref, "-c", "c1", "--yes", code=2))
    assert says in line and "mine.yaml" in line


def test_dev_zero_runbook_is_one_line(lab: Any, tmp_path: Path) -> None:
    cli = cli_for(lab, tmp_path)
    line = one_line(refused_cleanly(lab, cli, "run", "/dev/zero", "-c", "c1", "--yes", code=2))
    assert "/dev/zero" in line and "character device, not a regular file" in line


@pytest.mark.parametrize("raw", ["nan", "inf", "0", "-1"])
def test_timeouts_must_be_finite_and_positive(lab: Any, tmp_path: Path, raw: str) -> None:
    cli = cli_for(lab, tmp_path, EXOPS_READ_TIMEOUT=raw)
    line = one_line(refused_cleanly(lab, cli, "restart", "-c", "c1", "--yes", code=2))
    assert "EXOPS_READ_TIMEOUT" in line and "read_timeout" in line


@pytest.mark.parametrize("name", ["../../evil", ".hidden"])
def test_host_names_are_checked_before_they_become_file_names(
    lab: Any, tmp_path: Path, name: str
) -> None:
    inventory = tmp_path / "inventory"
    shutil.copytree(lab.inventory_dir, inventory)
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    hosts[name] = hosts.pop("c1-p3")
    (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    cli = cli_for(lab, tmp_path, EXOPS_INVENTORY=str(inventory))
    line = one_line(refused_cleanly(lab, cli, "restart", "-c", "c1", "--yes", code=2))
    assert "becomes a file name" in line and repr(name) in line
    assert not (tmp_path / "evil").exists()


# -- add-peer on a cluster in TLS Enforce lists the new peer by FQDN (a first-day failure) ----------
def test_add_peer_in_tls_enforce_lists_the_new_peer_by_fqdn(
    lab_factory: Any, tmp_path: Path
) -> None:
    """It used to list the new peer by IP on every member: every peer went database
    Failed (alarms 20004/20006) and the run sat in a 20-minute wait."""
    enforce_lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="unclustered")
    cli = cli_for(enforce_lab, tmp_path)
    cli("create-cluster", "-c", "c1", "--tls-mode", "Enforce", "--yes")
    cli("add-peer", "-c", "c1", "--peer", "c1-p2", "--yes")
    fqdns = [enforce_lab.fqdns[p] for p in ("c1-p1", "c1-p2")]
    for peer in ("c1-p1", "c1-p2"):
        state = enforce_lab.control.peer_state(peer)
        assert state["saved"]["peers"][:2] == fqdns, (peer, state["saved"]["peers"])
        assert state["saved"]["tls"] == "Enforce"
        assert state["database"] == "Active", (peer, state["database"])
        assert not {"20004", "20006"} & set(state["alarms"]), (peer, state["alarms"])


# -- R3 at execution: a new peer joining an Enforce cluster is never listed by IP ------------------
ENFORCE_ONLY = """\
name: enforce-only
params: {peer: {type: peer, required: true}}
steps:
  - name: TLS Enforce on {{ peer }}
    on: "{{ peer }}"
    configure: {tls_mode: Enforce}
"""

JOIN_BY_IP = """\
name: join-by-ip
params: {peer: {type: peer, required: true}}
steps:
  - name: list {{ peer }} by IP beside the primary
    on: "{{ peer }}"
    configure:
      peers: "{{ [cluster.address(cluster.primary), cluster.address(peer), '', '', '', ''] }}"
      primary: 1
"""


def test_r3_a_new_peer_of_an_enforce_cluster_listed_by_ip_is_refused_at_execution(
    lab_factory: Any, tmp_path: Path
) -> None:
    """The cluster (c1-p1) is in TLS Enforce but lists itself by IP, so only the
    cluster's Enforce mode (read fresh from its primary) tells that the IP list a
    runbook file writes onto the new peer c1-p2 (empty list, Permissive) would break
    it: the planner does not refuse a literal list, the executor's R3 does."""
    enforce_lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="unclustered")
    cli = cli_for(enforce_lab, tmp_path)
    cli("create-cluster", "-c", "c1", "--yes")
    (tmp_path / "enforce-only.yaml").write_text(ENFORCE_ONLY)
    cli("run", str(tmp_path / "enforce-only.yaml"), "-c", "c1", "--param", "peer=c1-p1", "--yes")
    primary = enforce_lab.control.peer_state("c1-p1")["saved"]
    assert primary["tls"] == "Enforce" and primary["peers"][0] == enforce_lab.peers["c1-p1"]
    new = enforce_lab.control.peer_state("c1-p2")["saved"]
    assert new["tls"] == "Permissive" and not any(new["peers"])

    (tmp_path / "join-by-ip.yaml").write_text(JOIN_BY_IP)
    seq = last_seq(enforce_lab)
    join = str(tmp_path / "join-by-ip.yaml")
    proc = cli("run", join, "-c", "c1", "--param", "peer=c1-p2", "--yes", expect=3)
    assert "safety rule R3" in proc.stderr and "TLS Enforce" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert writes_since(enforce_lab, seq) == [], "a write reached an appliance"
    assert not any(enforce_lab.control.peer_state("c1-p2")["saved"]["peers"])

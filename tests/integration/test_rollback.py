"""The run report's "How to roll back", followed literally on the lab (issue 32).

Per runbook: read the lab's true state (its control API), run the runbook, take
the commands from `exops show RUN`, type each in a terminal as shown (answering
the confirmation), and read the true state again: it must equal the state before
the run. Where there is no automatic way back the report must say so plainly.
"""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path
from typing import Any

import pytest
from clikit import Cli, cli_for, run_in_pty

pytestmark = pytest.mark.integration

# What makes up a peer's cluster state (the lab's saved settings), and whether a
# restart or a factory reset is pending.
SETTINGS = ("peers", "master", "name", "tls", "ipver", "map_mode", "map")


def true_state(lab: Any, ignore: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    out = {}
    for peer in lab.peers:
        s = lab.control.peer_state(peer)
        row = {k: s["saved"][k] for k in SETTINGS if k not in ignore}
        row.update(
            restart_required=s["restart_required"],
            factory_reset_pending=s["factory_reset_pending"],
            primary=s["is_primary"],
        )
        out[peer] = row
    return out


def settled_equal(lab: Any, before: dict[str, Any], ignore: tuple[str, ...] = ()) -> None:
    """Poll until the lab's state equals ``before`` (replication is asynchronous)."""
    deadline = time.monotonic() + 60
    now = true_state(lab, ignore)
    while now != before and time.monotonic() < deadline:
        time.sleep(0.2)
        now = true_state(lab, ignore)
    assert now == before


def run_id_of(cli: Cli, *args: str) -> str:
    return str(cli.json(*args, "--yes")["run_id"])


def report(cli: Cli, run_id: str) -> tuple[list[str], str]:
    """The rollback commands of ``exops show RUN`` (in order) and its words."""
    text = cli("show", run_id).stdout
    section = text[text.index("\nHow to roll back\n") :].split("\n\n")[0]
    commands = re.findall(r"^  \$ (exops .*?)   # ", section, flags=re.M)
    return commands, " ".join(section.split())


def follow(cli: Cli, commands: list[str]) -> None:
    """Type each command as shown, answering y when asked to confirm."""
    assert commands, "the report offers no command"
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "exops"
        code, screen, _ = run_in_pty(argv[1:], cli.env, answer=(b"[y/N]: ", b"y\n"))
        assert code == 0, f"{command} exited {code}\n{screen[-3000:]}"


def test_switch_primary_rolls_back(formed_lab: Any, tmp_path: Path) -> None:
    cli = cli_for(formed_lab, tmp_path)
    before = true_state(formed_lab)
    run = run_id_of(cli, "switch-primary", "-c", "c1", "--peer", "c1-p2")
    commands, words = report(cli, run)
    assert commands == ["exops switch-primary -c c1 --peer c1-p1"], words
    follow(cli, commands)
    settled_equal(formed_lab, before)


def test_enforce_tls_rolls_back_and_convert_fqdn_gives_the_manual_way(
    formed_lab: Any, tmp_path: Path
) -> None:
    lab, cli = formed_lab, cli_for(formed_lab, tmp_path)
    fqdn = run_id_of(cli, "convert-fqdn", "-c", "c1")
    by_fqdn = true_state(lab)
    tls = run_id_of(cli, "enforce-tls", "-c", "c1")
    commands, words = report(cli, tls)
    assert commands == ["exops permissive-tls -c c1"], words
    follow(cli, commands)
    settled_equal(lab, by_fqdn)
    # exops never writes an IP into a cluster listed by FQDN (safety rule R3): the way
    # back from convert-fqdn is manual, and the report gives the addresses.
    commands, words = report(cli, fqdn)
    assert commands == [] and words.startswith("How to roll back No automatic way back"), words
    for slot, peer in enumerate(lab.peers, start=1):
        assert f"slot {slot}: {lab.peers[peer]}" in words, words


def test_address_mapping_rolls_back(formed_lab: Any, tmp_path: Path) -> None:
    lab, cli = formed_lab, cli_for(formed_lab, tmp_path)
    before = true_state(lab, ignore=("map",))
    run = run_id_of(cli, "address-mapping", "-c", "c1")
    commands, words = report(cli, run)
    assert commands == ["exops address-mapping -c c1 --disable"]
    assert "pairs this run wrote stay stored, unused while mapping is Off" in words
    follow(cli, commands)
    settled_equal(lab, before, ignore=("map",))


def test_add_peer_and_restore_roll_back(lab_factory: Any, tmp_path: Path) -> None:
    """add-peer's way back is remove-peer (the added peer factory-resets, as the
    report says); a restore's is a restore pinned to the backup it took first."""
    lab = lab_factory(clusters=1, peers=4, time_scale=0.004, preset="unclustered")
    cli = cli_for(lab, tmp_path)
    cli("create-cluster", "-c", "c1", "--yes")
    cli("add-peer", "-c", "c1", "--peer", "c1-p2", "--yes")
    grown = run_id_of(cli, "add-peer", "-c", "c1", "--peer", "c1-p3")
    three = true_state(lab)

    # Restore c1-p2's list as add-peer c1-p3 found it (without c1-p3), then roll back.
    steps = cli.json("show", grown)["steps"]
    backup = next(
        s["detail"].removeprefix("cluster settings saved to ")
        for s in steps
        if s["kind"] == "backup" and s["host"] == "c1-p2"
    )
    restored = run_id_of(cli, "restore", "-c", "c1", "--peer", "c1-p2", "--backup", backup)
    assert lab.control.peer_state("c1-p2")["saved"]["peers"][2] == ""
    commands, _ = report(cli, restored)
    assert len(commands) == 1 and commands[0].startswith(
        "exops restore -c c1 --peer c1-p2 --backup "
    )
    assert commands[0].split("--backup ")[1] != backup  # the restore's own, not the newest
    follow(cli, commands)
    # A restore leaves a restart pending on the peer, as the restore's plan warns.
    lab_now = true_state(lab)
    assert lab_now["c1-p2"]["peers"] == three["c1-p2"]["peers"]
    cli("restart", "-c", "c1", "--peer", "c1-p2", "--yes")
    settled_equal(lab, three)

    added = run_id_of(cli, "add-peer", "-c", "c1", "--peer", "c1-p4")
    commands, words = report(cli, added)
    assert commands == ["exops remove-peer -c c1 --peer c1-p4"]
    assert "c1-p4 factory-resets at its restart" in words
    follow(cli, commands)
    settled_equal(lab, three)


def test_remove_peer_says_there_is_no_automatic_way_back(formed_lab: Any, tmp_path: Path) -> None:
    """The manual way the report gives works: configure the peer again (here the
    lab's DNS and NTP, which the factory reset wiped), then the add-peer it names."""
    lab, cli = formed_lab, cli_for(formed_lab, tmp_path)
    before = true_state(lab)
    network = {k: lab.control.peer_state("c1-p3")[k] for k in ("dns_servers", "ntp_servers")}
    network["cert"] = lab.control.peer_state("c1-p3")["cert"]
    run = run_id_of(cli, "remove-peer", "-c", "c1", "--peer", "c1-p3")
    commands, words = report(cli, run)
    assert commands == []
    assert words.startswith("How to roll back No automatic way back: c1-p3 was decommissioned")
    manual = re.search(r"`(exops add-peer [^`]*)`", words)
    assert manual, words
    lab.control.patch_peer("c1-p3", **network)
    follow(cli, [manual[1]])
    settled_equal(lab, before)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("restart", "-c", "c1", "--peer", "c1-p2"), "Nothing to roll back: a restart"),
        (("switch-primary", "-c", "c1", "--peer", "c1-p1"), "Nothing to roll back: the run"),
    ],
)
def test_runs_that_change_nothing_say_so(
    formed_lab: Any, tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    cli = cli_for(formed_lab, tmp_path)
    commands, said = report(cli, run_id_of(cli, *args))
    assert commands == [] and words in said, said


def test_create_cluster_says_there_is_no_automatic_way_back(
    fresh_lab: Any, tmp_path: Path
) -> None:
    cli = cli_for(fresh_lab, tmp_path)
    commands, words = report(cli, run_id_of(cli, "create-cluster", "-c", "c1"))
    assert commands == [] and "No automatic way back: un-forming the cluster" in words

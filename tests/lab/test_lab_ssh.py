"""The mock's SSH admin shell over real sockets (OpenSSH, sshpass), per docs/contract.md 4.

Shapes are held against the conformance fixtures in tests/fixtures/contract/cli
(the real X8.11.3 capture), the same ones exops's parsers are tested on.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labkit import Rest, cli, config_values, port_open, require, ssh, status_values, wait_for
from paths import FIXTURES as FIXTURES_ROOT

pytestmark = pytest.mark.integration

FIXTURES = FIXTURES_ROOT / "contract" / "cli"


@pytest.fixture
def lab(lab_factory: Any) -> Any:
    require("ssh")
    return lab_factory(peers=3, time_scale=0.01, preset="formed", cdb_rest=True)


@pytest.fixture
def rest(lab: Any) -> Iterator[Rest]:
    client = Rest(lab)
    yield client
    client.close()


def test_key_login_each_peer_own_host_key_and_banner(lab: Any) -> None:
    for name in lab.peers:
        proc = ssh(lab, name, "xStatus SystemUnit")
        assert proc.returncode == 0, proc.stderr
        assert "TANDBERG Video Communication Server X15.2.1" in proc.stdout + proc.stderr
        unit = status_values(proc.stdout.split("*s SystemUnit: /", 1)[1])
        assert unit["Product"] == "TANDBERG VCS"
        assert unit["Software Configuration ExpresswaySeries"] == "True"
        assert unit["Software Configuration Expressway"] == "False"  # Expressway-C
        assert unit["Software Version"] == "X15.2.1"
        assert not {"Name", "ProductType", "Hardware PlatformSize"} & set(unit)
        assert proc.stdout.rstrip().endswith("OK")
    # known_hosts pins one key per [ip]:port; another peer's key does not pass.
    lines = (lab.state_dir / "known_hosts").read_text().splitlines()
    assert len({line.split()[2] for line in lines}) == 3
    swapped = lab.state_dir / "known_hosts_swapped"
    keys = [line.split(" ", 1)[1] for line in lines]
    swapped.write_text(
        "".join(f"{line.split()[0]} {keys[(i + 1) % 3]}\n" for i, line in enumerate(lines))
    )
    proc = _ssh_with_known_hosts(lab, "c1-p1", swapped)
    assert proc.returncode == 255
    assert "host key" in proc.stderr.lower() or "REMOTE HOST IDENTIFICATION" in proc.stderr


def _ssh_with_known_hosts(lab: Any, peer: str, known: Any) -> Any:
    return subprocess.run(
        [
            "ssh",
            "-T",
            "-F",
            "/dev/null",
            "-p",
            str(lab.ssh_port),
            "-i",
            str(lab.state_dir / "id_ed25519"),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "StrictHostKeyChecking=yes",
            f"admin@{lab.peers[peer]}",
            "xStatus SystemUnit",
        ],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )


def _refused(proc: Any) -> None:
    # sshpass exits 5 on a refused password; ssh itself 255 once out of attempts.
    assert proc.returncode in (5, 255), (proc.returncode, proc.stderr)
    assert proc.returncode == 5 or "Permission denied" in proc.stderr, proc.stderr
    assert "xConfiguration" not in proc.stdout


def test_password_login_and_wrong_password_rejected(lab: Any) -> None:
    require("sshpass")
    ok = ssh(lab, "c1-p2", "xConfiguration H323", password=lab.password)
    assert ok.returncode == 0, ok.stderr
    assert '*c xConfiguration H323 Mode: "On"' in ok.stdout
    bad = ssh(lab, "c1-p2", "xConfiguration H323", password="wrong-password")
    _refused(bad)
    # The ssh_auth_reject fault refuses the right password and the key, until cleared.
    fid = lab.control.inject("ssh_auth_reject", peer="c1-p2")
    _refused(ssh(lab, "c1-p2", "xConfiguration H323", password=lab.password))
    _refused(ssh(lab, "c1-p2", "xConfiguration H323"))
    assert ssh(lab, "c1-p1", "xConfiguration H323").returncode == 0
    lab.control.clear(fid)
    assert ssh(lab, "c1-p2", "xConfiguration H323").returncode == 0


def test_rest_write_is_read_back_over_ssh_and_back(lab: Any, rest: Rest) -> None:
    rest.write("c1-p1", "configuration/cluster/cluster_name", "via-rest.example.com")
    rest.write("c1-p1", "configuration/clusteraddressmapping/index/1/name", "c1-p2.example.com")
    rest.write("c1-p1", "configuration/alternates/index/4/ip_address", "192.0.2.99")
    values = config_values(cli(lab, "c1-p1", "xConfiguration Alternates"))
    assert values["Alternates Cluster Name"] == "via-rest.example.com"
    assert values["Alternates Cluster AddressMapping 2 Name"] == "c1-p2.example.com"
    assert values["Alternates Peer 5 Address"] == "192.0.2.99"
    assert values["Alternates Peer 1 Address"] == lab.peers["c1-p1"]
    assert values["Alternates ConfigurationMaster"] == "1"
    assert len([k for k in values if k.startswith("Alternates Peer ")]) == 6
    # And the other way: CLI writes are what REST reads.
    out = cli(
        lab,
        "c1-p1",
        'xConfiguration Alternates Cluster Name: "via-ssh.example.com"',
        "xConfiguration Alternates Cluster AddressMapping Mode: On",
        'xConfiguration Alternates Peer 5 Address: ""',
        "xConfiguration H323 Mode: Off",
    )
    assert out.splitlines()[-4:] == ["OK"] * 4, out
    cluster = rest.record("c1-p1", "configuration/cluster")
    assert cluster["cluster_name"] == "via-ssh.example.com"
    assert cluster["address_mapping"] == "On"
    assert rest.table("c1-p1", "configuration/alternates")[4]["ip_address"] == ""
    assert rest.record("c1-p1", "configuration/h323") == {"mode": "Off"}
    assert "20106" in rest.raised("c1-p1")  # H.323 must be On in a cluster


def test_cli_errors_use_the_result_block(lab: Any, rest: Rest) -> None:
    out = cli(
        lab,
        "c1-p1",
        "xConfiguration Alternates Cluster TLSVerify Mode: Strict",
        "xConfiguration Alternates Peer 2 Address: 10.0.0.12",
        "xConfiguration Alternates Nonsense: 1",
        "xCommand Teleport",
    )
    assert out.count("*r Result (status=Error):") == 4
    assert out.splitlines().count("ERROR") == 4
    assert 'XPath: "/Configuration/Alternates/Cluster/TLSVerify/Mode"' in out
    assert 'Reason: "Unknown command"' in out
    # Nothing changed.
    assert rest.table("c1-p1", "configuration/alternates")[1]["ip_address"] == lab.peers["c1-p2"]
    assert rest.record("c1-p1", "configuration/cluster")["tls_verify"] == "Permissive"


def test_xstatus_alternates_and_alarm_framing(lab: Any) -> None:
    out = cli(lab, "c1-p3", "xStatus Alternates")
    # The welcome ends in a blank line and no OK (a real box's does not reliably).
    welcome, answer = out.split("\n\n", 1)
    assert welcome.startswith("TANDBERG Video Communication Server X15.2.1\n")
    assert "OK" not in welcome.splitlines()
    assert answer.startswith("*s Alternates: /\n")
    assert "*s/end\n\nOK\n" in out
    status = status_values(out)
    assert status["LocalPeer"] == "3"
    assert status["ConfigurationMaster"] == "1"
    assert status["Database"] == "Active"
    assert status["FactoryResetPending"] == "False"
    for i, ip in enumerate(lab.peers.values(), 1):
        assert status[f"Peer {i} Address"] == ip
        assert status[f"Peer {i} Status"] == "Active"
    # No alarm: just OK. With 20007 raised: one *s Alarm block.
    assert "*s Alarm" not in cli(lab, "c1-p3", "xStatus Alarm")
    out = cli(
        lab,
        "c1-p3",
        "xConfiguration Alternates Cluster IpVersion: IPv6",
        "xStatus Alarm",
    )
    assert "*s Alarm 1: /" in out
    assert 'Id: "20007"' in out
    assert 'Status: "raised"' in out


def test_force_config_update_only_on_a_subordinate(lab: Any, rest: Rest) -> None:
    out = cli(lab, "c1-p1", "xCommand ForceConfigUpdate")
    assert 'Reason: "This command must be run on a subordinate peer"' in out
    assert out.rstrip().endswith("ERROR")
    # A subordinate drifts (its own H.323 mode: the cluster name is a cluster-database
    # field that spreads at once), ForceConfigUpdate pulls the primary's at once.
    lab.control.inject("replication_error", peer="c1-p2")
    wait_for(lambda: "20101" in rest.raised("c1-p2"), "20101 on c1-p2", timeout=5)
    rest.write("c1-p2", "configuration/h323/mode", "Off")
    assert rest.record("c1-p2", "configuration/h323")["mode"] == "Off"
    out = cli(lab, "c1-p2", "xCommand ForceConfigUpdate")
    assert out.rstrip().endswith("ERROR")  # the fault still blocks it
    lab.control.clear()
    out = cli(lab, "c1-p2", "xCommand ForceConfigUpdate")
    assert out.rstrip().endswith("OK"), out
    assert rest.record("c1-p2", "configuration/h323")["mode"] == "On"
    assert "20101" not in rest.raised("c1-p2")


def test_boot_over_ssh_closes_both_listeners_then_they_return(lab: Any, rest: Rest) -> None:
    ip = lab.peers["c1-p3"]
    before = rest.get("c1-p3", "/api/provisioning/sysinfo").json()["UptimeSeconds"]
    started = time.monotonic()
    proc = ssh(lab, "c1-p3", "xCommand Boot", "xStatus SystemUnit")
    assert proc.stdout.rstrip().endswith("OK")
    assert "*s SystemUnit" not in proc.stdout  # the session closed after Boot
    probed: list[float] = []

    def down() -> bool:
        probed.append(time.monotonic())
        return not port_open(ip, lab.https_port) and not port_open(ip, lab.ssh_port)

    wait_for(down, "c1-p3 to go down", timeout=3, every=0.02)
    # The probe that found it down began before the boot, however late we look.
    went_down = probed[-1]
    wait_for(
        lambda: port_open(ip, lab.https_port) and port_open(ip, lab.ssh_port),
        "c1-p3 to come back",
        timeout=10,
    )
    after = rest.get("c1-p3", "/api/provisioning/sysinfo").json()["UptimeSeconds"]
    metrics = lab.control.metrics()
    (restart,) = [r for r in metrics["restarts"] if r["peer"] == "c1-p3"]
    assert restart["downtime_s"] >= 0.9 * metrics["reboot_downtime_s"]  # Boot: a reboot
    # Uptime (simulated seconds) restarts from the boot: without a restart it would
    # have grown by at least the whole downtime.
    assert after < before + (time.monotonic() - started) / metrics["time_scale"] - 100
    assert after <= (time.monotonic() - went_down) / metrics["time_scale"] + 1
    assert "System Restart" in lab.control.logs("c1-p3")


def test_ssh_faults_slow_and_unreachable(lab: Any) -> None:
    fid = lab.control.inject("slow", peer="c1-p2", iface="ssh", seconds=1.0)
    started = time.monotonic()
    assert "H323 Mode" in cli(lab, "c1-p2", "xConfiguration H323")
    assert time.monotonic() - started >= 1.0
    lab.control.clear(fid)
    fid = lab.control.inject("unreachable", peer="c1-p2")
    wait_for(lambda: not port_open(lab.peers["c1-p2"], lab.ssh_port), "ssh closed", timeout=3)
    assert ssh(lab, "c1-p2", "xConfiguration H323").returncode == 255
    lab.control.clear(fid)
    wait_for(lambda: port_open(lab.peers["c1-p2"], lab.ssh_port), "ssh open", timeout=5)
    assert ssh(lab, "c1-p2", "xConfiguration H323").returncode == 0


def test_request_log_records_cli_writes(lab: Any) -> None:
    since = max((q["seq"] for q in lab.control.requests()), default=0)
    cli(
        lab,
        "c1-p3",
        "xConfiguration Alternates",
        'xConfiguration Alternates Cluster Name: "cli-log.example.com"',
        "xConfiguration Alternates Cluster IpVersion: IPv5",
    )
    log = [q for q in lab.control.requests(since) if q["path"] != "exit"]
    assert [(q["iface"], q["method"], q["write"], q["status"]) for q in log] == [
        ("ssh", "CLI", False, "OK"),
        ("ssh", "CLI", True, "OK"),
        ("ssh", "CLI", False, "ERROR"),
    ]
    assert log[1]["path"] == 'xConfiguration Alternates Cluster Name: "cli-log.example.com"'


# -- shell mechanics against the conformance fixtures (checklist 27-41) ----------------


def _fixture_shape(name: str) -> set[str]:
    text = (FIXTURES / name).read_text()
    return {"/".join("<n>" if w.isdecimal() else w for w in k.split()) for k in status_values(text)}


def _shape(values: dict[str, str]) -> set[str]:
    return {"/".join("<n>" if w.isdecimal() else w for w in k.split()) for k in values}


def _answers(lab: Any, peer: str, *lines: str) -> list[str]:
    """One answer per line (each up to and including its final OK/ERROR line)."""
    _, out = cli(lab, peer, *lines).split("\n\n", 1)  # past the welcome
    answers, current = [], ""
    for line in out.splitlines(keepends=True):
        current += line
        if line.rstrip("\n") in ("OK", "ERROR"):
            answers.append(current)
            current = ""
    assert current == "" and len(answers) == len(lines), out
    return answers


def test_abbreviations_leaves_subtrees_help_and_logs(lab: Any) -> None:
    answers = _answers(
        lab,
        "c1-p2",
        'xConfiguration Alternates Cluster Name: "abbrev.example.com"',
        "xstat systemunit",
        "XCONF ALTERNATES PEER 2 ADDRESS",
        "xStatus SystemUnit Software",
        "?",
        "xstatus",
        "xs clu",
        "eventlog 3",
        "configlog 5",
        "xstatus al",
    )
    unit = status_values(answers[1])
    assert _shape(unit) <= _fixture_shape("system_unit_x8113.txt")  # the capture's tree only
    assert answers[2] == (
        f'*c xConfiguration Alternates Peer 2 Address: "{lab.peers["c1-p2"]}"\nOK\n'
    )  # just that leaf
    software = status_values(answers[3])
    assert set(software) == {k for k in unit if k.startswith("Software ")}
    assert {"xConfiguration", "xStatus", "xCommand", "eventlog", "configlog"} <= set(
        answers[4].split()
    )
    nodes = [ln for ln in answers[5].splitlines() if ln.startswith("*s ") and ln.endswith(": /")]
    assert {"*s SystemUnit: /", "*s Warnings: /", "*s Alternates: /", "*s Cluster: /"} <= set(nodes)
    assert status_values(answers[6])["Name"] == "abbrev.example.com"
    events = answers[7].splitlines()[:-1]
    assert 1 <= len(events) <= 3 and all("UTCTime=" in ln for ln in events)
    assert "abbrev.example.com" in events[-1]  # the newest line last
    changes = answers[8].splitlines()[:-1]
    assert changes and all('Event="System Configuration Changed"' in ln for ln in changes)
    assert "abbrev.example.com" in changes[-1]
    assert 'Reason: "Ambiguous' in answers[9]  # Alarm or Alternates
    assert answers[9].endswith("ERROR\n")


def test_options_node_as_the_real_tree_names_it(lab: Any) -> None:
    """The X8.11.3 capture has a top-level `Options` node and no `OptionKeys` (Table B:
    CONTRADICTED). Empty on Expressway X14.2+ (no option keys); on a VCS its entries
    (MOCK-DEFINED: `Option <n>` with Key, Description, Count)."""
    out = cli(lab, "c1-p1", "xStatus Options", "xStatus OptionKeys")
    assert "*s Options: /\n*s/end\n\nOK\n" in out  # X15.2.1: the node, empty
    assert 'Reason: "No such status path"' in out  # no OptionKeys node
    everything = cli(lab, "c1-p1", "xstatus")
    assert "*s Options: /" in everything and "OptionKeys" not in everything
    lab.control.patch_peer("c1-p1", role="VCS", version="X8.11.3")
    values = status_values(cli(lab, "c1-p1", "xStatus Options"))
    assert values["Option 1 Description"] == "H323-SIP Interworking Gateway"
    assert values["Option 3 Count"] == "10"
    assert values["Option 1 Count"] == ""  # no count: empty, never "None"


def test_server_leaves_follow_the_server_list_form(lab: Any) -> None:
    values = config_values(cli(lab, "c1-p2", "xConfiguration IP DNS", "xConfiguration NTP"))
    assert values["IP DNS Server 1 Address"] == "192.0.2.53"  # INFERRED leaf
    assert values["NTP Server 1 Address"] == "192.0.2.123"  # MOCK-DEFINED leaf
    lab.control.patch_peer("c1-p2", server_list_form="undocumented", role="VCS")
    odd = cli(lab, "c1-p2", "xConfiguration IP DNS", "xConfiguration NTP", "xStatus Options")
    assert "IP DNS Server" not in odd and "IP DNS Nameserver 1 Address" in odd
    assert "NTP Host 1 Address" in odd and "  Key 1:" in odd  # shapes exops does not read


def test_warnings_have_the_capture_shape(lab: Any) -> None:
    out = cli(lab, "c1-p1", "xConfiguration Alternates Cluster IpVersion: IPv6", "xStatus Warnings")
    block = out.split("*s Warnings: /", 1)[1]
    assert _shape(status_values(block)) == _fixture_shape("warnings_cluster.txt")
    assert 'ID: "e2b8e3d1-b731-4d7d-b606-4682a8f0c2e6"' in block  # 20007's type UUID
    assert 'Reason: "Restart required - ' in block
    assert 'State: "Unacknowledged"' in block


def _openssh(lab: Any, peer: str, data: bytes, *, tty: bool) -> bytes:
    argv = [
        "ssh",
        "-tt" if tty else "-T",
        "-p",
        str(lab.ssh_port),
        "-F",
        "/dev/null",
        "-i",
        str(lab.state_dir / "id_ed25519"),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        f"UserKnownHostsFile={lab.state_dir / 'known_hosts'}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "LogLevel=ERROR",
        f"admin@{lab.peers[peer]}",
    ]
    proc = subprocess.run(argv, input=data, capture_output=True, timeout=15, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_pty_cr_executes_echo_and_crlf_like_the_fixture(lab: Any) -> None:
    """ssh -tt: Enter is CR; the line runs, is echoed, and output lines end in CRLF."""
    out = _openssh(lab, "c1-p3", b"xStatus SystemUnit\rxconf h323 mode\rexit\r", tty=True)
    session = json.loads((FIXTURES / "pty_session.json").read_text())
    assert out.startswith(session["exchanges"][0]["received"].encode())  # welcome, no OK
    text = out.decode()
    assert "\r\nxStatus SystemUnit\r\n*s SystemUnit: /\r\n" in text  # echo, then answer
    assert '\r\nxconf h323 mode\r\n*c xConfiguration H323 Mode: "On"\r\nOK\r\n' in text
    assert "\n" not in text.replace("\r\n", "")  # every line ends in CRLF
    # CRLF from a terminal that sends both is one line end, not an empty line plus one.
    out = _openssh(lab, "c1-p3", b"xconf h323 mode\r\nexit\r\n", tty=True)
    assert out.decode().count("OK\r\n") == 1


def test_without_a_pty_lf_lines_no_echo(lab: Any) -> None:
    out = _openssh(lab, "c1-p3", b"xconf h323 mode\nexit\n", tty=False).decode()
    assert "\r" not in out
    assert "xconf h323 mode" not in out  # no echo
    assert out.endswith('*c xConfiguration H323 Mode: "On"\nOK\n')


# -- exops's SSH transport against the mock's shell, in process --------------------------


@pytest.fixture
def one_peer(tmp_path: Path) -> Iterator[tuple[Any, Any, Any]]:
    """One simulated peer's real asyncssh shell on a loopback port, in this process
    (so a test can change the peer, e.g. its welcome), and exops's target for it."""
    import asyncio
    import socket
    import threading

    import asyncssh
    from pydantic import SecretStr

    from exops.appliance.base import ConnectionTarget
    from exops.lab import ssh as mock_ssh
    from exops.lab.certs import LabCA
    from exops.lab.server import build_lab

    cfg = {"time_scale": 0.01, "subnet": "127.253", "clusters": 1, "peers": 1, "spec": {}}
    lab = build_lab({**cfg, "preset": "formed"}, "inproc-Pw-7", LabCA())
    peer = lab.peers["c1-p1"]
    with socket.socket() as s:
        s.bind((peer.ip, 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    key = asyncssh.generate_private_key("ssh-ed25519")
    conns: set[asyncssh.SSHServerConnection] = set()
    acceptor = asyncio.run_coroutine_threadsafe(
        mock_ssh.start(lab, peer, port, key, None, conns), loop
    ).result(10)
    known = tmp_path / "known_hosts"
    known.write_text(f"[{peer.ip}]:{port} {key.export_public_key().decode().strip()}\n")
    target = ConnectionTarget(
        host="c1-p1",
        hostname=peer.ip,
        ssh_port=port,
        password=SecretStr(lab.password),
        transport="ssh",
        known_hosts=str(known),
        read_timeout_s=5.0,
    )
    yield lab, peer, target

    async def stop() -> None:
        acceptor.close()
        await acceptor.wait_closed()
        for conn in list(conns):
            conn.close()
            await conn.wait_closed()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.mark.parametrize("welcome", ["plain", "ok"])
def test_exops_reads_the_mock_shell_whatever_the_welcome(
    one_peer: tuple[Any, Any, Any], welcome: str
) -> None:
    from exops.appliance.ssh import ParamikoShell, SshAppliance
    from exops.core.models import Role

    lab, peer, target = one_peer
    peer.ssh_welcome = welcome
    shell = ParamikoShell(target)  # invoke_shell: a pty, so CR, echo and CRLF
    try:
        # The first answer is the command's own, not the welcome's OK.
        assert shell.send("xConfiguration H323") == '*c xConfiguration H323 Mode: "On"\nOK\n'
    finally:
        shell.close()
    peer.saved["ipver"] = "IPv6"  # a change that needs a restart: 20007
    lab.evaluate(peer)
    app = SshAppliance(target)
    try:
        info = app.read_system()
        assert (info.role, info.version, info.platform, info.h323_enabled) == (
            Role.EXPRESSWAY_C,
            "X15.2.1",
            None,
            True,
        )
        assert (info.hardware, info.serial) == ("VMware", peer.serial)
        assert [a.id for a in app.read_alarms()] == ["20007"]
        assert app.read_settings().peers[0] == peer.ip
        assert app.read_status().local_slot == 1
    finally:
        app.close()

"""The exops.expressway Ansible collection with a real ansible-core against the real lab.

The collection is built with ``ansible-galaxy collection build`` and installed
from the tarball, as a user would; the playbook is the one docs/ansible.md
shows. What each task claims is checked against the lab's own request log:
a check-mode run sends reads only, ``changed`` means the lab saw a write.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for, last_seq, writes_since
from labkit import lock_key
from paths import REPO

from exops.state.flock import acquire

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
COLLECTION = REPO / "ansible_collections" / "exops" / "expressway"
DOC = REPO / "docs" / "ansible.md"
RECAP = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", re.M)
ADHOC = re.compile(r"^(\S+) \| (SUCCESS|CHANGED|FAILED!|UNREACHABLE!) => (\{.*?^\})", re.M | re.S)


@pytest.fixture(scope="module")
def collections(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collection built and installed from its tarball (offline)."""
    out = tmp_path_factory.mktemp("ansible")
    env = {**os.environ, "ANSIBLE_HOME": str(out / "home"), "PYTHONWARNINGS": "ignore"}
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "build", COLLECTION, "--output-path", out],
        check=True,
        capture_output=True,
        env=env,
    )
    tarball = out / "exops-expressway-0.1.0.tar.gz"
    assert tarball.exists()
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "install", tarball, "-p", out / "collections"],
        check=True,
        capture_output=True,
        env=env,
    )
    return out / "collections"


def doc_block(start: str) -> str:
    """The fenced block of docs/ansible.md whose first line is ``start``."""
    for block in re.findall(r"```\w*\n(.*?)```", DOC.read_text(), re.S):
        if block.startswith(start):
            return str(block)
    raise AssertionError(f"docs/ansible.md has no block starting {start!r}")


class Ansible:
    """ansible-playbook and ad-hoc ansible, with the lab's EXOPS_* environment."""

    def __init__(self, lab: Any, tmp_path: Path, collections: Path):
        self.lab = lab
        self.dir = tmp_path
        self.env = {
            **cli_for(lab, tmp_path).env,
            "ANSIBLE_COLLECTIONS_PATH": str(collections),
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "PYTHONWARNINGS": "ignore",  # the controller's own deprecation warnings
        }
        # The documented inventory, with this test's interpreter (the one that has exops).
        hosts = doc_block("# hosts.ini").replace("/opt/exops/venv/bin/python", sys.executable)
        (tmp_path / "hosts.ini").write_text(hosts)
        (tmp_path / "form-cluster.yml").write_text(doc_block("# form-cluster.yml"))

    def _run(self, argv: list[str | Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=600, cwd=self.dir, check=False
        )

    def playbook(
        self, *args: str, env: dict[str, str] | None = None
    ) -> tuple[dict[str, dict[str, int]], str]:
        proc = self._run(
            [BIN / "ansible-playbook", "-i", "hosts.ini", "form-cluster.yml", *args],
            env or self.env,
        )
        out = proc.stdout + proc.stderr
        recap = {
            host: {k: int(v) for k, v in (kv.split("=") for kv in counts.split())}
            for host, counts in RECAP.findall(proc.stdout)
        }
        assert recap, out
        return recap, out

    def module(self, name: str, *args: str, **options: Any) -> tuple[str, dict[str, Any], str]:
        """One task, ad hoc: (SUCCESS|CHANGED|FAILED!|UNREACHABLE!, its result, the output)."""
        proc = self._run(
            [
                BIN / "ansible",
                "-i",
                "hosts.ini",
                "c1",
                "-m",
                f"exops.expressway.{name}",
                "-a",
                json.dumps({"cluster": "c1", **options}),
                *args,
            ],
            self.env,
        )
        out = proc.stdout + proc.stderr
        found = ADHOC.search(proc.stdout)
        assert found, out
        return found.group(2), json.loads(found.group(3)), out


def test_the_documented_playbook_forms_a_cluster_then_changes_nothing(
    fresh_lab: Any, tmp_path: Path, collections: Path
) -> None:
    ans = Ansible(fresh_lab, tmp_path, collections)
    lab = fresh_lab
    password = ans.env.pop("EXOPS_PASSWORD")  # given as a module option instead (no_log)
    (tmp_path / "secret.json").write_text(json.dumps({"expressway_password": password}))
    secret = ("-e", "@secret.json")

    # Check mode: the plans as the diff, reads only.
    seq = last_seq(lab)
    recap, out = ans.playbook(*secret, "--check", "--diff", "-e", '{"peers_to_add": []}')
    assert recap["c1"]["failed"] == 0 and recap["c1"]["unreachable"] == 0, out
    assert recap["c1"]["changed"] == 1, out  # create-cluster would change
    assert "make c1-p1 a one-peer cluster" in out  # the plan, shown by --diff
    assert writes_since(lab, seq) == []

    # The real run: the cluster formed of three peers.
    seq = last_seq(lab)
    recap, out = ans.playbook(*secret, "-v")
    assert recap["c1"]["failed"] == 0, out
    assert recap["c1"]["changed"] == 2, out  # create-cluster, the add-peer loop
    assert writes_since(lab, seq) != []
    state = lab.control.state()
    members = ("c1-p1", "c1-p2", "c1-p3")
    listed = {p: sum(1 for a in state["peers"][p]["saved"]["peers"] if a) for p in members}
    assert listed == dict.fromkeys(members, 3), listed
    assert "c1 is healthy" in out
    assert password not in out  # no_log: not even in -v output

    # Again: nothing to change, changed=0, no write.
    seq = last_seq(lab)
    recap, out = ans.playbook(*secret)
    assert recap["c1"] == {**recap["c1"], "changed": 0, "failed": 0}, out
    assert writes_since(lab, seq) == []

    # Check mode with one more peer: one pending change, still reads only.
    seq = last_seq(lab)
    recap, out = ans.playbook(
        *secret, "--check", "--diff", "-e", '{"peers_to_add": ["c1-p2", "c1-p3", "c1-p4"]}'
    )
    assert recap["c1"]["changed"] == 1 and recap["c1"]["failed"] == 0, out
    assert "c1-p4" in out
    assert writes_since(lab, seq) == []

    # The Ansible runs (the two real ones; check mode journals nothing) are in the
    # journal the command line reads.
    runs = cli_for(lab, tmp_path).json("history")["runs"]
    assert sorted(r["runbook"] for r in runs) == ["add-peer"] * 4 + ["create-cluster"] * 2


def test_failures_locks_plans_and_unreachable_clusters(
    formed_lab: Any, tmp_path: Path, collections: Path
) -> None:
    ans = Ansible(formed_lab, tmp_path, collections)
    lab = formed_lab
    seq = last_seq(lab)

    # A restart without allow_restart: refused before any change, exit 2.
    kind, res, _ = ans.module("runbook", runbook="restart", params={"peer": "c1-p2"})
    assert kind == "FAILED!" and res["exit_code"] == 2
    assert res["msg"] == "this plan restarts c1-p2; set allow_restart: true to run it"

    # Bad input: exops's one line and exit code.
    kind, res, _ = ans.module("runbook", runbook="restart", params={"peer": "nope"})
    assert kind == "FAILED!" and res["exit_code"] == 2 and "nope" in res["msg"]
    assert "Traceback" not in res["msg"]

    # The lock is the one the command line takes: held, the task fails with exit 4.
    locks = tmp_path / "exops-state" / "locks"
    with acquire(lock_key(formed_lab, "c1"), runbook="restart", timeout_s=0, lock_dir=locks):
        kind, res, _ = ans.module("runbook", runbook="restart", allow_restart=True)
    assert kind == "FAILED!" and res["exit_code"] == 4 and "locked" in res["msg"], res
    assert writes_since(lab, seq) == []

    # status and check: read only, never changed.
    kind, res, _ = ans.module("status")
    assert kind == "SUCCESS" and res["verdict"] == "healthy" and not res["changed"]
    kind, res, _ = ans.module("check")
    assert kind == "SUCCESS" and res["passed"] and res["exit_code"] == 0
    assert writes_since(lab, seq) == []

    # A saved plan: check mode compares and sends no write; then applied, changed.
    cli = cli_for(lab, tmp_path)
    plan = tmp_path / "plan.json"
    cli("restart", "-c", "c1", "--peer", "c1-p2", "--dry-run", "--out", str(plan))
    kind, res, out = ans.module("apply_plan", "--check", "--diff", plan_file=str(plan))
    assert kind == "CHANGED" and res["status"] == "planned", out
    assert "restart c1-p2" in out
    assert writes_since(lab, seq) == []
    kind, res, out = ans.module("apply_plan", plan_file=str(plan), allow_restart=True)
    assert kind == "CHANGED" and res["status"] == "ok" and res["exit_code"] == 0, out
    assert [r["peer"] for r in lab.control.metrics()["restarts"]] == ["c1-p2"]
    assert res["run_id"] in {r["run_id"] for r in cli.json("history")["runs"]}

    # One peer down: degraded, failed (exops status exits 1), not unreachable.
    lab.control.inject("unreachable", peer="c1-p3")
    kind, res, _ = ans.module("status")
    assert kind == "FAILED!" and res["exit_code"] == 1 and res["verdict"] != "healthy"

    # No peer answers: Ansible's unreachable, for every module.
    for peer in ("c1-p1", "c1-p2"):
        lab.control.inject("unreachable", peer=peer)
    seq = last_seq(lab)
    for name, options in (
        ("status", {}),
        ("check", {}),
        ("runbook", {"runbook": "restart", "allow_restart": True}),
    ):
        kind, res, out = ans.module(name, **options)
        assert kind == "UNREACHABLE!", out
        assert res["unreachable"] is True and res["msg"], res
    assert writes_since(lab, seq) == []


def _argument_spec(module: str) -> set[str]:
    """The option names a module accepts: the shared COMMON_ARGS and its own."""
    import ast

    utils = ast.parse((COLLECTION / "plugins" / "module_utils" / "exops.py").read_text())
    common = next(
        n.value
        for n in utils.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "COMMON_ARGS"
    )
    assert isinstance(common, ast.Call)
    names = {k.arg for k in common.keywords if k.arg}
    source = ast.parse((COLLECTION / "plugins" / "modules" / f"{module}.py").read_text())
    for node in ast.walk(source):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "update"
        ):
            names |= {k.arg for k in node.keywords if k.arg}
    return names


@pytest.mark.parametrize("module", ["runbook", "apply_plan", "status", "check"])
def test_each_module_documents_exactly_the_options_it_takes(
    module: str, collections: Path, tmp_path: Path
) -> None:
    """What ansible-test's validate-modules checks first (ansible-test itself cannot
    run offline: it downloads a pip bootstrap script for each of its virtualenvs)."""
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_HOME": str(tmp_path / "home"),
        "PYTHONWARNINGS": "ignore",
    }
    proc = subprocess.run(
        [BIN / "ansible-doc", "--json", f"exops.expressway.{module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(proc.stdout)[f"exops.expressway.{module}"]
    options = doc["doc"]["options"]
    assert set(options) == _argument_spec(module)
    assert all(o.get("description") for o in options.values())
    assert doc["examples"] and doc["return"]
    assert options["password"]["type"] == "str" and "Never logged" in " ".join(
        options["password"]["description"]
    )

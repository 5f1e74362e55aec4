"""Benchmark 1: fleet status over HTTPS, exops vs an Ansible playbook vs the floor.

    .venv/bin/python bench/fleet_status.py [--clusters 50] [--peers 6] [--skip-ansible]

Starts a mock lab (formed clusters), then runs, side by side in one run:
`exops status --json`; an Ansible playbook making the same reads with
ansible.builtin.uri (forks 50); and a minimal asyncio httpx script (the
floor). Prints wall, CPU and peak memory of each and the ratios.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from common import PY, ROOT, lab, machine, measure
from paths import READS

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  connection: local
  tasks:
    - name: read what exops status reads
      ansible.builtin.uri:
        url: "https://{{ ansible_host }}:{{ https_port }}{{ item }}"
        url_username: admin
        url_password: "{{ lookup('env', 'EXOPS_PASSWORD') }}"
        force_basic_auth: true
        ca_path: "{{ lookup('env', 'EXOPS_CA_BUNDLE') }}"
        validate_certs: true
        return_content: true
      loop: READS_PLACEHOLDER
""".replace("READS_PLACEHOLDER", str(list(READS)))


def ansible_files(inventory: Path, work: Path) -> tuple[Path, Path]:
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    lines = ["[all]"]
    for name, h in hosts.items():
        lines.append(f"{name} ansible_host={h['hostname']} https_port={h.get('port', 443)}")
    inv = work / "hosts.ini"
    inv.write_text("\n".join(lines) + "\n")
    play = work / "status.yml"
    play.write_text(PLAYBOOK)
    return inv, play


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--peers", type=int, default=6)
    parser.add_argument("--skip-ansible", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="exops-bench-"))
    print(
        f"fleet status: {args.clusters} clusters x {args.peers} peers, {len(READS)} reads per peer"
    )
    print(f"machine: {machine()}")
    with lab(
        work / "lab", clusters=args.clusters, peers=args.peers, time_scale=1.0, preset="formed"
    ) as env:
        exops = [str(ROOT / ".venv" / "bin" / "exops"), "status", "--json"]
        if not Path(exops[0]).exists():
            exops = [PY, "-m", "exops", "status", "--json"]
        results = [measure("exops status --json", exops, env)]
        results.append(
            measure("floor (asyncio httpx)", [PY, str(ROOT / "bench" / "floor_status.py")], env)
        )
        playbook = shutil.which("ansible-playbook") or str(Path(PY).parent / "ansible-playbook")
        if not args.skip_ansible and Path(playbook).exists():
            inv, play = ansible_files(Path(env["EXOPS_INVENTORY"]), work)
            env_a = {
                **env,
                "ANSIBLE_HOST_KEY_CHECKING": "False",
                "ANSIBLE_STDOUT_CALLBACK": "null",
                "ANSIBLE_PYTHON_INTERPRETER": PY,
            }
            results.append(
                measure(
                    "ansible-playbook uri (forks 50)",
                    [playbook, "-i", str(inv), "-f", "50", str(play)],
                    env_a,
                )
            )
        elif not args.skip_ansible:
            print("ansible-playbook not found: pip install '.[bench]'")
    for r in results:
        print(r.line())
    ex, floor = results[0], results[1]
    print(f"exops / floor wall: {ex.wall_s / floor.wall_s:.2f}x (target <= 2x)")
    print(f"exops peak memory: {ex.peak_mib:.0f} MiB (target < 250 MiB)")
    if len(results) > 2:
        print(f"ansible / exops wall: {results[2].wall_s / ex.wall_s:.1f}x (target >= 30x)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

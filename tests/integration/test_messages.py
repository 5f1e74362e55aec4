"""Messages that pointed the wrong way (issue 30), on the real CLI and lab."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clikit import cli_for
from pausekit import run_paused

pytestmark = pytest.mark.integration


def test_enforce_tls_stopped_by_a_certificate_names_the_certificate(
    lab_factory: Any, tmp_path: Path
) -> None:
    """Between setting Enforce and the restarts, c1-p2's certificate is replaced by
    one that does not name it: the peers refuse each other after the primary's
    restart. The failure names that certificate and what it fails for, not only
    "run exops status, then re-run"."""
    lab = lab_factory(clusters=1, peers=3, time_scale=0.004, preset="formed")
    cli = cli_for(lab, tmp_path, EXOPS_SETTLE_TIMEOUT="6", EXOPS_RESTART_TIMEOUT="30")
    cli("convert-fqdn", "-c", "c1", "--yes")
    plan = cli.json("enforce-tls", "-c", "c1", "--dry-run")
    n = next(i for i, a in enumerate(plan["actions"], 1) if a["kind"] == "restart")

    def replaced() -> None:
        lab.control.patch_peer("c1-p2", cert="wrong_name")

    out = run_paused(cli, tmp_path, ("enforce-tls", "-c", "c1"), n, replaced)
    assert out.returncode == 1, (out.stdout[-3000:], out.stderr[-3000:])
    fqdn = lab.fqdns["c1-p2"]
    line = out.stderr.strip().splitlines()[-1]
    assert f"the certificate of c1-p2 (CN {fqdn}, names wrong-{fqdn}" in line, line
    assert f"fails for {fqdn}: {fqdn} not in SANs" in line, line
    assert "replace the certificate named above" in out.stdout, out.stdout[-3000:]

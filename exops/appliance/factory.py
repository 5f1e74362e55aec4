"""Pick the transport for each operation: REST where the real API has it, SSH otherwise.

``transport: rest`` uses REST for everything it has (commands still go over
SSH: REST has no form for them); ``ssh`` uses the CLI for everything it has
(certificates still come from REST); logs come from REST ``eventlog`` where the
box has it (the lab) and from ``eventlog N`` over SSH otherwise; ``auto`` uses the cluster
database REST when it is switched on and falls back to the CLI when it is off
(the X14.2+ default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from exops.appliance.base import Appliance, Command, ConnectionTarget, Write
from exops.appliance.rest import RestAppliance
from exops.core.errors import ApplianceError, UsageError
from exops.core.models import Alarm, Certificate, ClusterSettings, ClusterStatus, SystemInfo

if TYPE_CHECKING:
    from exops.appliance.ssh import SshAppliance


class RoutedAppliance:
    """One peer; each operation goes to the transport that serves it."""

    def __init__(
        self,
        target: ConnectionTarget,
        *,
        rest: RestAppliance | None = None,
        ssh: SshAppliance | None = None,
    ):
        if target.transport not in ("rest", "ssh", "auto"):
            raise UsageError(
                f"{target.host}: transport {target.transport!r} is not rest, ssh or auto"
            )
        self.target = target
        self.host = target.host
        self.rest = rest or RestAppliance(target)
        self._ssh = ssh

    @property
    def ssh(self) -> SshAppliance:
        """The CLI transport, built on first use (paramiko is imported only then)."""
        if self._ssh is None:
            from exops.appliance.ssh import SshAppliance

            self._ssh = SshAppliance(self.target, rest=self.rest)
        return self._ssh

    def _cluster(self) -> Appliance:
        """The transport for cluster settings, status and alarms."""
        if self.target.transport == "ssh":
            return self.ssh
        if self.target.transport == "rest" or self.rest.cdb_available():
            return self.rest
        return self.ssh

    @property
    def transport_name(self) -> str:
        if self.target.transport == "ssh":
            return "ssh"
        if self.target.transport == "rest":
            return "rest"
        return "rest" if self.rest._cdb is not False else "rest+ssh"

    def read_settings(self) -> ClusterSettings:
        return self._cluster().read_settings()

    def read_status(self) -> ClusterStatus:
        return self._cluster().read_status()

    def read_alarms(self) -> tuple[Alarm, ...]:
        return self._cluster().read_alarms()

    def read_uptime(self) -> int | None:
        if self.target.transport == "ssh":
            return self.ssh.read_uptime()
        return self.rest.read_uptime()

    @property
    def last_unknown(self) -> dict[str, str]:
        """What the last ``read_system`` could not learn: ``"system.role"`` -> why.

        ``facts.py`` copies it into ``PeerFacts.unknown`` (values that are None
        in the SystemInfo just read). Empty after an SSH read (the CLI reports
        its own gaps by raising).
        """
        if self.target.transport == "ssh":
            return dict(getattr(self.ssh, "last_unknown", {}))
        return dict(self.rest.last_unknown)

    def read_system(self) -> SystemInfo:
        if self.target.transport == "ssh":
            return self.ssh.read_system()
        system = self.rest.read_system()
        if system.h323_enabled is None:  # H.323 mode has no REST form without the CDB
            system = system.model_copy(update={"h323_enabled": self.ssh.read_h323()})
            self.rest.last_unknown.pop("system.h323_enabled", None)
        return system

    def read_certificate(self) -> tuple[Certificate | None, tuple[str, ...]]:
        return self.rest.read_certificate()

    def read_log(self, lines: int = 500) -> list[str]:
        """REST ``eventlog`` (a MOCK-DEFINED path: the lab's); when the box has no such
        resource (HTTP 404, as a real one is expected to answer), ``eventlog N`` over
        SSH (INFERRED), whatever the transport."""
        try:
            return self.rest.read_log(lines)
        except ApplianceError as exc:
            if exc.status_code != 404:
                raise
            return self.ssh.read_log(lines)

    def write(self, writes: Sequence[Write]) -> None:
        self._cluster().write(writes)

    def restart(self) -> None:
        if self.target.transport == "ssh":
            self.ssh.restart()
        else:
            self.rest.restart()
            if self._ssh is not None:  # its session dies with the reboot
                self._ssh.close()

    def command(self, command: Command) -> str:
        return self.ssh.command(command)

    def accepts_connections(self) -> bool:
        """``PortProbe``: the port ``read_uptime`` uses (SSH with the SSH transport,
        else HTTPS) accepts a TCP connection."""
        if self.target.transport == "ssh":
            return self.ssh.accepts_connections()
        return self.rest.accepts_connections()

    def probe(self) -> float:
        return self.ssh.probe() if self.target.transport == "ssh" else self.rest.probe()

    def close(self) -> None:
        self.rest.close()
        if self._ssh is not None:
            self._ssh.close()

"""A throwaway PostgreSQL server for the tests and the benchmark.

Finds ``initdb``/``pg_ctl`` (PATH, then /usr/lib/postgresql/*/bin), creates a
cluster in a temporary directory as an unprivileged user (initdb refuses
root: as root, the system user ``exops-pg`` is created if missing and the
commands run through ``runuser``), listens on 127.0.0.1 only on a free port,
and makes a password-authenticated role ``exops`` owning database ``exops``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_USER = "exops-pg"
ROLE = "exops"
PASSWORD = "exops-test-Pw-4f9c"


def find_bin_dir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None."""
    found = shutil.which("initdb")
    candidates = [Path(os.path.realpath(found)).parent] if found else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for c in candidates:
        if all((c / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return c
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_pg(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str], timeout: float = 120) -> None:
    done = subprocess.run(_as_pg(cmd), check=False, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): {done.stderr or done.stdout}")


def _ensure_user() -> None:
    if os.geteuid() != 0:
        return
    if subprocess.run(["id", "-u", PG_USER], check=False, capture_output=True).returncode != 0:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=True,
            capture_output=True,
        )


@dataclass(frozen=True)
class Server:
    url: str  # postgresql://exops@127.0.0.1:PORT/exops (no password)
    admin_url: str  # the superuser over the unix socket (trust)
    password: str
    port: int
    data: Path

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def url_for(self, db: str) -> str:
        return self.url.rsplit("/", 1)[0] + "/" + db


@contextlib.contextmanager
def running_server(tmp_root: Path | None = None, *, durable: bool = False) -> Iterator[Server]:
    """Start a server for the block; stopped and removed at its end. ``durable``
    keeps fsync on (the benchmark); the tests run without it.

    Raises:
        FileNotFoundError: no PostgreSQL server binaries on this machine.
    """
    bins = find_bin_dir()
    if bins is None:
        raise FileNotFoundError("no initdb/pg_ctl/postgres (PATH, /usr/lib/postgresql/*/bin)")
    _ensure_user()
    base = Path(tempfile.mkdtemp(prefix="exops-pg-", dir=tmp_root))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    pwfile = base / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(base, PG_USER)
        shutil.chown(sock, PG_USER)
        shutil.chown(pwfile, PG_USER)
    os.chmod(base, 0o700)
    port = _free_port()
    _run(
        [
            str(bins / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ]
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sock}"
        " -c max_connections=100"
    )
    if not durable:
        options += " -c fsync=off -c full_page_writes=off"
    log = base / "server.log"
    try:
        subprocess.run(
            _as_pg(
                [
                    str(bins / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
        admin_url = f"postgresql://postgres@/postgres?host={sock}&port={port}"
        server = Server(
            url=f"postgresql://{ROLE}@127.0.0.1:{port}/exops",
            admin_url=admin_url,
            password=PASSWORD,
            port=port,
            data=data,
        )
        server.admin(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
        server.admin(f"CREATE DATABASE exops OWNER {ROLE}")
        yield server
    finally:
        subprocess.run(
            _as_pg([str(bins / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)

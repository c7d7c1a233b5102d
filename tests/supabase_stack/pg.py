"""A throwaway PostgreSQL cluster for one test session.

PostgreSQL refuses to run as root ("initdb: error: cannot be run as root"), and CI runs as root.
So when we are root the cluster is created and run as the unprivileged `postgres` system user
(created by the Debian `postgresql-15` package; `nobody` as a fallback) through `runuser -u`, in a
fresh directory under the system temp dir chowned to that user (pytest's own tmp dirs are 0700 and
root-owned, so that user could not reach them). As a normal user it just runs as that user.
fsync is off: the data is thrown away at the end of the session.

As on a Supabase project, the cluster's superuser is `supabase_admin`; `postgres` is an ordinary
role that supabase_emulation.sql creates, and the migrations run as it (see server.py).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "supabase_admin"


def find_pg_bin() -> Path:
    """The directory holding initdb/pg_ctl: PATH first, then Debian's versioned layout."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found; install them (Debian: apt-get install -y "
            "postgresql-15)"
        )
    return Path(candidates[0]).parent


#: Ports handed out by `free_port`, held until the test process exits.
_HELD: list[socket.socket] = []


def free_port() -> int:
    """A port held for this process, not freed for a server to bind seconds later (initdb runs in
    between, and anything on the machine could take a freed port meanwhile): a bound, never
    listening SO_REUSEADDR socket refuses connections and keeps other programs' bind(0) off it,
    while PostgreSQL and aiohttp, which set SO_REUSEADDR too, can still listen on it."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    _HELD.append(holder)
    return holder.getsockname()[1]


def _run_as() -> str | None:
    """The unprivileged account to run the server as, or None when we already are one."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged 'postgres' or 'nobody' user exists")


@dataclass
class PgCluster:
    root: Path
    port: int
    bin_dir: Path
    user: str | None
    _started: bool = field(default=False, repr=False)

    @classmethod
    def create(cls) -> PgCluster:
        user = _run_as()
        root = Path(tempfile.mkdtemp(prefix="automata-pg-"))
        if user:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        cluster = cls(root=root, port=free_port(), bin_dir=find_pg_bin(), user=user)
        cluster._cmd(
            "initdb", "-D", str(cluster.data_dir), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync",
        )
        return cluster

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def conninfo(self, user: str = SUPERUSER, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={user} dbname={dbname}"

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        self._cmd(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"), "-w",
            "-t", "30", "-o", options, "start",
        )
        self._started = True

    def stop(self) -> None:
        if self._started:
            self._cmd("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
            self._started = False

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _cmd(self, tool: str, *args: str) -> None:
        argv = [str(self.bin_dir / tool), *args]
        if self.user:
            argv = ["runuser", "-u", self.user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=self.root, check=False)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr}\n{tail}")

"""Throwaway PostgreSQL clusters (``initdb`` + ``pg_ctl``) for the load benchmark, the crash test and the read
replica test — never the machine's own cluster.

Where they live: ``GRIDMAP_CLUSTER_DIR``, by default ``/var/tmp/gridmap-clusters/<key of this clone's path>``.
Not inside the clone: when started as root the server runs as the ``postgres`` user, who must be able to enter
every folder above its data directory, and a clone may sit where it cannot (``/root/...``). Each clone has a
folder of its own, so two clones never remove each other's clusters; ``gridmap bench --clean`` removes it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]


def _newest_pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


def _default_cluster_dir() -> Path:
    clone = hashlib.sha1(str(ROOT).encode()).hexdigest()[:12]
    return Path("/var/tmp/gridmap-clusters") / clone


class ClusterSettings(BaseSettings):
    """Where throwaway clusters are made and with which PostgreSQL binaries."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", env_file=".env", extra="ignore")

    cluster_dir: Path = Field(default_factory=_default_cluster_dir,
                              description="folder of throwaway clusters; the postgres user must be able to reach it")
    pg_bin: Path = Field(default_factory=_newest_pg_bin, description="folder of initdb, pg_ctl, pg_basebackup")


def cluster_root() -> Path:
    """This clone's cluster folder, created if missing. As root, checks that the ``postgres`` user can enter it
    (and so every folder above it) and says what to do if not."""
    root = ClusterSettings().cluster_dir
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    if os.geteuid() == 0 and subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(root)]).returncode:
        raise PermissionError(f"用户 postgres 无法进入 {root} (the postgres user cannot enter {root}); set "
                              "GRIDMAP_CLUSTER_DIR to a folder it can reach, e.g. under /var/tmp")
    return root


PG_BIN = ClusterSettings().pg_bin


class TempCluster:
    """A throwaway PostgreSQL cluster in a folder of :func:`cluster_root` (or ``directory``) on a free port,
    run as the ``postgres`` user when started as root."""

    def __init__(self, port: int | None = None, *, directory: Path | None = None, prefix: str = "pg-") -> None:
        from scripts.bench.common import free_port

        self.port = port or free_port()
        if directory is None:
            self.dir = Path(tempfile.mkdtemp(prefix=prefix, dir=cluster_root()))
        else:
            self.dir = directory
            self.dir.mkdir(parents=True)
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the PostgreSQL program ``args[0]`` (from ``pg_bin``) as the cluster's owner."""
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, cwd=self.dir)

    def init(self) -> None:
        """``initdb`` with trust auth for the loopback only (replication connections included)."""
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")

    def copy_from(self, template: Path) -> None:
        """Use a copy of a stopped cluster's data directory instead of ``initdb`` (owner and modes kept)."""
        subprocess.run(["cp", "-a", str(template), str(self.data)], check=True)

    def base_backup_of(self, primary: TempCluster) -> None:
        """Make this cluster a streaming standby of ``primary``: ``pg_basebackup -R`` (writes
        ``standby.signal`` and ``primary_conninfo``) with the WAL streamed during the copy."""
        self.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "-D",
                 str(self.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")

    def start(self, *options: str) -> None:
        """Start and wait until it accepts connections; ``options`` are more ``-c name=value`` settings."""
        opts = " ".join((f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c max_connections=200 "
                         "-c shared_buffers=128MB", *options))
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start")

    def crash(self) -> None:
        """Stop at once, as a crash would (``-m immediate``): recovery replays the WAL on the next start."""
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        """Stop cleanly, if running."""
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def url(self, db: str) -> str:
        """SQLAlchemy URL of database ``db`` on this cluster."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{db}"

    def remove(self) -> None:
        """Stop and delete the data directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

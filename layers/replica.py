"""Reads from a PostgreSQL streaming replica, writes to the primary — PostgreSQL's own replication, nothing
home-made.

Set ``GRIDMAP_DATABASE_READ_URL`` to a hot standby of the primary in ``GRIDMAP_DATABASE_URL`` (``pg_basebackup -R``
or any managed read replica). Then:

- **writes**, and every read that must see them, use the primary (the API's ``SessionDep``);
- **read-heavy endpoints** (locate, layers, OGC, maps, tiles, public lists; the API's ``ReadSessionDep``) use
  :meth:`Databases.read_session`, which picks the replica unless
  - it failed to connect in the last ``replica_retry_s`` seconds (reads then go to the primary, and the replica is
    tried again after that — so a stopped replica costs one connect attempt per process per period, bounded by
    ``connect_timeout_s``), or
  - the caller wrote recently and the replica has not yet replayed that write (**read-your-writes**): after each
    successful write the API hands the writer the primary's WAL position (:meth:`Databases.write_position`, a
    cookie); a read that brings one is served by the replica only if ``pg_last_wal_replay_lsn()`` has reached it.

A lagging replica therefore never hides a writer's own change from the writer, and never slows writes; other
readers see the change as soon as the replica replays it (watch ``pg_stat_replication`` for lag).

The "replica is down" mark is per process on purpose: it is each process's own observation of its own
connections, not shared data.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from enum import Enum

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from layers.db import make_engine, make_sessionmaker, make_statement_sessionmaker
from layers.settings import DatabaseSettings

log = logging.getLogger("gridmap.db")
_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
_CAUGHT_UP = text("SELECT pg_is_in_recovery() AND pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)")
_WRITE_POSITION = text("SELECT pg_current_wal_lsn()::text")


class ReadSource(str, Enum):
    """Which server a read session talks to."""

    REPLICA = "replica"
    PRIMARY = "primary"


def parse_position(value: str | None) -> str | None:
    """A WAL position (``16/B374D848``) as sent back by a client, or ``None`` if absent or malformed."""
    return value if value and _LSN.match(value) else None


class Databases:
    """The primary's engine and sessions and, when configured, the read replica's; decides where a read goes."""

    def __init__(self, settings: DatabaseSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        # No pre-ping on the primary: a round trip on every checkout of the service's busiest calls. A pooled
        # connection that died with a restart fails its request (503 with Retry-After, errors.py), and
        # SQLAlchemy then replaces every connection the pool held before; the replica keeps pre-ping, which is
        # how a read finds the replica down and goes to the primary instead.
        self.primary: Engine = make_engine(settings, pool_pre_ping=False)
        self.primary_sessions: sessionmaker[Session] = make_sessionmaker(self.primary)
        self.primary_statement_sessions = make_statement_sessionmaker(self.primary)
        replica = settings.replica_settings()
        self.replica: Engine | None = make_engine(replica) if replica else None
        self.replica_sessions = make_sessionmaker(self.replica) if self.replica else None
        self.retry_s = settings.replica_retry_s
        self.clock = clock
        self._down_until = 0.0
        self._lock = threading.Lock()

    @property
    def has_replica(self) -> bool:
        """True when reads may go to a replica."""
        return self.replica is not None

    def replica_down(self) -> bool:
        """True while reads avoid the replica after a failure."""
        return self.clock() < self._down_until

    def read_session(self, *, after: str | None = None, autocommit: bool = False) -> tuple[Session, ReadSource]:
        """A read-only session and where it reads: the replica if configured, up and (given ``after``, the
        caller's last write position) caught up to ``after``; otherwise the primary. Read-only on the primary
        too, so a write slipped into a read endpoint fails in every test, not only behind a replica.

        ``autocommit`` (the primary only): each statement runs on its own (no ``BEGIN``/``ROLLBACK`` round trips,
        no read-only transaction), and the session connects on its first statement — for a hot route that reads
        in one statement or none (``GET /api/v1/locate`` when its caches are current)."""
        if self.replica_sessions is not None and not self.replica_down():
            session = self._replica_session(after)
            if session is not None:
                return session, ReadSource.REPLICA
        if autocommit:  # connects on its first statement (a request served from caches needs none)
            return self.primary_statement_sessions(), ReadSource.PRIMARY
        session = self.primary_sessions()
        try:
            session.connection(execution_options={"postgresql_readonly": True})
        except Exception:
            session.close()
            raise
        return session, ReadSource.PRIMARY

    def _replica_session(self, after: str | None) -> Session | None:
        """A session on the replica if it answers and has replayed ``after``; ``None`` otherwise."""
        session = self.replica_sessions()
        try:
            if after is None:
                session.connection()  # checks the pooled connection (pre-ping) or connects
            elif not session.scalar(_CAUGHT_UP, {"lsn": after}):
                session.close()  # behind the caller's own write
                return None
        except DBAPIError as exc:  # refused, shutting down, reset: the replica is not there
            session.close()
            self._mark_down(exc)
            return None
        return session

    def read_status(self) -> dict[str, object]:
        """Where reads go now and whether that server is a standby (``pg_is_in_recovery()`` seen through the read
        path): ``{"from": "replica"|"primary", "in_recovery": bool, "replica": "none"|"up"|"down"}``."""
        if not self.has_replica:
            return {"from": ReadSource.PRIMARY.value, "replica": "none"}
        session, source = self.read_session()
        try:
            in_recovery = bool(session.scalar(text("SELECT pg_is_in_recovery()")))
        finally:
            session.close()
        return {"from": source.value, "in_recovery": in_recovery, "replica": "down" if self.replica_down() else "up"}

    def write_position(self) -> str:
        """The primary's current WAL position: every write committed so far is at or before it."""
        with self.primary.connect() as conn:
            return conn.execute(_WRITE_POSITION).scalar_one()

    def _mark_down(self, exc: Exception) -> None:
        with self._lock:
            first = not self.replica_down()
            self._down_until = self.clock() + self.retry_s
        if first:
            log.warning("read replica unreachable, reading from the primary for %.0f s: %s", self.retry_s,
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.primary.dispose()
        if self.replica is not None:
            self.replica.dispose()

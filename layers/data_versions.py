"""One way for every per-process cache to know that its data changed, in every process.

A cache keeps what is slow to build (the point locator, the roster audit, a plan's validation problems, a
type's uncovered buildings, a street graph) in the memory of one API process. Several processes — workers of
one server, or servers behind a load balancer — serve the same database, and anyone may write to it: another
worker, the CLI, QGIS, psql. So a cache never trusts what its own process did; before each use it asks the
database, in one indexed read of the small ``data_versions`` table, for the version of every table it was built
from, and rebuilds when one moved.

The versions are kept by PostgreSQL itself (migration 0611): a statement-level trigger on each watched table
notes that the transaction changed it, and at commit the table gets a new number. Any insert, update (a
geometry edited in place, a ``valid_to`` set), delete or truncate counts; rolled-back work does not. A
transaction that has changed a watched table and not yet committed is told so (``dirty``): its caches build
afresh from what it sees and keep nothing.

Why not LISTEN/NOTIFY: a process would need a listening connection and thread, could miss notices while it
reconnects, and a process reading from a streaming replica would hear of a change before the replica has it.
The version rows travel with the data (to replicas too), cost one round trip of ~0.1 ms, and need no thread.

Use::

    _LOCATORS = VersionedCache("locator", ["grid_plans", "grids", "admin_areas", "street_responsibilities"])
    locator = _LOCATORS.get(session, (plan_id, today), lambda: build_locator(session, plan_id, today))

A table a cache reads must be watched: a migration runs ``SELECT data_version_watch('<table>')``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:  # (a command that reads versions through the driver alone never imports SQLAlchemy)
    from sqlalchemy.orm import Session

T = TypeVar("T")

# Sent through the driver's cursor: SQLAlchemy's statement and row machinery would cost more than the query.
_VERSIONS_SQL = """
    SELECT v.table_name, v.version,
           EXISTS (SELECT 1 FROM data_version_marks k
                   WHERE k.txid = pg_current_xact_id_if_assigned() AND k.table_name = v.table_name)
    FROM data_versions v WHERE v.table_name = ANY (%(tables)s)"""


class UnwatchedTable(LookupError):
    """A cache depends on a table that has no version trigger (add a migration that watches it)."""


@dataclass(frozen=True)
class Versions:
    """The versions of some tables as one transaction sees them.

    ``stamp``: the versions, in the order asked; ``dirty``: this transaction has changed one of the tables and
    not committed yet (the versions do not show it).
    """

    stamp: tuple[int, ...]
    dirty: bool

    def text(self) -> str:
        """The stamp as a short string, to store beside something derived (e.g. subdivided grid pieces)."""
        return "v" + ".".join(str(v) for v in self.stamp)


def table_versions(session: Session, tables: Sequence[str]) -> Versions:
    """The current version of each of ``tables`` (one query); :class:`UnwatchedTable` if one is not watched.

    Pending ORM changes of ``session`` are flushed first, so that they count as this transaction's changes."""
    session.flush()
    return driver_table_versions(session.connection().connection, tables)


def driver_table_versions(connection, tables: Sequence[str]) -> Versions:
    """:func:`table_versions` on a driver (DBAPI) connection."""
    cursor = connection.cursor()
    try:
        cursor.execute(_VERSIONS_SQL, {"tables": list(tables)})
        rows = {name: (version, dirty) for name, version, dirty in cursor.fetchall()}
    finally:
        cursor.close()
    missing = [t for t in tables if t not in rows]
    if missing:
        raise UnwatchedTable(f"tables without a data version trigger: {missing}; a migration must run "
                             f"SELECT data_version_watch('<table>') for each")
    return Versions(tuple(rows[t][0] for t in tables), any(rows[t][1] for t in tables))


class _SharedRead:
    """One versions read serving every request of a process that asked while it was waiting to start.

    A request that arrives takes the next read to *start* after its arrival (so it never gets versions older than
    itself): if none is running it runs one; if one is running — started before it came — it waits for that one to
    end and for the next, which one of the waiters runs for all of them. Under load one round trip answers a
    whole batch of requests; alone, a request pays its one round trip as before."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._started = 0
        self._done = 0
        self._busy = False
        self._rows: dict[str, int] = {}

    def read(self, fetch: Callable[[], dict[str, int]]) -> dict[str, int]:
        with self._cond:
            ticket = self._started + 1
            while True:
                if self._done >= ticket:
                    return self._rows
                if not self._busy:
                    self._busy = True
                    self._started += 1
                    run = self._started
                    break
                self._cond.wait()
        try:
            rows = fetch()
        except BaseException:
            with self._cond:  # the waiters try again (one of them reads)
                self._busy = False
                self._cond.notify_all()
            raise
        with self._cond:
            self._rows, self._done, self._busy = rows, run, False
            self._cond.notify_all()
        return rows


_SHARED: dict[str, _SharedRead] = {}
_SHARED_LOCK = threading.Lock()
_ALL_VERSIONS_SQL = "SELECT table_name, version FROM data_versions"


def _shared_versions(session: Session) -> dict[str, int]:
    db = _database(session)
    shared = _SHARED.get(db)
    if shared is None:
        with _SHARED_LOCK:
            shared = _SHARED.setdefault(db, _SharedRead())

    def fetch() -> dict[str, int]:
        cursor = session.connection().connection.cursor()
        try:
            cursor.execute(_ALL_VERSIONS_SQL)
            return dict(cursor.fetchall())
        finally:
            cursor.close()

    return shared.read(fetch)


def versions_of(session: Session, *caches: VersionedCache, clean: bool = False) -> list[Versions]:
    """The versions of the tables of each of ``caches``, read in one query (one round trip for a request that
    uses several caches); pass each to its cache's :meth:`VersionedCache.get` as ``seen``.

    ``clean``: the caller knows its transaction has written nothing (a read route, an intake before it writes):
    then the read is shared with the process's other requests (:class:`_SharedRead`) — a request that finds
    one waiting to start needs no round trip of its own."""
    tables = list(dict.fromkeys(t for c in caches for t in c.tables))
    if clean:
        rows = session.info.get(_PINNED) or _shared_versions(session)
        missing = [t for t in tables if t not in rows]
        if missing:
            raise UnwatchedTable(f"tables without a data version trigger: {missing}; a migration must run "
                                 f"SELECT data_version_watch('<table>') for each")
        return [Versions(tuple(rows[t] for t in c.tables), False) for c in caches]
    both = table_versions(session, tables)
    if both.dirty:  # which cache's tables this transaction changed is not known: each asks again
        return [c.versions(session) for c in caches]
    at = dict(zip(tables, both.stamp))
    return [Versions(tuple(at[t] for t in c.tables), False) for c in caches]


def pin_versions(session: Session, versions: dict[str, int] | None = None) -> None:
    """Use one read of the versions for every clean :func:`versions_of` of ``session`` that follows — ``versions``
    (``{table: version}`` read by the caller in a statement of its own) or read now. For a batch of reports
    stored together: the read starts after each of them arrived, so none gets versions older than itself. Only
    for a session whose caches' tables it does not change."""
    session.info[_PINNED] = versions if versions is not None else _shared_versions(session)


_PINNED = "gridmap_pinned_versions"


def _database(session: Session) -> str:
    """Which database a session talks to (caches of different databases never mix)."""
    url = session.get_bind().url
    kept = _URL_TEXT.get(id(url))
    if kept is None or kept[0] is not url:  # (the URL is kept with its text: its id is not reused meanwhile)
        if len(_URL_TEXT) >= 64:  # a process that makes many engines (tests) keeps the latest only
            _URL_TEXT.clear()
        kept = _URL_TEXT[id(url)] = (url, url.render_as_string(hide_password=True))
    return kept[1]


_URL_TEXT: dict[int, tuple[object, str]] = {}
"""An engine's URL and its text, by the URL object's identity: rendering it (or hashing it, which renders it)
took ~5 % of a worker's time under GET load."""


class VersionedCache(Generic[T]):
    """Values built from some tables, kept per process while those tables keep their versions.

    ``get(session, key, build)`` returns the value kept for ``key`` if the tables have not changed since it was
    built, else calls ``build()`` and keeps its result. ``key`` holds everything else the value depends on (a
    plan id, the day). At most ``max_entries`` values are kept (the oldest go first).
    """

    def __init__(self, name: str, tables: Sequence[str], *, max_entries: int = 8) -> None:
        self.name = name
        self.tables = tuple(tables)
        self.max_entries = max_entries
        self.builds = 0  # how many times a value was built (for tests and diagnostics)
        self._entries: dict[tuple, tuple[tuple[int, ...], T]] = {}
        self._lock = threading.Lock()
        CACHES.append(self)

    def versions(self, session: Session) -> Versions:
        """The versions of this cache's tables, as ``session`` sees them."""
        return table_versions(session, self.tables)

    def get(self, session: Session, key: Hashable, build: Callable[[], T], *, seen: Versions | None = None) -> T:
        """The value for ``key``: kept if its tables are unchanged, else built now (and kept when committed).
        ``seen``: the versions of this cache's tables as ``session`` sees them, when the caller has just read
        them for several caches in one query (:func:`versions_of`)."""
        seen = seen or self.versions(session)
        if seen.dirty:  # this transaction changed the tables: build from what it sees, keep nothing
            self.builds += 1
            return build()
        full_key = (_database(session), key)
        found = self._entries.get(full_key)
        if found is not None and found[0] == seen.stamp:
            return found[1]
        with self._lock:  # one build at a time per cache: concurrent requests wait for it instead of repeating it
            found = self._entries.get(full_key)
            if found is not None and found[0] == seen.stamp:
                return found[1]
            value = build()
            self.builds += 1
            self._entries.pop(full_key, None)
            while len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[full_key] = (seen.stamp, value)
        return value

    def ready(self, session: Session, key: Hashable) -> bool:
        """True when :meth:`get` would answer ``key`` without building."""
        seen = self.versions(session)
        found = self._entries.get((_database(session), key))
        return not seen.dirty and found is not None and found[0] == seen.stamp

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._entries.clear()


CACHES: list[VersionedCache] = []
"""Every versioned cache of this process."""

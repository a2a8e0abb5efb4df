"""What the benchmarks share: a free port, waiting for a server, and databases kept between runs.

Kept databases hold data that only depends on code and input files (a migrated schema, the Wuhan edges for
pgRouting, the ×10 map city). Each is named ``<prefix>_<key>``, where the key hashes what it is made from, so
any change builds a new one; a build goes into a temporary name and is renamed when complete, so a name that
exists is a finished database. Earlier keys of the same prefix are dropped when nobody is connected to them.
Throwaway databases for a single run are copied from a kept one with ``CREATE DATABASE … TEMPLATE`` (≈0.25 s,
against ≈1 s to migrate).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_api(db_url: str, *, workers: int = 1, env: dict | None = None, log_path: Path | None = None,
              app: str = "api.app:create_app") -> tuple[subprocess.Popen, str]:
    """``uvicorn api.app:create_app`` (or another app factory) on a free 127.0.0.1 port against ``db_url`` (test
    environment; ``env`` adds or overrides variables), in its own process and session, as deployed; returns the
    process and its base URL at once — its engine connects on the first request, :func:`wait_http` waits for
    it. Output goes to ``log_path`` if given."""
    port = free_port()
    full_env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url, "GRIDMAP_ENVIRONMENT": "test", **(env or {})}
    cmd = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1", "--port",
           str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log", "--no-proxy-headers"]
    if log_path is None:
        proc = subprocess.Popen(cmd, env=full_env, cwd=ROOT, start_new_session=True)
    else:
        with open(log_path, "w") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(cmd, env=full_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_http(base: str, path: str = "/healthz", *, params: dict | None = None, timeout_s: float = 60,
              ready: Callable[[int], bool] = lambda status: status < 500) -> None:
    """Poll ``base + path`` every 0.1 s until ``ready(status)``; raise if the server is not up by ``timeout_s``."""
    import httpx

    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base, timeout=2) as client:  # one client: each new one loads the CA bundle
        while time.monotonic() < deadline:
            try:
                if ready(client.get(path, params=params).status_code):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"server at {base} did not answer {path} in {timeout_s:.0f} s")


def source_key(*parts: str | bytes | Path | Iterable[Path]) -> str:
    """A 12-hex key of what something is made from: file contents for ``.py`` files, size and modification
    time for data files, strings and bytes as they are."""
    h = hashlib.sha1()
    for part in parts:
        files = [part] if isinstance(part, (str, bytes, Path)) else sorted(part)
        for f in files:
            if isinstance(f, bytes):
                h.update(f)
            elif isinstance(f, str):
                h.update(f.encode())
            elif f.suffix == ".py":
                h.update(f.relative_to(ROOT).as_posix().encode() if f.is_relative_to(ROOT) else f.name.encode())
                h.update(f.read_bytes())
            else:
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:12]


def _admin():
    from layers.settings import DatabaseSettings

    url = DatabaseSettings().sqlalchemy_url.set(database="postgres")
    return create_engine(url, isolation_level="AUTOCOMMIT")


def databases(pattern: str, *, unused: bool = False) -> list[str]:
    """Names of the databases matching the regular expression ``pattern`` (only those nobody is connected to
    if ``unused``), sorted."""
    admin = _admin()
    try:
        with admin.connect() as conn:
            return _databases(conn, pattern, unused=unused)
    finally:
        admin.dispose()


def _databases(conn, pattern: str, *, unused: bool) -> list[str]:
    busy = "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)" if unused else ""
    return list(conn.execute(text(f"SELECT datname FROM pg_database d WHERE datname ~ :p {busy} ORDER BY 1"),
                             {"p": pattern}).scalars())


def _exists(conn, name: str) -> bool:
    return conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is not None


def kept_database(prefix: str, key: str, build: Callable, *, fresh: bool = False, log=print):
    """Settings of database ``<prefix>_<key>`` (``key``: 12 hex digits, see :func:`source_key`), built by
    ``build(settings)`` if it is not there yet (or ``fresh``); ``build`` gets an empty database with PostGIS."""
    from layers.db import create_database
    from layers.settings import DatabaseSettings

    name = f"{prefix}_{key}"
    settings = DatabaseSettings().with_database(name)
    admin = _admin()
    try:
        with admin.connect() as conn:
            if fresh:
                _terminate(conn, name)
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            elif _exists(conn, name):
                return settings
            # earlier keys and interrupted builds of this prefix, unless someone is using them right now
            stale = _databases(conn, f"^{prefix}_[0-9a-f]{{12}}(_build_[0-9a-f]{{6}})?$", unused=True)
            for old in (n for n in stale if n != name):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{old}"'))
        t = time.perf_counter()
        tmp = f"{prefix}_{key}_build_{secrets.token_hex(3)}"
        tmp_settings = DatabaseSettings().with_database(tmp)
        create_database(tmp_settings.sqlalchemy_url)
        try:
            build(tmp_settings)
            # steady state before anything is timed on it: statistics and visibility map current, so no
            # autovacuum or analyze runs during the first measurements
            vac = create_engine(tmp_settings.sqlalchemy_url, isolation_level="AUTOCOMMIT")
            try:
                with vac.connect() as conn:
                    conn.execute(text("VACUUM (ANALYZE)"))
            finally:
                vac.dispose()
            with admin.connect() as conn:
                _terminate(conn, tmp)
                if _exists(conn, name):  # another run finished the same build first
                    conn.execute(text(f'DROP DATABASE "{tmp}"'))
                else:
                    conn.execute(text(f'ALTER DATABASE "{tmp}" RENAME TO "{name}"'))
        except BaseException:
            with admin.connect() as conn:
                _terminate(conn, tmp)
                conn.execute(text(f'DROP DATABASE IF EXISTS "{tmp}"'))
            raise
        log(f"kept database {name} built in {time.perf_counter() - t:.1f} s")
        return settings
    finally:
        admin.dispose()


def _terminate(conn, name: str) -> None:
    conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n "
                      "AND pid <> pg_backend_pid()"), {"n": name})


def _migrate(settings) -> None:
    from layers import migrate

    migrate.upgrade(settings)


def migrated_template(log=print):
    """The kept database with the schema at the migrations' head and nothing in it."""
    return kept_database("gridmap_bench_schema", source_key((ROOT / "layers" / "migrations").rglob("*.py")),
                         _migrate, log=log)


def postgis_template(log=print):
    """The kept empty database with PostGIS."""
    return kept_database("gridmap_bench_postgis", source_key("postgis"), lambda settings: None, log=log)


def copy_database(template, name: str | None = None):
    """A new database (``gridmap_bench_<random>`` unless named) copied from the kept ``template``; drop it with
    :func:`layers.db.drop_database` when done."""
    from layers.settings import DatabaseSettings

    name = name or f"gridmap_bench_{secrets.token_hex(3)}"
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template.name}"'))
    finally:
        admin.dispose()
    return DatabaseSettings().with_database(name)


def drop_kept(prefix: str = "gridmap_bench_") -> list[str]:
    """Drop every database whose name starts with ``prefix`` and that nobody is connected to; return their
    names (``gridmap bench --clean``)."""
    admin = _admin()
    try:
        with admin.connect() as conn:
            names = _databases(conn, "^" + re.escape(prefix), unused=True)
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        return names
    finally:
        admin.dispose()

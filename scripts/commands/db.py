"""``gridmap db``: create the database, run migrations, wait for the server."""

from __future__ import annotations

import sys
import time


def register(sub) -> None:
    """Add ``db upgrade|downgrade|current|wait``."""
    p = sub.add_parser("db", help="数据库：迁移与检查 (database: migrations and checks)")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION")

    up = dsub.add_parser("upgrade", help="创建数据库（含 PostGIS）并迁移到最新 (create with PostGIS, migrate to head)")
    up.add_argument("--revision", default="heads", help="目标版本，默认 heads (target revision)")
    up.set_defaults(func=_upgrade)

    down = dsub.add_parser("downgrade", help="回退迁移 (migrate back)")
    down.add_argument("--revision", default="base", help="目标版本，默认 base (target revision)")
    down.set_defaults(func=_downgrade)

    cur = dsub.add_parser("current", help="显示当前迁移版本 (show the current revision)")
    cur.set_defaults(func=_current)

    wait = dsub.add_parser("wait", help="等待数据库可连接 (wait until the database answers)")
    wait.add_argument("--timeout", type=float, default=60.0, help="最长等待秒数 (seconds, default 60)")
    wait.set_defaults(func=_wait)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _upgrade(args) -> int:
    from layers import migrate
    from layers.settings import DatabaseSettings

    settings = DatabaseSettings()
    migrate.upgrade(settings, args.revision)
    print(f"数据库已迁移到 {migrate.current(settings)} (database migrated)")
    return 0


def _downgrade(args) -> int:
    from layers import migrate
    from layers.settings import DatabaseSettings

    migrate.downgrade(DatabaseSettings(), args.revision)
    return 0


def _current(args) -> int:
    from layers import migrate
    from layers.settings import DatabaseSettings

    print(" ".join(migrate.current(DatabaseSettings())) or "(none)")
    return 0


def _wait(args) -> int:
    from layers.db import make_engine
    from layers.settings import DatabaseSettings

    settings = DatabaseSettings().with_database("postgres")
    engine = make_engine(settings, pool_size=1, max_overflow=0)
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            with engine.connect():
                print("数据库可用 (database is up)")
                return 0
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            if time.monotonic() > deadline:
                print(f"等待数据库超时 (database did not answer): {type(exc).__name__}", file=sys.stderr)
                return 1
            time.sleep(1)
        finally:
            engine.dispose()

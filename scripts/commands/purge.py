"""``gridmap purge``: delete or anonymise personal data whose retention period has passed."""

from __future__ import annotations

KIND_ZH = {
    "audit_log": "审计日志（删除）",
    "incident_personal": "已结案事件的上报人信息（置空）",
    "order_personal": "已结服务单的居民联系方式（置空）",
    "wish_personal": "已实现微心愿的居民联系方式（置空）",
    "ledger_entries": "台账明细（删除）",
}


def register(sub) -> None:
    """Add ``purge``."""
    p = sub.add_parser(
        "purge",
        help="按保存期限清理个人信息 (purge personal data past its retention period; GRIDMAP_RETENTION_*_DAYS)",
    )
    p.add_argument("--dry-run", action="store_true", help="只统计不删除 (count only, change nothing)")
    p.set_defaults(func=_purge)


def _purge(args) -> int:
    from layers.db import make_engine, make_sessionmaker
    from layers.retention import RetentionSettings, purge
    from layers.settings import DatabaseSettings

    settings = RetentionSettings()
    engine = make_engine(DatabaseSettings(), pool_size=1, max_overflow=0)
    try:
        with make_sessionmaker(engine)() as s:
            done = purge(s, settings, dry_run=args.dry_run)
            s.commit()
    finally:
        engine.dispose()
    verb = "将处理" if args.dry_run else "已处理"
    for kind, n in done.items():
        print(
            f"{KIND_ZH.get(kind, kind)}: {verb} {n} 条 ({kind}: {n} rows{' (dry run)' if args.dry_run else ''})"
        )
    return 0

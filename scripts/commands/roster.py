"""``gridmap roster``: the staff audit, contact boards and 包街 streets without a unit."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    """Add ``roster audit|summary|board|streets``."""
    p = sub.add_parser("roster", help="网格人员：缺岗审计、公示牌、包街 (grid staff: audit, boards, 包街)")
    rsub = p.add_subparsers(dest="roster_command", metavar="ACTION")

    audit = rsub.add_parser("audit", help="列出每个缺岗 (list every vacancy)")
    audit.add_argument("--unit", help="街道/社区/网格编码前缀 (street, community or grid code prefix)")
    audit.add_argument("--csv", type=Path, help="写入 CSV 文件 (write a CSV file)")
    audit.set_defaults(func=_audit)

    summary = rsub.add_parser("summary", help="缺岗汇总 (vacancy counts)")
    summary.add_argument("--by", choices=["grid", "community", "street"], default="community",
                         help="汇总层级 (level, default community)")
    summary.set_defaults(func=_summary)

    board = rsub.add_parser("board", help="打印网格公示牌 HTML (write a grid's printable contact board)")
    board.add_argument("grid_code", help="15 位网格编码 (15-digit grid code)")
    board.add_argument("--out", type=Path, required=True, help="输出 HTML 文件 (output HTML file)")
    board.set_defaults(func=_board)

    streets = rsub.add_parser("streets", help="无责任单位的包街路段 (包街 streets without a unit)")
    streets.set_defaults(func=_streets)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _session():
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import DatabaseSettings

    return make_sessionmaker(make_engine(DatabaseSettings(), pool_size=1, max_overflow=0))()


def _audit(args) -> int:
    from layers.roster import roster_audit

    with _session() as s:
        table = roster_audit(s, unit=args.unit)
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"{len(table)} 条缺岗已写入 {args.csv} (vacancies written)")
    else:
        print(table[["grid_code", "grid_name", "kind", "role_zh", "detail"]].to_string(index=False))
        print(f"\n共 {len(table)} 条缺岗 (vacancies)")
    return 0


def _summary(args) -> int:
    from layers.roster import roster_summary

    with _session() as s:
        print(roster_summary(s, by=args.by).to_string(index=False))
    return 0


def _board(args) -> int:
    from layers.roster import contact_board
    from maps.boards import board_page

    with _session() as s:
        args.out.write_text(board_page(contact_board(s, args.grid_code)), encoding="utf-8")
    print(f"公示牌已写入 {args.out} (contact board written)")
    return 0


def _streets(args) -> int:
    from layers.roster import streets_without_unit

    with _session() as s:
        rows = streets_without_unit(s)
    for r in rows:
        print(f"{r['id']:>6}  {r['street_name']:<12} {r['length_m']:>8.0f} m  {r['responsible_unit'] or '（无单位）'}")
    print(f"共 {len(rows)} 条路段无责任单位 (streets without a unit)", file=sys.stderr)
    return 0

"""``gridmap roster``: the staff audit, contact boards, 包街 streets without a unit, and managing assignments
(``assign``, ``move``, ``end``, ``list``) and importing a 社区's roster file (``import``)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path


def register(sub) -> None:
    """Add ``roster audit|summary|board|streets|list|assign|move|end|import``."""
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
    board.add_argument("--building", type=int, help="楼栋编号：写出该楼口的公示牌 (a building entrance's board)")
    board.add_argument("--stairwell", type=int, help="单元号 (stairwell number, with --building)")
    board.set_defaults(func=_board)
    _register_management(rsub)

    streets = rsub.add_parser("streets", help="无责任单位的包街路段 (包街 streets without a unit)")
    streets.set_defaults(func=_streets)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _register_management(rsub) -> None:
    listing = rsub.add_parser("list", help="现任人员名单 (current assignments)")
    listing.add_argument("--unit", help="街道/社区/网格编码前缀 (code prefix)")
    listing.set_defaults(func=_list)

    assign = rsub.add_parser("assign", help="新增任职：某人任某网格/楼栋/单元的岗位 (add an assignment)",
                             description="A person in a role for a grid (网格长, 网格员 …), a building (楼栋长, give "
                             "--building) or a stairwell (楼口长, --building and --stairwell). A single-holder role "
                             "that someone else holds is refused: end or move that assignment first.")
    assign.add_argument("--name", required=True, help="姓名 (name)")
    assign.add_argument("--phone", required=True, help="手机或座机，不公示 (private phone)")
    assign.add_argument("--public-phone", help="公示电话 (phone shown on the 公示牌)")
    assign.add_argument("--role", required=True, help="岗位：中文名或英文值，如 网格员 或 grid_worker (role)")
    assign.add_argument("--grid", help="15 位网格编码 (grid code)")
    assign.add_argument("--building", help="楼栋名称、地址或编号 (building)")
    assign.add_argument("--stairwell", type=int, help="单元号 (stairwell number)")
    assign.add_argument("--from", dest="valid_from", type=dt.date.fromisoformat, help="开始日期，默认今天")
    assign.add_argument("--to", dest="valid_to", type=dt.date.fromisoformat, help="结束日期 (optional)")
    assign.set_defaults(func=_assign)

    move = rsub.add_parser("move", help="把任职调整到另一网格 (move an assignment to another grid)")
    move.add_argument("assignment_id", type=int, help="任职记录编号 (assignment id, see roster list)")
    move.add_argument("--grid", required=True, help="新网格编码 (the new grid)")
    move.add_argument("--on", type=dt.date.fromisoformat, help="自哪天起，默认今天 (from, default today)")
    move.set_defaults(func=_move)

    end = rsub.add_parser("end", help="结束任职 (end an assignment)")
    end.add_argument("assignment_id", type=int, help="任职记录编号 (assignment id)")
    end.add_argument("--on", type=dt.date.fromisoformat, help="最后一天，默认今天 (last day, default today)")
    end.set_defaults(func=_end)

    imp = rsub.add_parser("import", help="导入社区花名册 CSV/XLSX：全部通过才写入 (import a roster file: all or nothing)",
                          description="Columns (Chinese or English headers): 姓名 name, 手机 phone, 岗位 role, 网格编码 "
                          "grid_code, 楼栋 building, 单元 stairwell, 公示电话 public_phone, 开始日期 valid_from, 结束日期 "
                          "valid_to. Every problem of the file is listed; nothing is written if any row is refused.")
    imp.add_argument("file", type=Path, help="花名册 .csv 或 .xlsx (roster file)")
    imp.add_argument("--dry-run", action="store_true", help="只检查，不写入 (check only)")
    imp.set_defaults(func=_import)


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
    from layers.roster import contact_board, entrance_board
    from maps.boards import board_page

    with _session() as s:
        board = (entrance_board(s, args.building, stairwell=args.stairwell) if args.building
                 else contact_board(s, args.grid_code))
        args.out.write_text(board_page(board), encoding="utf-8")
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


def _show(row: dict) -> str:
    place = row["grid_code"] or ""
    if row["building_id"]:
        place += f" 楼栋 {row['building_id']}" + (f" 单元记录 {row['stairwell_id']}" if row["stairwell_id"] else "")
    return (f"{row['id']:>7}  {row['role_zh']:<6} {row['name']:<8} {place}  {row['valid_from'] or ''}–"
            f"{row['valid_to'] or ''}")


def _list(args) -> int:
    from layers.staff import list_assignments

    with _session() as s:
        rows = list_assignments(s, unit=args.unit)
    for row in rows:
        print(_show(row))
    print(f"共 {len(rows)} 条任职 (assignments)", file=sys.stderr)
    return 0


def _assign(args) -> int:
    from layers.staff import assign

    values = {"name": args.name, "phone": args.phone, "public_phone": args.public_phone, "role": args.role,
              "grid_code": args.grid, "building": args.building, "stairwell": args.stairwell,
              "valid_from": args.valid_from, "valid_to": args.valid_to}
    with _session() as s:
        row = assign(s, values, source="cli")
        s.commit()
    print(f"已新增任职 (added): {_show(row)}")
    return 0


def _move(args) -> int:
    from layers.staff import move_assignment

    with _session() as s:
        row = move_assignment(s, args.assignment_id, grid_code=args.grid, on=args.on, source="cli")
        s.commit()
    print(f"已调整 (moved): {_show(row)}")
    return 0


def _end(args) -> int:
    from layers.staff import end_assignment

    with _session() as s:
        row = end_assignment(s, args.assignment_id, on=args.on)
        s.commit()
    print(f"已结束 (ended): {_show(row)}")
    return 0


def _import(args) -> int:
    from gis.errors import InvalidInput
    from layers.staff import import_roster

    with _session() as s:
        try:
            report = import_roster(s, args.file.read_bytes(), args.file.name, dry_run=args.dry_run,
                                   source=f"import:{args.file.name}")
        except InvalidInput as exc:
            print(f"错误 (error): {exc.message}", file=sys.stderr)
            for p in (exc.detail or {}).get("problems", []):
                print(f"  第 {p['line']} 行 [{p['column']}] {p['problem']}", file=sys.stderr)
            return 1
        s.commit()
    print(f"{report['rows']} 行：新增 {report['added']}，已有 {report['unchanged']}"
          + ("（试运行，未写入）" if args.dry_run else "") + " (rows: added, unchanged)")
    for gap in report["market_gaps"]:
        print(f"  注意：{gap['problem']}")
    return 0

"""``gridmap plan``: list, import, export, validate, propose, impact and publish grid plans."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path


def register(sub) -> None:
    """Add ``plan list|import|export|validate|propose|impact|publish``."""
    p = sub.add_parser("plan", help="网格方案：导入、导出、校验、自动划分、影响预览、发布 (grid plans)")
    ps = p.add_subparsers(dest="plan_command", metavar="ACTION")

    s = ps.add_parser("list", help="列出全部方案 (list plans)")
    s.set_defaults(func=_list)

    s = ps.add_parser("import", help="从 GeoJSON/GeoPackage/Shapefile(zip) 新建草案 (import a file as a draft)")
    s.add_argument("file", type=Path, help="输入文件 (.geojson, .gpkg, .zip)")
    s.add_argument("--name", help="方案名称 (plan name)")
    s.add_argument("--crs", help="声明坐标系：gcj02、bd09 或 EPSG:xxxx (declare the CRS)")
    s.add_argument("--layer", help="GeoPackage 图层名 (layer name)")
    s.set_defaults(func=_import)

    s = ps.add_parser("export", help="导出方案 (export a plan)")
    s.add_argument("plan_id", type=int, help="方案编号 (plan id)")
    s.add_argument("--format", default=None, metavar="{geojson,gpkg,shp}",
                   help="格式，默认按文件名 (format; default: from the file name)")
    s.add_argument("--out", type=Path, required=True, help="输出文件 (output file)")
    s.set_defaults(func=_export)

    s = ps.add_parser("validate", help="校验方案或文件，列出全部问题 (validate a plan or a file)")
    s.add_argument("target", help="方案编号或文件 (plan id or a file)")
    s.add_argument("--crs", help="文件的坐标系 (CRS of a file)")
    s.add_argument("--min-households", type=int, default=300, help="每格最少户数 (default 300)")
    s.add_argument("--max-households", type=int, default=500, help="每格最多户数 (default 500)")
    s.add_argument("--max-residents", type=int, default=2500, help="每格最多人数 (default 2500)")
    s.add_argument("--sliver-m2", type=float, default=500.0, help="碎片面积阈值 m² (default 500)")
    s.add_argument("--json", action="store_true", help="输出 JSON (print JSON)")
    s.set_defaults(func=_validate)

    s = ps.add_parser("propose", help="为社区自动划分网格 (propose grids for a community)")
    s.add_argument("--community", required=True, help="12 位社区代码 (12-digit community code)")
    s.add_argument("--min-households", type=int, default=300, help="每格最少户数 (default 300)")
    s.add_argument("--max-households", type=int, default=500, help="每格最多户数 (default 500)")
    s.add_argument("--out", type=Path, help="把提案写入 GeoJSON 文件 (write the proposal to a file)")
    s.add_argument("--create-draft", action="store_true", help="保存为草案（替换该社区网格） (save as a draft)")
    s.set_defaults(func=_propose)

    s = ps.add_parser("impact", help="草案与现行方案的差异 (impact of a draft against the plan in force)")
    s.add_argument("plan_id", type=int, help="草案编号 (draft id)")
    s.add_argument("--base", type=int, help="对比方案，默认现行 (compare with)")
    s.add_argument("--json", action="store_true", help="输出 JSON (print JSON)")
    s.set_defaults(func=_impact)

    s = ps.add_parser("publish", help="发布草案为现行方案 (publish a draft)")
    s.add_argument("plan_id", type=int, help="草案编号 (draft id)")
    s.add_argument("--effective-from", type=dt.date.fromisoformat, help="生效日期 YYYY-MM-DD (default today)")
    s.add_argument("--force", action="store_true", help="有阻断问题也发布 (publish despite blocking problems)")
    s.set_defaults(func=_publish)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _session():
    from layers.db import make_engine, make_sessionmaker, session_scope
    from layers.settings import DatabaseSettings

    engine = make_engine(DatabaseSettings())
    return session_scope(make_sessionmaker(engine))


def _list(args) -> int:
    from layers import plans

    with _session() as s:
        for p in plans.list_plans(s):
            gen = f"第{p['generation']}代" if p["generation"] else "—"
            print(f"{p['id']:>5}  {p['status_zh']:<4} {gen:<6} {p['grid_count']:>5} 格  {p['name']}"
                  f"  {p['effective_from'] or ''}–{p['effective_to'] or ''}")
    return 0


def _import(args) -> int:
    from layers import plan_io, plans

    collection = plan_io.read_upload(args.file.read_bytes(), args.file.name, crs=args.crs, layer=args.layer)
    with _session() as s:
        plan = plans.create_plan(s, collection, name=args.name or args.file.stem, source=f"import:{args.file.name}")
        print(f"已导入草案 {plan.id}：{len(collection['features'])} 个网格 (imported draft {plan.id})")
    return 0


def _export(args) -> int:
    from layers import plan_io

    fmt = plan_io.format_for(args.out.name, args.format)
    with _session() as s:
        content, _, _ = plan_io.export_plan(s, args.plan_id, fmt)
    args.out.write_bytes(content)
    print(f"已写出 {args.out}（{len(content):,} 字节） (written)")
    return 0


def _print_report(report, as_json: bool) -> int:
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(f"{report.grid_count} 个网格，{report.building_count} 栋楼，用时 {report.seconds:.2f} s")
        for kind, n in report.counts.items():
            if n:
                print(f"  {kind:<26} {n}")
        for p in report.problems:
            print(f"- [{p.kind}] {p.message}")
    return 1 if report.blocking else 0


def _validate(args) -> int:
    from gis.plan_validation import ValidationOptions
    from layers import plan_io, plans

    options = ValidationOptions(min_households=args.min_households, max_households=args.max_households,
                                max_residents=args.max_residents, sliver_area_m2=args.sliver_m2)
    with _session() as s:
        if args.target.isdigit():
            report = plans.validate(s, int(args.target), options=options)
        else:
            path = Path(args.target)
            fc = plan_io.read_upload(path.read_bytes(), path.name, crs=args.crs)
            report = plans.validate_collection(s, fc, options=options)
        return _print_report(report, args.json)


def _propose(args) -> int:
    from gis.proposals import ProposalOptions
    from layers import plans

    options = ProposalOptions(min_households=args.min_households, max_households=args.max_households)
    with _session() as s:
        result = plans.propose(s, args.community, options=options)
        m = result["metrics"]
        print(f"社区 {args.community}：{m['total_households']} 户 → {m['grids']} 个网格，"
              f"{m['within_bounds_share']:.0%} 在 {args.min_households}–{args.max_households} 户之间，"
              f"紧凑度(Polsby–Popper)均值 {m['polsby_popper_mean']:.2f}，用时 {m['seconds']:.2f} s")
        for o in m["outside_bounds"]:
            print(f"  - {result['features'][o['index']]['id']}: {o['reason']}")
        if args.out:
            args.out.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
            print(f"已写出 {args.out}")
        if args.create_draft:
            feats = [{**f, "properties": {k: f["properties"][k] for k in ("code", "name", "kind", "community_code")}}
                     for f in result["features"]]
            plan = plans.create_draft_from(s, None, name=f"{args.community} 自动划分",
                                           replace_community=args.community, features=feats, source="proposal:cli")
            print(f"已保存为草案 {plan.id} (saved as draft {plan.id})")
    return 0


def _impact(args) -> int:
    from layers import plans

    with _session() as s:
        result = plans.impact(s, args.plan_id, base_id=args.base)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
        return 0
    g = result["grids"]
    print(f"对比方案 {result['base_plan_id']}：新增 {len(g['new'])}，撤销 {len(g['removed'])}，"
          f"调整 {len(g['changed'])}，不变 {g['unchanged']} 个网格")
    print(f"改变所属网格：楼栋 {result['buildings']['count']}（{result['buildings']['households']} 户），"
          f"未结事件 {result['incidents']['count']}，人员 {result['staff']['count']}")
    return 0


def _publish(args) -> int:
    from layers import plans

    with _session() as s:
        plan = plans.publish(s, args.plan_id, effective_from=args.effective_from, force=args.force)
        print(f"方案 {plan.id} 已发布为第 {plan.generation} 代，{plan.effective_from} 起生效 (published)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)

"""``gridmap plan``: list, import, export, validate, propose, impact and publish grid plans."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

SCOPE_HELP = ("范围：逗号分隔的 12 位社区或 9 位街道代码；all 为全市；默认取文件中网格所属社区 (scope: community or street "
              "codes; all = the whole city; default: the communities of the file's grids)")


def register(sub) -> None:
    """Add ``plan list|import|export|validate|propose|impact|handover|publish|reassign``."""
    p = sub.add_parser("plan", help="网格方案：导入、导出、校验、自动划分、影响预览、发布 (grid plans)")
    ps = p.add_subparsers(dest="plan_command", metavar="ACTION")

    s = ps.add_parser("list", help="列出全部方案 (list plans)")
    s.set_defaults(func=_list)

    s = ps.add_parser("import", help="从 GeoJSON/GeoPackage/Shapefile(zip) 新建草案 (import a file as a draft)")
    s.add_argument("file", type=Path, help="输入文件 (.geojson, .gpkg, .zip)")
    s.add_argument("--name", help="方案名称 (plan name)")
    s.add_argument("--crs", help="声明坐标系：gcj02、bd09 或 EPSG:xxxx (declare the CRS)")
    s.add_argument("--layer", help="GeoPackage 图层名 (layer name)")
    s.add_argument("--scope", help=SCOPE_HELP)
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

    s = ps.add_parser("handover", help="人员交接安排：导出预览或导入修改 (staff handover: write or edit)",
                      description="Writes the handover the draft would apply (JSON: items with assignment_id, kind "
                      "move|follow|share|end and the target grid 'to'), or keeps an edited file with the draft.")
    s.add_argument("plan_id", type=int, help="草案编号 (draft id)")
    s.add_argument("--out", type=Path, help="写出交接安排 JSON (write the handover)")
    s.add_argument("--set", type=Path, dest="set_file", help="以此 JSON 文件为交接安排 (keep this edited handover)")
    s.add_argument("--reset", action="store_true", help="恢复默认安排 (back to the default proposal)")
    s.set_defaults(func=_handover)

    s = ps.add_parser("publish", help="发布草案为现行方案：人员交接并重新分派事件 (publish a draft, hand over staff, "
                      "re-dispatch incidents)")
    s.add_argument("plan_id", type=int, help="草案编号 (draft id)")
    s.add_argument("--effective-from", type=dt.date.fromisoformat, help="生效日期 YYYY-MM-DD (default today)")
    s.add_argument("--force", action="store_true", help="有阻断问题或改变范围外网格也发布 (publish despite blocking "
                   "problems or changes outside the scope; the latter needs --reason)")
    s.add_argument("--reason", help="强制发布的理由，随该代方案保存 (why it is forced; kept with the generation)")
    s.add_argument("--no-redispatch", action="store_true", help="不重新分派事件，只预览 (only preview the re-dispatch)")
    s.set_defaults(func=_publish)

    s = ps.add_parser("reassign", help="按现行方案重新分派未结事件 (re-dispatch open incidents to the plan in force)")
    s.add_argument("plan_id", type=int, help="现行方案编号 (the plan in force)")
    s.add_argument("--dry-run", action="store_true", help="只报告，不写入 (report only)")
    s.set_defaults(func=_reassign)
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
    from layers.plan_scope import parse_scope_text

    collection = plan_io.read_upload(args.file.read_bytes(), args.file.name, crs=args.crs, layer=args.layer)
    with _session() as s:
        plan = plans.create_plan(s, collection, name=args.name or args.file.stem, source=f"import:{args.file.name}",
                                 scope=parse_scope_text(args.scope))
        scope = "、".join(plan.scope) if plan.scope else "全市 (whole city)"
        print(f"已导入草案 {plan.id}：{len(collection['features'])} 个网格，范围 {scope} "
              f"(imported draft {plan.id}; scope {scope})")
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
    from layers import plan_impact

    with _session() as s:
        result = plan_impact.impact(s, args.plan_id, base_id=args.base)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
        return 0
    g = result["grids"]
    print(f"对比方案 {result['base_plan_id']}：新增 {len(g['new'])}，撤销 {len(g['removed'])}，"
          f"调整 {len(g['changed'])}，不变 {g['unchanged']} 个网格")
    print(result["outside_scope"]["summary"])
    print(f"改变所属网格：楼栋 {result['buildings']['count']}（{result['buildings']['households']} 户），"
          f"未结事件 {result['incidents']['count']}，人员交接 {result['staff']['count']} 项")
    _print_handover(result["handover"]["items"])
    return 0


def _print_handover(items: list[dict]) -> None:
    for item in items:
        print(f"  [{item['kind_zh']}] {item['person_name']} {item['role_zh']}：{item['from'] or '-'} → "
              f"{item['to'] or '（结束）'} {item.get('note') or ''}")


def _handover(args) -> int:
    from layers import handover, plan_impact

    with _session() as s:
        if args.set_file or args.reset:
            items = None if args.reset else json.loads(args.set_file.read_text(encoding="utf-8"))
            items = items.get("items") if isinstance(items, dict) else items
            saved = handover.save(s, args.plan_id, items)
            print(f"已保存 {len(saved)} 项交接安排 (handover kept)" if saved is not None else
                  "已恢复默认交接安排 (back to the default proposal)")
            return 0
        items = plan_impact.impact(s, args.plan_id)["handover"]["items"]
    if args.out:
        args.out.write_text(json.dumps({"items": items}, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"{len(items)} 项交接安排已写入 {args.out} (written)")
    else:
        _print_handover(items)
    return 0


def _print_moves(report: dict) -> None:
    print(f"事件：检查 {report['checked']}，改变网格 {report['moved']}，仅更新方案 {report['repointed']}，"
          f"不变 {report['unchanged']} (incidents checked, moved, re-pointed, unchanged)"
          + ("；试运行，未写入 (dry run)" if report["dry_run"] else ""))
    for item in report["items"]:
        print(f"  事件 {item['incident_id']}：{item['from'] or '-'} → {item['to'] or '-'}，"
              f"{item['assignee_before'] or '未派遣'} → {item['assignee_after'] or '待派遣'}")


def _publish(args) -> int:
    from scripts.progress import Progress
    from usecases import plan_publish

    options = plan_publish.PublishOptions(effective_from=args.effective_from, force=args.force, reason=args.reason,
                                          redispatch=not args.no_redispatch)
    with _session() as s, Progress("重新分派 re-dispatching") as bar:
        result = plan_publish.publish_plan(s, args.plan_id, options, actor="cli", progress=bar)
    plan = result
    print(f"方案 {plan['id']} 已发布为第 {plan['generation']} 代，{plan['effective_from']} 起生效 (published)")
    counts = result["handover"]["counts"]
    print(f"人员交接：转入 {counts['move']}，随楼栋 {counts['follow']}，兼任 {counts['share']}，结束 {counts['end']}"
          f"（另有 {result['handover']['ended_with_retired_grids']} 项随撤销网格结束） (staff handover)")
    _print_moves(result["incidents"])
    return 0


def _reassign(args) -> int:
    from scripts.progress import Progress
    from usecases import plan_publish

    with _session() as s, Progress("重新分派 re-dispatching") as bar:
        report = plan_publish.redispatch(s, args.plan_id, dry_run=args.dry_run, progress=bar)
        if args.dry_run:
            s.rollback()
    _print_moves(report)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)

"""``gridmap coverage``: walking coverage per community/grid, uncovered buildings, 七个一 audit, new sites."""

from __future__ import annotations

import json
from pathlib import Path

from gis.domain import LIFE_CIRCLE_MINUTES


def register(sub) -> None:
    """Add ``coverage compute|report|uncovered|audit|sites``."""
    p = sub.add_parser("coverage", help="服务覆盖与缺口：覆盖率、未覆盖楼栋、七个一审计、选址 (coverage and gaps)",
                       description="沿路网步行距离计算每栋楼到各类设施的距离，统计覆盖率并给出选址建议 "
                                   "(walking distance from every building to each service; coverage, gaps, sites).")
    csub = p.add_subparsers(dest="coverage_command", metavar="ACTION")

    def budget_args(a):
        a.add_argument("--minutes", type=float, default=LIFE_CIRCLE_MINUTES,
                       help="步行分钟，按配置的步行速度 (minutes at GRIDMAP_WALK_SPEED_KMH, default 15)")
        a.add_argument("--meters", type=float, help="步行米数，优先 (metres, overrides minutes)")
        a.add_argument("--network", help="路网名称 (network name)")

    comp = csub.add_parser("compute", help="计算楼栋到设施的步行距离 (compute building → facility distances)")
    comp.add_argument("--type", dest="types", nargs="+", metavar="TYPE", help="设施类型 (types, default all)")
    comp.add_argument("--network", help="路网名称 (network name)")
    comp.add_argument("--force", action="store_true", help="全部重算 (recompute everything)")
    comp.set_defaults(func=_compute)

    rep = csub.add_parser("report", help="覆盖率：按社区或网格 (coverage per community or grid)")
    rep.add_argument("--type", dest="types", nargs="+", metavar="TYPE", help="设施类型 (types, default all)")
    rep.add_argument("--by", choices=["community", "grid"], default="community", help="汇总层级 (level)")
    rep.add_argument("--csv", type=Path, help="写入 CSV (write a CSV file)")
    budget_args(rep)
    rep.set_defaults(func=_report)

    unc = csub.add_parser("uncovered", help="未覆盖楼栋 (buildings a type does not reach)")
    unc.add_argument("--type", required=True, help="设施类型 (type code)")
    unc.add_argument("--community", help="社区代码 (community code)")
    unc.add_argument("--geojson", type=Path, help="写入 GeoJSON (write GeoJSON)")
    budget_args(unc)
    unc.set_defaults(func=_uncovered)

    aud = csub.add_parser("audit", help="“七个一”/功能室审计 (seven-ones / function-room audit)")
    aud.add_argument("--kind", choices=["village", "community"], default="village", help="村或社区 (level)")
    aud.add_argument("--distance", type=float, default=500.0, help="容许距离米 (tolerance metres, default 500)")
    aud.add_argument("--csv", type=Path, help="写入 CSV (write a CSV file)")
    aud.set_defaults(func=_audit)

    sites = csub.add_parser("sites", help="选址建议：贪心最大覆盖 (where to build next: greedy max covering)")
    sites.add_argument("--type", required=True, help="设施类型 (type code)")
    sites.add_argument("--k", type=int, default=5, help="建议个数 (number of sites, default 5)")
    sites.add_argument("--json", action="store_true", help="输出 JSON (print JSON)")
    budget_args(sites)
    sites.set_defaults(func=_sites)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _session():
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import DatabaseSettings

    return make_sessionmaker(make_engine(DatabaseSettings(), pool_size=1, max_overflow=0))()


def _budget(args) -> float:
    """``--meters``, else ``--minutes`` at the configured walking speed (GRIDMAP_WALK_SPEED_KMH)."""
    from gis.domain import walk_metres
    from layers.settings import WalkSettings

    return args.meters if args.meters else walk_metres(args.minutes, WalkSettings().speed_kmh)


def _compute(args) -> int:
    from layers.coverage import compute_access

    with _session() as s:
        rep = compute_access(s, network=args.network, type_codes=args.types, force=args.force)
        s.commit()
    print(f"路网 (network) {rep['network']}; 重算 (recomputed): {', '.join(rep['recomputed']) or '-'}")
    for code, c in rep["types"].items():
        print(f"  {code:20s} 楼栋 {c['buildings']:6d}  设施 {c['facilities']:4d}  可达 {c['reached']:6d}")
    return 0


def _report(args) -> int:
    from layers.coverage import coverage_report

    with _session() as s:
        df = coverage_report(s, type_codes=args.types, budget_m=_budget(args), by=args.by, network=args.network)
        s.commit()
    if args.csv:
        df.to_csv(args.csv, index=False)
        print(f"{len(df)} 行已写入 {args.csv} (rows written)")
    else:
        cols = ["unit", "unit_name", "type_zh", "households", "households_covered", "households_share",
                "residents_share"]
        print(df[cols].to_string(index=False))
    return 0


def _uncovered(args) -> int:
    from layers.coverage import uncovered_buildings

    with _session() as s:
        fc = uncovered_buildings(s, args.type, budget_m=_budget(args), community_code=args.community,
                                 network=args.network)
        s.commit()
    if args.geojson:
        args.geojson.write_text(json.dumps(fc, ensure_ascii=False))
    print(f"{fc['type_zh']}: {fc['count']} 栋楼、{fc['households']} 户未覆盖 (buildings, households uncovered) "
          f"@ {fc['budget_m']:.0f} m")
    return 0


def _audit(args) -> int:
    from layers.coverage import seven_ones_audit

    with _session() as s:
        df = seven_ones_audit(s, kind=args.kind, distance_m=args.distance)
    if not len(df):
        level = "村 (villages)" if args.kind == "village" else "城市社区 (urban communities)"
        print(f"数据库里没有{level}；先加载行政区划，例如 gridmap demo load "
              f"(no {args.kind} areas in the database: load admin areas first)")
        return 0
    if args.csv:
        df.drop(columns=["missing"]).to_csv(args.csv, index=False)
    print(df[["code", "name", "present", "missing_zh"]].to_string(index=False))
    done = int((df["missing"].map(len) == 0).sum()) if len(df) else 0
    print(f"\n{done}/{len(df)} 配齐 (complete)")
    return 0


def _sites(args) -> int:
    from layers.coverage import suggest_sites

    with _session() as s:
        res = suggest_sites(s, args.type, k=args.k, budget_m=_budget(args), network=args.network)
        s.commit()
    if args.json:
        print(json.dumps(res, ensure_ascii=False, indent=1))
        return 0
    print(f"{res['type_zh']}: 未覆盖 {res['uncovered_households']} 户 (uncovered households) @ {res['budget_m']:.0f} m")
    for site in res["sites"]:
        print(f"  #{site['rank']} ({site['lon']:.6f}, {site['lat']:.6f}) +{site['households_added']} 户 "
              f"(+{site['residents_added']} 人), 累计 {site['cumulative_households']}")
    return 0

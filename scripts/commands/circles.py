"""``gridmap circles``: compute and inspect walking service circles (服务圈)."""

from __future__ import annotations

import json

from gis.domain import LIFE_CIRCLE_MINUTES
from scripts.progress import Progress


def register(sub) -> None:
    """Add ``circles compute|stats|reach``."""
    p = sub.add_parser("circles", help="步行服务圈：计算、统计、可达查询 (walking service circles)",
                       description="按路网计算设施的步行服务圈并存入 service_circles；设施或路网变化时只重算变化部分 "
                                   "(compute facilities' walking service areas; only what changed is recomputed).")
    csub = p.add_subparsers(dest="circles_command", metavar="ACTION")

    comp = csub.add_parser("compute", help="计算并存储服务圈 (compute and store circles)",
                           description="默认 5/10/15 分钟、5 km/h、50 米缓冲；无路网处用直线圆 (euclidean) "
                                       "(default 5/10/15 min at 5 km/h, 50 m buffer; straight-line circles "
                                       "where there is no network).")
    comp.add_argument("--type", dest="types", nargs="+", metavar="TYPE",
                      help="设施类型编码，默认全部 (facility type codes, default all)")
    g = comp.add_mutually_exclusive_group()
    g.add_argument("--minutes", nargs="+", type=float, help="步行分钟 (walking minutes), e.g. 5 10 15")
    g.add_argument("--meters", nargs="+", type=float, help="步行距离米 (walking metres), e.g. 300 500 1000")
    comp.add_argument("--network", help="只算此路网附近的设施；默认每个设施用最近街道所在路网 "
                                        "(only facilities near this network; default: each facility's nearest)")
    comp.add_argument("--speed", type=float, default=None,
                      help="步行速度 km/h，默认 GRIDMAP_WALK_SPEED_KMH（5）(walking speed; default the configured one, 5)")
    comp.add_argument("--buffer", type=float, default=50.0, help="街道缓冲宽度米 (street buffer, default 50 m)")
    comp.add_argument("--force", action="store_true", help="全部重算 (recompute everything)")
    comp.set_defaults(func=_compute)

    st = csub.add_parser("stats", help="已存服务圈统计 (stored circle counts)")
    st.set_defaults(func=_stats)

    reach = csub.add_parser("reach", help="从某点步行可达的设施 (facilities reachable on foot from a point)")
    reach.add_argument("lon", type=float, help="经度 WGS84 (longitude)")
    reach.add_argument("lat", type=float, help="纬度 WGS84 (latitude)")
    reach.add_argument("--minutes", type=float, default=LIFE_CIRCLE_MINUTES, help="步行分钟 (minutes, default 15)")
    reach.add_argument("--type", dest="types", nargs="+", metavar="TYPE", help="设施类型 (facility types)")
    reach.add_argument("--network", help="路网名称 (network name)")
    reach.add_argument("--json", action="store_true", help="输出 JSON (print JSON)")
    reach.set_defaults(func=_reach)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _session():
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import DatabaseSettings

    return make_sessionmaker(make_engine(DatabaseSettings(), pool_size=1, max_overflow=0))()


def _compute(args) -> int:
    from layers.service_circles import compute_circles
    from layers.settings import WalkSettings

    with Progress("计算服务圈 (computing circles)") as prog, _session() as s:
        def tick(done, total):
            prog.total = total
            prog.done = done
            prog.advance(0)

        rep = compute_circles(s, network=args.network, type_codes=args.types, minutes=args.minutes,
                              meters=args.meters, speed_kmh=args.speed or WalkSettings().speed_kmh, buffer_m=args.buffer, force=args.force,
                              progress=tick)
        s.commit()
    nets = ", ".join(f"{k} {v}" for k, v in rep["networks"].items()) or "-"
    print(f"路网 (network) {rep['network']}: {rep['facilities']} 个设施 (facilities), 重算 (computed) "
          f"{rep['computed']}, 未变 (unchanged) {rep['unchanged']}, 跳过 (skipped) {rep['skipped']}, "
          f"直线圆 (euclidean circles) {rep['euclidean']}, 预算 (budgets) {rep['budgets_m']} m — "
          f"{rep['seconds']} s\n  按路网 (facilities per network): {nets}")
    return 0


def _stats(args) -> int:
    from layers.service_circles import circle_stats

    with _session() as s:
        rows = circle_stats(s)
    if not rows:
        print("尚无服务圈 (no circles yet): gridmap circles compute")
    for r in rows:
        mins = f"{r['minutes']:g} min" if r["minutes"] else ""
        print(f"{r['type_code']:20s} {r['budget_m']:8.1f} m {mins:8s} {r['method']:10s} {r['count']:6d}")
    return 0


def _reach(args) -> int:
    from layers.settings import WalkSettings
    from usecases.reach import reachable

    with _session() as s:
        res = reachable(s, args.lon, args.lat, minutes=args.minutes, walk=WalkSettings(), type_codes=args.types,
                        network=args.network)
    if args.json:
        print(json.dumps(res, ensure_ascii=False, indent=1))
        return 0
    print(f"{args.minutes:g} 分钟内可达 {res['count']} 个设施 (facilities reachable within {args.minutes:g} min)")
    for f in res["facilities"]:
        print(f"  {f['distance_m']:7.0f} m  {f['type_zh']}  {f['name']}  ({f['method']})")
    return 0

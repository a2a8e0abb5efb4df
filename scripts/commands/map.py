"""``gridmap map export NAME --out FILE.html``: a map as a standalone HTML page with its assets beside it."""

from __future__ import annotations

from pathlib import Path

MAPS = ("public", "grids", "incidents", "coverage")


def register(sub) -> None:
    """Add ``map export``."""
    p = sub.add_parser("map", help="地图页面导出 (export the maps as standalone HTML)")
    msub = p.add_subparsers(dest="map_command", metavar="ACTION")
    ex = msub.add_parser(
        "export",
        help="导出地图为独立 HTML（资源文件放在旁边的 FILE_files 目录，离线可用）"
        "(write a map as standalone HTML, assets in FILE_files beside it, works offline)",
        description="public 公众设施地图 · grids 网格规划图 · incidents 事件调度图（含事件数据，仅供工作人员）· "
        "coverage 服务覆盖图. Layers are embedded; with --server the big ones come as vector tiles from it.",
    )
    ex.add_argument("name", choices=MAPS, help="地图 (which map)")
    ex.add_argument("--out", type=Path, required=True, help="输出 HTML 文件 (output file)")
    ex.add_argument("--type", default="clinic", help="coverage 的设施类型 (facility type for coverage)")
    ex.add_argument("--basemap", choices=["osm", "tianditu", "amap", "none"],
                    help="底图，默认取设置 GRIDMAP_MAP_BASEMAP (basemap; default from settings)")
    ex.add_argument("--server", help="矢量瓦片服务地址，如 http://10.0.0.5:8000 (tile server for big layers)")
    ex.add_argument("--max-features", type=int, default=20_000,
                    help="无 --server 时嵌入的最多楼栋/事件数，超过则省略该图层 (most features to embed)")
    ex.set_defaults(func=_export)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _export(args) -> int:
    from layers import map_data
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import DatabaseSettings, WalkSettings
    from maps import assets
    from maps.common import MapContext, render
    from maps.pages import coverage_map, grid_map, incident_map, public_map
    from maps.settings import MapSettings
    from usecases import map_pages

    settings = MapSettings()
    if args.basemap:
        settings = settings.model_copy(update={"basemap": args.basemap})
    out: Path = args.out
    files = out.with_name(out.stem + "_files")
    assets.check_installed(settings.vendor_dir)
    ctx = MapContext(settings=settings, asset_base=f"{files.name}/vendor", own_base=f"{files.name}/maps",
                     tile_base=args.server.rstrip("/") if args.server else None, inline_modules=True)
    if ctx.tile_base is None:
        ctx.settings = settings.model_copy(update={"tile_threshold": args.max_features})
    factory = make_sessionmaker(make_engine(DatabaseSettings(), pool_size=1, max_overflow=0))
    with factory() as s:
        if args.name == "public":
            fmap = public_map(map_pages.public_data(s, with_boards=ctx.tile_base is None), ctx)
        elif args.name == "grids":
            data = map_pages.grid_data(s, ctx, plan_id=None, problems=True)
            if ctx.tile_base is None and data.building_count > args.max_features:
                data.buildings = None
                print(f"楼栋 {data.building_count} 栋超过 --max-features，未嵌入 (buildings not embedded)")
            fmap = grid_map(data, ctx)
        elif args.name == "incidents":
            flt = map_data.IncidentFilter()
            data = map_pages.incident_data(s, ctx, flt)
            if data.incidents is None and ctx.tile_base is None:
                data.incidents = map_data.incidents(s, flt, limit=args.max_features)
                print(f"只嵌入最近 {args.max_features} 件事件 (only the latest incidents embedded)")
            fmap = incident_map(data, ctx)
        else:
            fmap = coverage_map(map_pages.coverage_data(s, ctx, args.type, WalkSettings()), ctx)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(fmap), encoding="utf-8")
    assets.copy_for_export(settings.vendor_dir, files)
    size = out.stat().st_size
    print(f"已导出 {args.name} → {out} ({size / 1e6:.2f} MB)，资源在 {files} (exported; assets beside it)")
    return 0

"""``gridmap network``: import a walking network (line file or OSM PBF) into PostGIS, list networks."""

from __future__ import annotations

import time
from pathlib import Path

from scripts.progress import Progress


def register(sub) -> None:
    """Add ``network import|list``."""
    p = sub.add_parser("network", help="步行路网：导入与列表 (walking networks: import, list)",
                       description="步行路网存入 PostGIS 的 street_edges 表，按名称区分 "
                                   "(walking networks stored in street_edges, by name).")
    nsub = p.add_subparsers(dest="network_command", metavar="ACTION")

    imp = nsub.add_parser(
        "import", help="导入线文件或 OSM PBF (import a line file or an OSM PBF)",
        description="导入 GeoJSON/GeoPackage/GeoParquet 线文件或 OSM PBF（pyrosm 步行路网），"
                    "端点按坐标取整合并为节点；同名路网被替换 (import a line file or an OSM PBF walking "
                    "network; endpoints snapped to node ids by rounded coordinates; a network of the same "
                    "name is replaced).")
    imp.add_argument("file", type=Path, help="线文件或 .osm.pbf (line file or .osm.pbf)")
    imp.add_argument("--name", required=True, help="路网名称 (network name)")
    imp.add_argument("--bbox", type=float, nargs=4, metavar=("W", "S", "E", "N"),
                     help="只导入此经纬度范围内的路段 (only edges inside this WGS84 box)")
    imp.set_defaults(func=_import)

    ls = nsub.add_parser("list", help="列出路网 (list networks)")
    ls.set_defaults(func=_list)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _session():
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import DatabaseSettings

    return make_sessionmaker(make_engine(DatabaseSettings(), pool_size=1, max_overflow=0))()


def _import(args) -> int:
    from layers.networks import import_network

    t0 = time.perf_counter()
    with Progress("导入路网 (importing network)") as prog, _session() as s:
        counts = import_network(s, args.file, args.name, bbox=args.bbox, progress=prog.step)
        s.commit()
    print(f"路网 {args.name}: {counts['edges']} 条路段, {counts['nodes']} 个节点, {counts['length_km']} km "
          f"(edges, nodes) — {time.perf_counter() - t0:.1f} s")
    return 0


def _list(args) -> int:
    from layers.networks import list_networks

    with _session() as s:
        rows = list_networks(s)
    if not rows:
        print("尚无路网 (no networks)")
    for r in rows:
        print(f"{r['network']:30s} {r['edges']:8d} 条路段 {r['length_km']:10.3f} km  {r['source']}")
    return 0

"""``gridmap facilities``: import facilities from GeoJSON/CSV and list the facility types."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gis.errors import GridmapError


def register(sub) -> None:
    """Add ``facilities import`` and ``facilities types``."""
    p = sub.add_parser(
        "facilities",
        help="设施：从 GeoJSON/CSV 导入、类型列表 (facilities: import from GeoJSON/CSV, list types)",
    )
    fsub = p.add_subparsers(dest="facilities_command", metavar="ACTION")

    imp = fsub.add_parser(
        "import",
        help="导入设施（全部通过才写入；同名导入替换旧数据） (import facilities, all or nothing)",
        description="GeoJSON：点要素，属性 name、type、address；CSV：lon,lat,name,type[,address][,crs]。"
        "type 为设施类型代码或中文名（见 gridmap facilities types）。 (GeoJSON points with name/type/address, "
        "or CSV lon,lat,name,type[,address][,crs]; type is a type code or its Chinese name.)",
    )
    imp.add_argument("file", type=Path, help=".geojson / .json / .csv 文件 (file)")
    imp.add_argument("--crs", help="坐标系 wgs84 | cgcs2000 | gcj02 | bd09（默认 wgs84）(CRS of the file)")
    imp.add_argument("--name", help="导入名称，默认文件名 (import name; default the file name)")
    imp.add_argument("--format", choices=["geojson", "csv"], help="格式，默认按扩展名 (format; default by suffix)")
    imp.set_defaults(func=_import)

    types = fsub.add_parser("types", help="列出设施类型 (list the facility types)")
    types.set_defaults(func=_types)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _session():
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import DatabaseSettings

    return make_sessionmaker(make_engine(DatabaseSettings(), pool_size=1, max_overflow=0))()


def _import(args) -> int:
    from layers.facility_import import import_facility_file

    with _session() as s:
        try:
            report = import_facility_file(s, args.file, name=args.name, crs=args.crs, fmt=args.format)
        except GridmapError as exc:
            s.rollback()
            print(f"错误 (error): {exc.message}", file=sys.stderr)
            for problem in exc.detail.get("problems", []):
                print(f"  第 {problem['row']} 行 (row) [{problem['field']}]: {problem['message']}", file=sys.stderr)
            return 1
        s.commit()
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def _types(args) -> int:
    from layers.facilities import facility_types

    with _session() as s:
        for t in facility_types(s):
            print(f"{t['code']:<18} {t['name_zh']:<10} {t['name_en']:<28} {t['group_zh']:<14} {t['count']:>6}")
    return 0

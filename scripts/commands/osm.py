"""``gridmap osm``: import buildings and facilities from an OpenStreetMap PBF; publish the tag mapping."""

from __future__ import annotations

import json
from pathlib import Path


def register(sub) -> None:
    """Add ``osm import`` and ``osm tags``."""
    p = sub.add_parser(
        "osm",
        help="OpenStreetMap：导入楼栋与设施、标签对照表 (OSM: import buildings and facilities, tag mapping)",
        description="从 OSM PBF 导入楼栋和设施（POI 按标签对照表归类），"
        "数据注明 © OpenStreetMap contributors。 (Import buildings and POIs from an OSM PBF; "
        "POIs are typed by the documented tag mapping.)",
    )
    osub = p.add_subparsers(dest="osm_command", metavar="ACTION")

    imp = osub.add_parser(
        "import",
        help="导入 PBF 中的楼栋和设施；重复导入同名数据会替换旧数据 (import buildings and facilities; "
        "re-importing the same name replaces its rows)",
    )
    imp.add_argument("pbf", type=Path, help="OSM PBF 文件 (an .osm.pbf file)")
    imp.add_argument("--name", help="数据集名称，默认取文件名 (dataset name, default: the file name)")
    imp.add_argument("--no-buildings", action="store_true", help="不导入楼栋 (skip buildings)")
    imp.add_argument("--no-facilities", action="store_true", help="不导入设施 (skip facilities)")
    imp.set_defaults(func=_import)

    tags = osub.add_parser("tags", help="打印或写入 OSM 标签→设施类型对照表 (print or write the tag mapping)")
    tags.add_argument("--write", type=Path,
                      help="写入 Markdown 文件，如 docs/osm_tags.md (write a Markdown file)")
    tags.set_defaults(func=_tags)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _import(args) -> int:
    from layers.db import make_engine, make_sessionmaker
    from layers.osm_import import load_osm
    from layers.settings import DatabaseSettings
    from scripts.progress import Progress

    factory = make_sessionmaker(make_engine(DatabaseSettings(), pool_size=1, max_overflow=0))
    with Progress(f"导入 OSM (importing) {args.pbf.name}") as progress:
        report = load_osm(
            factory, args.pbf, name=args.name, buildings=not args.no_buildings,
            facilities=not args.no_facilities, progress=progress.step,
        )
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def _tags(args) -> int:
    from gis.osm_tags import markdown_table

    text = markdown_table()
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text, encoding="utf-8")
        print(f"对照表已写入 {args.write} (tag mapping written)")
    else:
        print(text, end="")
    return 0

"""``gridmap demo load``: the Jinchang demo (real boundaries and codes, synthetic core) or an OSM extract."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scripts.progress import Progress


def register(sub) -> None:
    """Add ``demo load``."""
    p = sub.add_parser("demo", help="加载演示数据 (load demo data)")
    dsub = p.add_subparsers(dest="demo_command", metavar="ACTION")
    load = dsub.add_parser(
        "load",
        help="加载金昌演示或 OSM 数据 (load the Jinchang demo, or real OSM data with --osm)",
        description="Without --osm: loads the real Jinchang boundaries and the 182 real community/village codes, "
        "and generates a deterministic synthetic urban core inside 金川区 (streets, buildings, grids, facilities, "
        "staff; every generated row has source=synthetic). Safe to run twice: an identical load is skipped, and a "
        "load started while another runs on the same database waits for it (an advisory lock), then skips. "
        "With --osm FILE.pbf: imports real streets, buildings and POIs from OpenStreetMap "
        "(© OpenStreetMap contributors).",
    )
    load.add_argument("--data", type=Path, default=None,
                      help="金昌数据目录，默认仓库的 data/jinchang 或 GRIDMAP_DATA_DIR 下的 jinchang "
                           "(the Jinchang data folder; default: jinchang in the data folder of the settings)")
    load.add_argument("--seed", type=int, default=None, help="随机种子 (seed of the synthetic core)")
    load.add_argument("--force", action="store_true", help="重新生成合成数据 (replace the synthetic rows)")
    load.add_argument("--osm", type=Path, metavar="FILE.pbf", help="导入 OSM PBF 文件 (import an OSM extract)")
    load.add_argument("--name", help="OSM 数据集名称 (dataset name for --osm; default: the file name)")
    load.set_defaults(func=_load)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _factory():
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import DatabaseSettings

    return make_sessionmaker(make_engine(DatabaseSettings(), pool_size=1, max_overflow=0))


def _load(args) -> int:
    if args.osm:
        return _load_osm(args)
    from gis.synthetic import DEFAULT_SEED
    from layers.demo import load_jinchang_demo
    from layers.settings import DataSettings

    with Progress("金昌演示 Jinchang demo", total=8) as bar:

        def progress(step: str, done: int, total: int) -> None:
            bar.total = total
            bar.done = done
            bar.step(step)

        report = load_jinchang_demo(_factory(), data_dir=args.data or DataSettings().jinchang,
                                    seed=args.seed or DEFAULT_SEED,
                                    force=args.force, progress=progress)
    if report.get("waited_s"):
        print(f"等待另一个演示加载 {report['waited_s']} 秒 (waited {report['waited_s']} s for another demo load "
              "on this database)", file=sys.stderr)
    if report.get("skipped"):
        print("演示数据已加载，未改动 (the demo is already loaded; nothing changed; use --force to regenerate)",
              file=sys.stderr)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


def _load_osm(args) -> int:
    from layers.networks import import_osm_pbf
    from layers.osm_import import load_osm

    if not args.osm.exists():
        print(f"找不到文件 {args.osm} (file not found)", file=sys.stderr)
        return 2
    name = args.name or args.osm.name.removesuffix(".osm.pbf").removesuffix(".pbf")
    factory = _factory()
    with Progress(f"OSM {args.osm.name}") as bar:
        report = load_osm(factory, args.osm, name=name, progress=bar.step)
        bar.step("步行路网 walking network")
        with factory() as session, session.begin():
            report["network"] = import_osm_pbf(session, args.osm, name, progress=bar.step)
        bar.step("完成 done")
    report["attribution"] = "© OpenStreetMap contributors (ODbL 1.0)"
    print(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    return 0

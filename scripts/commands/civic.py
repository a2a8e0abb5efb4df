"""``gridmap civic``: bulk work on 入户走访, 六步议事 and 事项准入清单 — import a batch of paper visit forms,
list topics suggested by recurring incidents, publish a district's matter list from a JSON file."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(sub) -> None:
    """Add ``civic visits-import|suggest|matters-import``."""
    p = sub.add_parser("civic", help="议事、走访与准入清单的批量操作 (bulk: visits, topics, matter lists)")
    csub = p.add_subparsers(dest="civic_command", metavar="ACTION")
    imp = csub.add_parser(
        "visits-import", help="导入入户走访表 CSV (import household visits from a CSV)",
        description="CSV columns: building_id, household, visited_on (YYYY-MM-DD), knows (六提六知 codes joined "
        "by '|'), notes. Every row is checked first; one bad row stores nothing. Each visit is audit-logged "
        "under --visitor.")
    imp.add_argument("csv", type=Path, help="走访表 CSV 文件 (the CSV file)")
    imp.add_argument("--visitor", required=True, help="登记人账号 (the staff account logging the visits)")
    imp.set_defaults(func=_visits_import)
    sug = csub.add_parser("suggest", help="由高频事件聚类建议议题 (topics suggested by incident clusters)")
    sug.add_argument("--days", type=int, default=60, help="回看天数 (days back, default 60)")
    sug.add_argument("--radius", type=float, default=150.0, help="聚类半径，米 (radius in metres, default 150)")
    sug.add_argument("--min", type=int, default=4, dest="min_incidents", help="最少事件数 (default 4)")
    sug.set_defaults(func=_suggest)
    mat = csub.add_parser("matters-import", help="发布区县事项准入清单 (publish a district's matter list)",
                          description="JSON: a list of {kind: statutory|assist|devolved, item, legal_basis, "
                          "department?, incident_categories?, order_categories?}. Replaces the district's list.")
    mat.add_argument("district", help="6 位区县编码 (district code, e.g. 620302)")
    mat.add_argument("json_file", type=Path, help="清单 JSON 文件 (the list as JSON)")
    mat.set_defaults(func=_matters_import)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _factory():
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import DatabaseSettings

    return make_sessionmaker(make_engine(DatabaseSettings(), pool_size=1, max_overflow=0))


def _visits_import(args) -> int:
    import csv
    import datetime as dt

    from layers import visits
    from layers.accounts import write_audit
    from scripts.progress import Progress

    with args.csv.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    factory = _factory()
    with factory() as session, session.begin(), Progress("入户走访 visits", total=len(rows)) as bar:
        def audit(action, kind, object_id, detail):
            write_audit(session, subject=args.visitor, roles=["cli"], action=action, object_type=kind,
                        object_id=object_id, detail=detail, request_path=f"gridmap civic visits-import {args.csv.name}")

        for n, row in enumerate(rows, start=1):
            visits.log_visit(session, building_id=int(row["building_id"]), household=row["household"],
                             visited_on=dt.date.fromisoformat(row["visited_on"]), visitor=args.visitor,
                             source=f"import:{args.csv.name}", audit=audit,
                             knows=[k for k in (row.get("knows") or "").split("|") if k], notes=row.get("notes"))
            bar.done = n
            bar.step(f"第 {n} 行 (row {n})")
    print(json.dumps({"imported": len(rows)}, ensure_ascii=False))
    return 0


def _suggest(args) -> int:
    from layers.deliberation import incident_clusters

    with _factory()() as session:
        rows = incident_clusters(session, days=args.days, radius_m=args.radius, min_incidents=args.min_incidents)
    for r in rows:
        print(f"{r['n']:>4}  {r['grid_code']}  {r['title']}  ({r['lon']:.5f}, {r['lat']:.5f})  ids={r['incident_ids']}")
    if not rows:
        print("没有达到阈值的高频事件 (no cluster reaches the threshold)", file=sys.stderr)
    return 0


def _matters_import(args) -> int:
    from layers.matters import replace_list

    items = json.loads(args.json_file.read_text(encoding="utf-8"))
    with _factory()() as session, session.begin():
        report = replace_list(session, args.district, items, source=f"import:{args.json_file.name}")
    print(json.dumps(report, ensure_ascii=False))
    return 0

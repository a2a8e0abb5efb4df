"""``gridmap incidents``: report one incident (or a file of them) with the API's answer, the dispatch queue,
categories, overdue incidents, automatic escalation, escalation receivers and KPIs from the command line."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

from gis.errors import GridmapError

CHANNELS = "phone 电话 | hotline_12345 12345热线 | visit 来访 | grid_worker 网格员 | app App"


def register(sub) -> None:
    """Add ``incidents report|queue|categories|overdue|escalate-overdue|receivers|kpis``."""
    p = sub.add_parser("incidents", help="事件：上报、调度队列、类别、超期、自动上报、接收人、考核指标 (incidents: report, "
                                         "queue, categories, overdue, escalation, receivers, KPIs)")
    isub = p.add_subparsers(dest="incidents_command", metavar="ACTION")
    _register_report(isub)
    _register_queue(isub)

    cats = isub.add_parser("categories", help="事件类别、处置角色与时限 (categories, roles, deadlines)")
    cats.set_defaults(func=_categories)

    over = isub.add_parser("overdue", help="列出超期未结事件 (list overdue open incidents)")
    over.add_argument("--scope", default="", help="辖区编码前缀，默认全部 (area code prefix; default everything)")
    over.set_defaults(func=_overdue)

    esc = isub.add_parser("escalate-overdue", help="超期事件自动上报上级接收人（可定时运行）；未上报的说明原因 (escalate "
                                                   "every overdue incident one level, to its receiver; says why not)")
    esc.add_argument("--scope", default="", help="辖区编码前缀 (area code prefix)")
    esc.set_defaults(func=_escalate)

    rec = isub.add_parser("receivers", help="上报接收人：列出、检查缺口、从 CSV 导入 (escalation receivers: list, gaps, "
                                            "import)")
    rec.add_argument("--import", dest="import_file", type=Path, metavar="FILE.csv",
                     help="导入 CSV：level,area_code,duty,name,public_phone,unit,categories（类别以 ; 分隔，空=全部）"
                          "(import receivers; categories separated by ;, empty = every category)")
    rec.add_argument("--replace", action="store_true", help="导入前删除同一文件先前导入的接收人 (replace an earlier "
                                                            "import of the same file)")
    rec.add_argument("--scope", default="", help="辖区编码前缀 (area code prefix)")
    rec.set_defaults(func=_receivers)

    k = isub.add_parser("kpis", help="考核指标：网格/社区结案率按期间全部上报事件计 (KPIs over every incident reported)")
    k.add_argument("--by", choices=["grid", "community", "street", "month", "category"], default="community",
                   help="汇总层级 (group by; default community)")
    k.add_argument("--json", action="store_true", help="输出 JSON (print JSON)")
    k.set_defaults(func=_kpis)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _register_report(isub) -> None:
    r = isub.add_parser(
        "report", help="上报事件（与 POST /api/v1/incidents 同一答复）(report an incident: the API's answer)",
        description="上报一件事件（--lon --lat --category）或 --file 中的每一行，与 POST /api/v1/incidents 走同一流程：\n"
        "定位到网格、查重、派遣并保存，答复相同（--json 输出完整 JSON，否则一行摘要）。文件逐行保存，每行带幂等键\n"
        "（文件内容与行号，或 idempotency_key 列），重复运行不会重复保存。\n\n"
        "Reports one incident (--lon --lat --category) or every row of --file through the same intake as\n"
        "POST /api/v1/incidents: located, checked for duplicates, dispatched and stored, with the same answer\n"
        "(JSON with --json, else a summary). Rows of a file are stored one by one with an idempotency key (the\n"
        "file's content and row number, or its idempotency_key column): running it again stores nothing twice.\n\n"
        "例 example: gridmap incidents report --lon 102.1855 --lat 38.5015 --category 环境卫生 --channel phone",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--lon", type=float, help="经度 (longitude)")
    r.add_argument("--lat", type=float, help="纬度 (latitude)")
    r.add_argument("--crs", default="wgs84", help="坐标系 wgs84|cgcs2000|gcj02|bd09 (coordinate system)")
    r.add_argument("--category", help="事件类别编码或中文名，见 gridmap incidents categories (category)")
    r.add_argument("--description", help="事件描述 (description)")
    r.add_argument("--name", dest="reporter_name", help="上报人姓名（个人信息）(reporter's name; private)")
    r.add_argument("--phone", dest="reporter_phone", help="上报人电话（个人信息）(reporter's phone; private)")
    r.add_argument("--address", help="地址描述 (address)")
    r.add_argument("--channel", help=f"来源渠道 {CHANNELS}（默认不填，记为 api）(channel; default api)")
    r.add_argument("--key", help="Idempotency-Key：重试不重复保存 (a retry with the same key stores nothing twice)")
    r.add_argument("--file", type=Path, help="批量上报：CSV（列 lon,lat,category[,crs,description,reporter_name,"
                   "reporter_phone,address,channel,idempotency_key]）或 JSON 数组/JSON Lines (many reports)")
    r.add_argument("--out", type=Path, help="--file 时每行答复写入此 JSON Lines 文件 (answers of --file, one per line)")
    r.add_argument("--json", action="store_true", help="输出完整 JSON 答复 (print the whole JSON answer)")
    r.add_argument("--actor", default="gridmap incidents report", help="记入事件流转的操作人 (who, in the events)")
    r.set_defaults(func=_report)


def _register_queue(isub) -> None:
    q = isub.add_parser("queue", help="调度队列：待人工派遣优先，按最急或最新 (the dispatch queue, 待人工派遣 first)")
    q.add_argument("--scope", default="", help="辖区编码前缀，默认全部 (area code prefix; default everything)")
    q.add_argument("--state", nargs="+", help="状态，默认全部未结 (states; default every open one)")
    q.add_argument("--overdue", action="store_true", help="只看超期 (overdue only)")
    q.add_argument("--manual", action="store_true", help="只看待人工派遣 (waiting for a dispatcher only)")
    q.add_argument("--category", nargs="+", help="类别 (categories)")
    q.add_argument("--grid", help="网格编码或社区代码 (grid or community code)")
    q.add_argument("--channel", nargs="+", help=f"来源渠道 ({CHANNELS})")
    q.add_argument("--sort", choices=["urgent", "newest"], default="urgent", help="排序 (order; default urgent)")
    q.add_argument("--limit", type=int, default=50, help="条数 (rows; default 50)")
    q.add_argument("--json", action="store_true", help="输出 JSON，与 GET /api/v1/incidents/queue 相同 (print JSON)")
    q.set_defaults(func=_queue)


def _session():
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import DatabaseSettings

    return make_sessionmaker(make_engine(DatabaseSettings(), pool_size=1, max_overflow=0))()


# ------------------------------------------------------------------------------------------------ report
BODY_FIELDS = ("lon", "lat", "crs", "category", "description", "reporter_name", "reporter_phone", "address",
               "channel")


def _summary(answer: dict) -> str:
    i = answer["incident"]
    d = i["dispatch"]
    grid = answer["grid"] or {}
    who = d["name"] or d["unit"] or "待人工派遣 (waits for a dispatcher)"
    dup = f"，与 #{i['duplicate_of']} 重复 (duplicate)" if i.get("duplicate_of") else ""
    near = f"，附近同类 {len(i['duplicates'])} 件 (nearby)" if i.get("duplicates") else ""
    return (f"#{i['id']} {i['category_zh']} → 网格 {grid.get('code') or '-'} {grid.get('name') or ''}；"
            f"派给 {who}（{d['rule']}）：{d['reason']}；时限 {i['due_at'] or '-'}{dup}{near}")


def _report_one(args) -> int:
    from layers.incidents import create_incident

    if args.lon is None or args.lat is None or not args.category:
        print("错误 (error): 须给出 --lon --lat --category，或 --file (give --lon --lat --category, or --file)",
              file=sys.stderr)
        return 2
    body = {k: getattr(args, k) for k in BODY_FIELDS}
    with _session() as s:
        answer, replayed, _ = create_incident(s, body, idempotency_key=args.key, actor=args.actor)
        s.commit()
    print(json.dumps(answer, ensure_ascii=False, indent=2) if args.json else
          ("（重试，未重复保存 replayed）" if replayed else "") + _summary(answer))
    return 0


def _rows(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        return [dict(r) for r in csv.DictReader(text.splitlines())]
    stripped = text.lstrip()
    if stripped.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _body(row: dict, args) -> dict:
    body = {k: (row.get(k) if row.get(k) not in ("", None) else None) for k in BODY_FIELDS}
    for k in ("lon", "lat"):
        if isinstance(body[k], str):
            try:
                body[k] = float(body[k])
            except ValueError:
                pass  # the intake refuses it with its own message
    body["crs"] = body["crs"] or args.crs
    body["channel"] = body["channel"] or args.channel
    return body


def _report_file(args) -> int:
    from layers.incidents import create_incident
    from scripts.progress import Progress

    rows = _rows(args.file)
    digest = hashlib.sha256(args.file.read_bytes()).hexdigest()[:16]
    stored = replayed = failed = 0
    out = args.out.open("w", encoding="utf-8") if args.out else None
    try:
        with _session() as s, Progress(f"上报 {args.file.name} (reporting)", total=len(rows)) as bar:
            for k, row in enumerate(rows, start=1):
                key = row.get("idempotency_key") or f"file:{digest}:{k}"
                try:
                    answer, again, _ = create_incident(s, _body(row, args), idempotency_key=key, actor=args.actor)
                    s.commit()  # each row on its own: an accepted report is never lost to a later bad row
                    replayed += again
                    stored += not again
                    line = {"row": k, "replayed": again, **answer}
                except GridmapError as exc:
                    s.rollback()
                    failed += 1
                    line = {"row": k, "error": {"code": exc.code, "message": exc.message}}
                    print(f"第 {k} 行 (row {k}): {exc.message}", file=sys.stderr)
                if out:
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
                bar.advance()
    finally:
        if out:
            out.close()
    print(f"已保存 {stored} 件，重试未重复 {replayed} 件，失败 {failed} 行 (stored, replayed, failed)")
    return 1 if failed else 0


def _report(args) -> int:
    return _report_file(args) if args.file else _report_one(args)


# ------------------------------------------------------------------------------------------------ queue
def _queue(args) -> int:
    from usecases.dispatch import check_filter, incident_queue

    flt = check_filter(states=args.state, overdue=True if args.overdue else None,
                       manual=True if args.manual else None, categories_=args.category, grid=args.grid,
                       channels=args.channel)
    with _session() as s:
        out = incident_queue(s, flt, scope=args.scope, sort=args.sort, limit=args.limit)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for x in out["items"]:
        flag = "待人工派遣 " if x["manual"] else ("超期 " if x["overdue"] else "")
        who = (x["assignee"] or {}).get("name") or x["assignee_unit"] or "-"
        grid = (x["grid"] or {}).get("code") or x["community_code"] or "-"
        print(f"#{x['id']:<7} {flag}{x['category_zh']:<6} {x['state_zh']:<3} {x['level_zh']:<4} {grid:<16} "
              f"{who:<12} 时限 {x['due_at'] or '-'}")
    print(f"共 {out['count']} 件，超期 {out['overdue']}，待人工派遣 {out['manual']} (matched, overdue, manual)")
    return 0


# ------------------------------------------------------------------------------------- the other actions
def _categories(args) -> int:
    from layers.incidents import categories

    for c in categories().values():
        flag = " 敏感(sensitive)" if c.sensitive else ""
        street = " 包街" if c.street_duty else ""
        print(f"{c.code:<18} {c.zh:<6} → {c.role.zh:<6} {c.deadline_h:>5g} h{flag}{street}")
    return 0


def _overdue(args) -> int:
    from layers.incidents import query, utcnow

    now = utcnow()
    with _session() as s:
        rows = query(s, overdue=True, scope=args.scope, limit=100_000, now=now)
    rows.sort(key=lambda r: r[0].due_at)
    for i, d in rows:
        late_h = (now - i.due_at).total_seconds() / 3600
        print(f"#{i.id:<7} {i.category:<16} {i.state:<11} {i.level:<10} {i.grid_code or d.community_code or '-':<16}"
              f" 超期 {late_h:.1f} h (overdue)")
    print(f"共 {len(rows)} 件超期 (overdue incidents)")
    return 0


def _escalate(args) -> int:
    from layers.incident_flow import escalate_overdue

    with _session() as s:
        moved = escalate_overdue(s, actor="gridmap incidents escalate-overdue", scope=args.scope)
        s.commit()
    for x in moved:
        if x["escalated"]:
            who = (x.get("receiver") or {}).get("name") or "待人工派遣 (no receiver: manual)"
            print(f"#{x['id']:<7} {x['from_level']} → {x['to_level']}，接收人 {who}")
        else:
            print(f"#{x['id']:<7} 未上报 (not escalated)：{x['reason']}")
    print(f"已上报 {sum(x['escalated'] for x in moved)} 件，未上报 {sum(not x['escalated'] for x in moved)} 件 "
          "(escalated, not escalated)")
    return 0


def _receivers(args) -> int:
    from layers import escalation
    from layers.incidents import categories

    with _session() as s:
        if args.import_file:
            rows = [{**r, "categories": [c for c in (r.get("categories") or "").split(";") if c]}
                    for r in csv.DictReader(args.import_file.read_text(encoding="utf-8-sig").splitlines())]
            n = escalation.add_receivers(s, rows, source=f"import:{args.import_file.name}", categories=categories(),
                                         replace=args.replace)
            s.commit()
            print(f"已导入 {n} 名接收人 (receivers imported)")
        for r in escalation.list_receivers(s, scope=args.scope):
            cats = "、".join(r["categories"]) or "全部类别 (all)"
            print(f"{r['level_zh']:<4} {r['area_code']} {r['area_name'] or '':<10} {r['duty']:<10} {r['name']:<6} "
                  f"{r['public_phone'] or '-':<14} {cats}")
        gaps = escalation.receiver_gaps(s, categories=categories())
    for g in gaps:
        print(f"缺口 (gap): {g['level_zh']} {g['area_code']} 无接收人的类别 {', '.join(g['missing_categories'])}")
    print(f"缺口 {len(gaps)} 处 (areas where an escalation would wait for a dispatcher)")
    return 0


def _kpis(args) -> int:
    from layers.incident_kpis import kpis

    with _session() as s:
        out = kpis(s, args.by)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0

    def pct(v) -> str:
        return "-" if v is None else f"{v:.0%}"

    for r in out["rows"]:
        med = "-" if r["median_handling_h"] is None else f"{r['median_handling_h']:.1f} h"
        target = "达标" if r["meets_target"] else "未达标"
        print(f"{r[args.by] or '-':<16} {r['name']:<12} 上报 {r['total']:>5}  网格/社区结案率 {pct(r['low_level_rate']):>5}"
              f"（{target}）未结 {r['open']:>4}  超期 {r['overdue_open']:>4}  上交 {r['escalated']:>4}  "
              f"按时率 {pct(r['on_time_rate']):>5}  中位用时 {med}")
    o = out["overall"]
    if o:
        print(f"合计 上报 {o['total']}，网格/社区结案率 {pct(o['low_level_rate'])}（÷ 全部上报 of every report），"
              f"目标 (target) ≥ {out['target_low_level_rate']:.0%}")
    return 0

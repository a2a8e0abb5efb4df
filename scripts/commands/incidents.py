"""``gridmap incidents``: categories, overdue incidents, automatic escalation and KPIs from the command line."""

from __future__ import annotations

import json


def register(sub) -> None:
    """Add ``incidents categories|overdue|escalate-overdue|kpis``."""
    p = sub.add_parser("incidents", help="事件：类别、超期、自动上报、考核指标 (incidents: categories, overdue, "
                                         "escalation, KPIs)")
    isub = p.add_subparsers(dest="incidents_command", metavar="ACTION")

    cats = isub.add_parser("categories", help="事件类别、处置角色与时限 (categories, roles, deadlines)")
    cats.set_defaults(func=_categories)

    over = isub.add_parser("overdue", help="列出超期未结事件 (list overdue open incidents)")
    over.add_argument("--scope", default="", help="辖区编码前缀，默认全部 (area code prefix; default everything)")
    over.set_defaults(func=_overdue)

    esc = isub.add_parser("escalate-overdue", help="超期事件自动上报上级（可定时运行）(escalate every overdue "
                                                   "incident one level; run it from cron)")
    esc.add_argument("--scope", default="", help="辖区编码前缀 (area code prefix)")
    esc.set_defaults(func=_escalate)

    k = isub.add_parser("kpis", help="考核指标 (KPIs)")
    k.add_argument("--by", choices=["grid", "community", "street", "month", "category"], default="community",
                   help="汇总层级 (group by; default community)")
    k.add_argument("--json", action="store_true", help="输出 JSON (print JSON)")
    k.set_defaults(func=_kpis)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _session():
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import DatabaseSettings

    return make_sessionmaker(make_engine(DatabaseSettings(), pool_size=1, max_overflow=0))()


def _categories(args) -> int:
    from layers.incidents import categories

    for c in categories().values():
        flag = " 敏感(sensitive)" if c.sensitive else ""
        print(f"{c.code:<18} {c.zh:<6} → {c.role.zh:<6} {c.deadline_h:>5g} h{flag}")
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
    from layers.incidents import escalate_overdue

    with _session() as s:
        moved = escalate_overdue(s, actor="gridmap incidents escalate-overdue", scope=args.scope)
        s.commit()
    for x in moved:
        print(f"#{x['id']:<7} {x['from_level']} → {x['to_level']}" + ("" if x["escalated"] else " （已在最高层级 at top)"))
    print(f"已上报 {sum(x['escalated'] for x in moved)} 件 (escalated)")
    return 0


def _kpis(args) -> int:
    from layers.incidents import kpis

    with _session() as s:
        out = kpis(s, args.by)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for r in out["rows"]:
        rate = "-" if r["low_level_rate"] is None else f"{r['low_level_rate']:.0%}"
        on_time = "-" if r["on_time_rate"] is None else f"{r['on_time_rate']:.0%}"
        med = "-" if r["median_handling_h"] is None else f"{r['median_handling_h']:.1f} h"
        print(f"{r[args.by]:<16} {r.get('name') or '':<12} 共 {r['total']:>5}  结案 {r['closed']:>5}  "
              f"网格/社区结案率 {rate:>5}  按时率 {on_time:>5}  中位用时 {med}")
    o = out["overall"]
    if o:
        print(f"合计 total {o['total']}，网格/社区结案率 (closed at grid/community) {o['low_level_rate']}，"
              f"目标 (target) ≥ {out['target_low_level_rate']:.0%}")
    return 0

"""Incident KPIs in SQL: the counts of :data:`gis.incident_kpis.COUNTS` per grid, community, street, month or
category of the incidents reported in a period (linked duplicates aside) and over all of them, in one grouped
statement (``GROUPING SETS``); :func:`gis.incident_kpis.kpi_row` turns each group's counts into its figures.
Every row is named (grid, community or street names; categories in Chinese; incidents outside every community in
a row that says so)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, case, func, select, true, tuple_
from sqlalchemy.orm import Session

from gis import incident_kpis as kpi_rules
from gis.domain import HandlingLevel, IncidentState
from layers import models
from layers.incidents import categories, category_or_none, scope_filter, utcnow
from layers.incidents_models import IncidentDetail

NO_AREA = {
    "grid": "无网格（社区兜底或未定位）(no grid: community fallback or not located)",
    "community": "未定位到社区 (not located in any community)",
    "street": "未定位到街道 (not located in any street)",
    "category": "未知类别 (unknown category)",
    "month": "—",
}
DEFINITION = ("网格/社区结案率 = 在网格或社区层级结案的事件 ÷ 期间上报的全部事件（含未结、超期、上交）"
              "(share solved at grid/community level = closed at grid or community level ÷ every incident reported "
              "in the period, open, overdue and escalated ones included)")


def _key(by: str):
    """The grouping key of ``by`` as a SQL expression."""
    i, d = models.Incident, IncidentDetail
    if by == "grid":
        return i.grid_code
    if by == "community":
        return func.coalesce(d.community_code, func.substr(i.grid_code, 1, 12))
    if by == "street":
        return func.coalesce(d.street_code, case((i.grid_code.isnot(None),
                                                   func.concat(func.substr(i.grid_code, 1, 9), "000"))))
    if by == "month":
        return func.to_char(func.timezone("UTC", i.created_at), "YYYY-MM")
    # category: rows written by other tools store the Chinese name; both count under the code
    names = {c.zh: c.code for c in categories().values()}
    return case(names, value=i.category, else_=i.category) if names else i.category


def _counts(i, now: dt.datetime) -> list:
    """One ``count(*) FILTER (…)`` per :data:`gis.incident_kpis.COUNTS` entry, and the median hours to close, over
    the columns ``i`` (state, level, grid_code, created_at, due_at, closed_at)."""
    closed = i.state == IncidentState.CLOSED.value
    rank = case(kpi_rules.LEVEL_RANK, value=i.level, else_=0)
    # the level an incident was reported at: its grid's, or the community's when it had no grid
    start = case((i.grid_code.is_(None), kpi_rules.LEVEL_RANK[HandlingLevel.COMMUNITY.value]), else_=0)
    flags = {
        "total": true(), "open": ~closed, "closed": closed, "overdue_open": and_(~closed, i.due_at < now),
        "escalated": rank > start, "above_community": rank > kpi_rules.LEVEL_RANK[HandlingLevel.COMMUNITY.value],
        "closed_at_grid": and_(closed, i.level == HandlingLevel.GRID.value),
        "closed_at_community": and_(closed, i.level == HandlingLevel.COMMUNITY.value),
        "closed_low_level": and_(closed, i.level.in_(kpi_rules.LOW_LEVELS)),
        "on_time": and_(closed, i.closed_at <= i.due_at),
    }
    assert set(flags) == set(kpi_rules.COUNTS)
    hours = func.extract("epoch", i.closed_at - i.created_at) / 3600.0
    return [func.count().filter(f).label(k) for k, f in flags.items()] + [
        func.percentile_cont(0.5).within_group(hours).filter(closed).label("median_h")]


def count_rows(session: Session, by: str, *, since: dt.datetime | None, until: dt.datetime | None,
               scope: str | None, now: dt.datetime) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Per key of ``by`` and over everything: the counts and the median, in one statement."""
    i, d = models.Incident, IncidentDetail
    where = [d.duplicate_of.is_(None), scope_filter(scope)]
    if since is not None:
        where.append(i.created_at >= since)
    if until is not None:
        where.append(i.created_at <= until)
    base = (select(_key(by).label("key"), i.state, i.level, i.grid_code, i.created_at, i.due_at, i.closed_at)
            .select_from(i).outerjoin(d, d.incident_id == i.id).where(*where).subquery("reported"))
    q = (select(base.c.key, func.grouping(base.c.key).label("is_total"), *_counts(base.c, now))
         .group_by(func.grouping_sets(tuple_(base.c.key), tuple_())))
    rows, total = [], None
    for r in session.execute(q).mappings():
        counts = {k: r[k] for k in kpi_rules.COUNTS}
        row = kpi_rules.kpi_row(counts, median_handling_h=r["median_h"])
        if r["is_total"]:
            total = row if row["total"] else None
        else:
            rows.append({by: r["key"], **row})
    rows.sort(key=lambda x: (x[by] is None, x[by] or ""))
    return rows, total


def _names(session: Session, by: str, keys: list[str]) -> dict[str, str]:
    """Names of the row keys: grids (the newest plan's name), areas, categories."""
    keys = [k for k in keys if k]
    if not keys:
        return {}
    if by == "grid":
        rows = session.execute(select(models.Grid.code, models.Grid.name).where(models.Grid.code.in_(keys))
                               .order_by(models.Grid.plan_id)).all()
        return {c: n for c, n in rows if n}
    if by in ("community", "street"):
        rows = session.execute(select(models.AdminArea.code, models.AdminArea.name).where(models.AdminArea.code.in_(keys))
                               .order_by(models.AdminArea.edition_year)).all()
        return {c: n for c, n in rows if n}
    if by == "category":
        return {k: c.zh for k in keys if (c := category_or_none(k))}
    return {k: k for k in keys}


def _fallback_name(by: str, key: str) -> str:
    what = {"grid": "网格", "community": "社区", "street": "街道", "category": "类别"}.get(by, "")
    return f"{what} {key}（名称未登记 no name on record）"


def kpis(session: Session, by: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
         scope: str | None = "", now: dt.datetime | None = None) -> dict[str, Any]:
    """KPIs by grid, community, street, month or category of the incidents reported between ``since`` and
    ``until`` within ``scope``: every row named, with the overall figures, the target and the definition."""
    now = now or utcnow()
    kpi_rules.check_by(by)
    rows, overall = count_rows(session, by, since=since, until=until, scope=scope, now=now)
    names = _names(session, by, [r[by] for r in rows])
    for r in rows:
        key = r[by]
        r["name"] = NO_AREA[by] if key is None else names.get(key) or _fallback_name(by, key)
    return {"by": by, "target_low_level_rate": kpi_rules.KPI_TARGET,
            "period": {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None},
            "definition": DEFINITION, "rows": rows, "overall": overall}

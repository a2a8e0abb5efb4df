"""Incident KPIs from PostGIS: one row per incident reported in the period (duplicates left out) into
:func:`gis.incident_kpis.kpi_table`, every row named (grid, community or street names; categories in Chinese;
incidents outside every community in a row of their own that says so)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from gis import incident_kpis as K
from gis.domain import HandlingLevel
from layers import models as m
from layers.incidents import category_or_none, scope_filter, utcnow
from layers.incidents_models import IncidentDetail

NO_AREA = {
    "grid": "无网格（社区兜底或未定位）(no grid: community fallback or not located)",
    "community": "未定位到社区 (not located in any community)",
    "street": "未定位到街道 (not located in any street)",
    "category": "未知类别 (unknown category)",
    "month": "—",
}


def _frame(session: Session, *, since: dt.datetime | None, until: dt.datetime | None,
           scope: str | None) -> pd.DataFrame:
    """One row per incident reported in the period within ``scope`` (duplicates left out)."""
    i, d = m.Incident, IncidentDetail
    community = func.coalesce(d.community_code, func.substr(i.grid_code, 1, 12))
    street = func.coalesce(d.street_code, case((i.grid_code.isnot(None),
                                                func.concat(func.substr(i.grid_code, 1, 9), "000"))))
    # the level an incident was reported at: its grid's, or the community's when it had no grid (community
    # fallback); escalation is every move above that
    start = case((i.grid_code.is_(None), HandlingLevel.COMMUNITY.value), else_=HandlingLevel.GRID.value)
    q = (select(i.grid_code, community, street, i.category, i.state, i.level, start, i.created_at, i.due_at,
                i.closed_at)
         .outerjoin(d, d.incident_id == i.id)
         .where(d.duplicate_of.is_(None), scope_filter(scope)))
    if since is not None:
        q = q.where(i.created_at >= since)
    if until is not None:
        q = q.where(i.created_at <= until)
    df = pd.DataFrame(session.execute(q).all(), columns=list(K.COLUMNS))
    codes = {v: (c.code if (c := category_or_none(v)) else v) for v in df["category"].unique()}
    df["category"] = df["category"].map(codes)
    return df


def _names(session: Session, by: str, keys: list[str]) -> dict[str, str]:
    """Names of the row keys: grids (the newest plan's name), areas, categories."""
    keys = [k for k in keys if k]
    if not keys:
        return {}
    if by == "grid":
        rows = session.execute(select(m.Grid.code, m.Grid.name).where(m.Grid.code.in_(keys))
                               .order_by(m.Grid.plan_id)).all()
        return {c: n for c, n in rows if n}
    if by in ("community", "street"):
        rows = session.execute(select(m.AdminArea.code, m.AdminArea.name).where(m.AdminArea.code.in_(keys))
                               .order_by(m.AdminArea.edition_year)).all()
        return {c: n for c, n in rows if n}
    if by == "category":
        return {k: c.zh for k in keys if (c := category_or_none(k))}
    return {k: k for k in keys}


def _fallback_name(by: str, key: str) -> str:
    what = {"grid": "网格", "community": "社区", "street": "街道", "category": "类别"}.get(by, "")
    return f"{what} {key}（名称未登记 no name on record）"


def kpis(session: Session, by: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
         scope: str | None = "", now: dt.datetime | None = None) -> dict[str, Any]:
    """KPIs by grid, community, street, month or category (see :func:`gis.incident_kpis.kpi_table`) of the
    incidents reported between ``since`` and ``until`` within ``scope``, every row named, with the overall
    figures and the target."""
    now = now or utcnow()
    K.check_by(by)
    df = _frame(session, since=since, until=until, scope=scope)
    rows = K.kpi_table(df, by, now=now)
    names = _names(session, by, [r[by] for r in rows])
    for r in rows:
        key = r[by]
        r["name"] = NO_AREA[by] if key is None else names.get(key) or _fallback_name(by, key)
    return {"by": by, "target_low_level_rate": K.KPI_TARGET,
            "period": {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None},
            "definition": "网格/社区结案率 = 在网格或社区层级结案的事件 ÷ 期间上报的全部事件（含未结、超期、上交）"
                          "(share solved at grid/community level = closed at grid or community level ÷ every "
                          "incident reported in the period, open, overdue and escalated ones included)",
            "rows": rows, "overall": K.overall(df, now=now)}

"""The data of the civic pages: the volunteers' page of a community and a district's matter list, with the
names of the areas they concern (several storage modules per page)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gis.domain import HOME_DISTRICT
from layers import matters, models, volunteers
from layers.volunteers_models import Activity

DEFAULT_DISTRICT = HOME_DISTRICT


def _area_name(session: Session, code: str) -> str | None:
    return session.scalar(select(models.AdminArea.name).where(models.AdminArea.code == code.ljust(12, "0"))
                          .order_by(models.AdminArea.edition_year.desc()).limit(1))


def volunteer_communities(session: Session) -> list[dict[str, str]]:
    """Communities that have volunteer activities, by code."""
    rows = session.execute(
        select(models.AdminArea.code, models.AdminArea.name).where(
            models.AdminArea.code.in_(select(Activity.community_code).distinct())).distinct().order_by(models.AdminArea.code)
    ).all()
    return [{"code": c, "name": n} for c, n in rows]


def volunteers_page_data(session: Session, community: str | None) -> dict[str, Any]:
    """Upcoming activities, the shelf and the leaderboard of ``community`` (default: the first with activities)."""
    communities = volunteer_communities(session)
    if community is None and communities:
        community = communities[0]["code"]
    if community is None:
        return {"communities": [], "community": None, "community_name": None, "activities": [], "rewards": [],
                "leaderboard": []}
    return {
        "communities": communities, "community": community, "community_name": _area_name(session, community),
        "activities": volunteers.list_activities(session, unit=community, upcoming=True),
        "rewards": volunteers.list_rewards(session, unit=community),
        "leaderboard": volunteers.leaderboard(session, community),
    }


def matters_page_data(session: Session, district: str | None, kind: str | None) -> dict[str, Any]:
    """A district's list (all kinds, or one) with the counts per kind."""
    from gis.matters import MatterKind

    district = district or DEFAULT_DISTRICT
    every = matters.list_items(session, district)
    return {
        "district": district, "district_name": _area_name(session, district), "kind": kind,
        "kinds": [{"kind": k.value, "zh": k.zh} for k in MatterKind],
        "by_kind": {k.value: sum(r["kind"] == k.value for r in every) for k in MatterKind},
        "items": [r for r in every if kind is None or r["kind"] == kind],
    }


def staff_setup(session: Session, *, unit: str | None) -> dict[str, Any]:
    """What the civic staff desk (``/maps/civic``) needs before its first request: the grids of the user's area
    with this month's visit coverage, their communities with names, and the lists its forms choose from
    (六提六知, incident and service categories, ledger kinds, the six steps and the moves between them, council
    roles). ``unit`` is the area code prefix (None: everywhere)."""
    from gis.deliberation import COUNCIL_ROLES, TOPIC_MOVES, TopicStep
    from gis.incidents import CATEGORIES
    from gis.services import LEDGER_KINDS, SERVICE_CATEGORIES
    from gis.visits import DEFAULT_STALE_DAYS, Know
    from layers import visits

    grids = visits.coverage(session, unit=unit)
    codes = sorted({g["community_code"] for g in grids if g["community_code"]})
    names = dict(session.execute(
        select(models.AdminArea.code, models.AdminArea.name).where(models.AdminArea.code.in_(codes))
        .order_by(models.AdminArea.edition_year)).all()) if codes else {}
    return {
        "month": grids[0]["month"] if grids else None,
        "grids": [{"code": g["grid_code"], "name": g["grid_name"], "community": g["community_code"],
                   "households": g["households"], "visited": g["visited_households"], "share": g["share"]}
                  for g in grids],
        "communities": [{"code": c, "name": names.get(c, c)} for c in codes],
        "knows": [{"code": k.value, "zh": k.zh} for k in Know],
        "incidentCategories": [{"code": c.code, "zh": c.zh} for c in CATEGORIES.values()],
        "orderCategories": [{"code": c.code, "zh": c.zh} for c in SERVICE_CATEGORIES.values()],
        "ledgerKinds": [{"code": k, "zh": v["zh"]} for k, v in LEDGER_KINDS.items()],
        "steps": [{"code": s.value, "zh": s.zh, "next": sorted(t.value for t in TOPIC_MOVES[s])} for s in TopicStep],
        "roles": {r.code: f"{r.zh}（{r.group}）" for r in COUNCIL_ROLES},
        "staleDays": DEFAULT_STALE_DAYS,
    }

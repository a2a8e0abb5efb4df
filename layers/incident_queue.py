"""The dispatch queue in SQL: incidents of a scope filtered by state, overdue, 待人工派遣, category, grid and
channel, sorted newest or most urgent first (the 待人工派遣 ones always first), one page of light rows plus the
counts of the whole match — one statement, one round trip.

Linked duplicates are left out (they follow their first report). Rows carry no reporter: the queue needs no
personal data, so reading it is not audited (the incident's own page is).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, false, func, not_, or_, select, true
from sqlalchemy.orm import Session

from gis import incidents as rules
from gis.domain import IncidentState, area_prefix
from layers import models
from layers.incidents import categories
from layers.incidents_models import IncidentDetail

SORTS = ("urgent", "newest")
"""``urgent``: the earliest deadline first (overdue ones lead); ``newest``: the latest report first."""


@dataclass(frozen=True)
class QueueFilter:
    """What the dispatcher asked for; every field narrows the queue (empty = no narrowing). ``states`` empty
    means every open state; ``grid`` is a grid code (15 digits) or a community code (12 digits)."""

    states: tuple[str, ...] = ()
    overdue: bool | None = None
    manual: bool | None = None
    categories: tuple[str, ...] = ()
    grid: str | None = None
    channels: tuple[str, ...] = ()


@dataclass
class QueuePage:
    """One page of the queue and the counts of everything that matched."""

    rows: list[dict[str, Any]]
    total: int = 0
    overdue: int = 0
    manual: int = 0


def _handed_to_units():
    """Incidents handed to a unit rather than a person (a 包街 unit, an escalation's unit): few, read from
    ``ix_incident_details_with_unit``."""
    d = IncidentDetail
    return select(d.incident_id).where(d.assignee_unit.isnot(None), d.assignee_unit != "").subquery("units")


def _linked_duplicates():
    """Reports linked to a first one (they follow it): few, read from ``ix_incident_details_duplicates``."""
    d = IncidentDetail
    return select(d.incident_id).where(d.duplicate_of.isnot(None)).subquery("dups")


def _in_area(prefix: str):
    """Incidents whose grid code starts with ``prefix``, or (no grid: community fallback) whose community does."""
    i, d = models.Incident, IncidentDetail
    return or_(i.grid_code.like(prefix + "%"),
               and_(i.grid_code.is_(None), i.id.in_(select(d.incident_id).where(d.community_code.like(prefix + "%")))))


def _in_scope(scope: str | None):
    if scope is None:
        return false()
    return true() if scope == "" else _in_area(area_prefix(scope))


def _category_values(codes: tuple[str, ...]) -> list[str]:
    """Stored values of the categories: their codes and (rows written by other tools) their Chinese names."""
    table = categories()
    out: list[str] = []
    for c in codes:
        cat = rules.category_of(c, table)
        out += [cat.code, cat.zh]
    return out


def _where(flt: QueueFilter, *, scope: str | None, overdue, manual) -> list:
    """The filter, on ``incidents`` alone (details are read through small semi- and anti-joins)."""
    i, d = models.Incident, IncidentDetail
    where = [_in_scope(scope)]
    where.append(i.state.in_(flt.states) if flt.states else i.state != IncidentState.CLOSED.value)
    if flt.overdue is not None:
        where.append(overdue if flt.overdue else not_(overdue))
    if flt.manual is not None:
        where.append(manual if flt.manual else not_(manual))
    if flt.categories:
        where.append(i.category.in_(_category_values(flt.categories)))
    if flt.grid:
        where.append(i.grid_code == flt.grid if len(flt.grid) == 15 else _in_area(flt.grid))
    if flt.channels:
        where.append(i.id.in_(select(d.incident_id).where(d.channel.in_(flt.channels))))
    return where


def _order(sort: str, c) -> list:
    """The queue's order over columns ``c`` (manual, overdue, due_at, created_at, id): 待人工派遣 first."""
    if sort == "newest":
        return [c.manual.desc(), c.created_at.desc(), c.id.desc()]
    return [c.manual.desc(), c.overdue.desc(), c.due_at.asc().nulls_last(), c.created_at.desc(), c.id.desc()]


def _matched(flt: QueueFilter, *, scope: str | None, now: dt.datetime):
    """Every incident that matches, as narrow rows (id and the sort keys): computed once, read twice. Open
    incidents come from the partial index ``ix_incidents_queue_open`` alone."""
    i = models.Incident
    units, dups = _handed_to_units(), _linked_duplicates()
    is_open = i.state != IncidentState.CLOSED.value
    overdue = and_(is_open, func.coalesce(i.due_at < now, False))
    manual = and_(is_open, i.assignee_id.is_(None), units.c.incident_id.is_(None))
    return (select(i.id, manual.label("manual"), overdue.label("overdue"), i.due_at, i.created_at)
            .select_from(i).outerjoin(units, units.c.incident_id == i.id).outerjoin(dups, dups.c.incident_id == i.id)
            .where(dups.c.incident_id.is_(None), *_where(flt, scope=scope, overdue=overdue, manual=manual))
            .cte("matched"))


def queue_page(session: Session, flt: QueueFilter, *, scope: str | None, sort: str = "urgent", limit: int = 50,
               offset: int = 0, now: dt.datetime) -> QueuePage:
    """One page of the queue of ``scope`` (``""`` everything, ``None`` nothing) and the counts of the match.

    One statement: the match as narrow rows (id, sort keys), its counts, and the page's ids sorted and cut
    there; only the page's rows are then joined to their details, people and coordinates."""
    i, d = models.Incident, IncidentDetail
    matched = _matched(flt, scope=scope, now=now)
    counts = select(func.count().label("n_total"), func.count().filter(matched.c.overdue).label("n_overdue"),
                    func.count().filter(matched.c.manual).label("n_manual")).select_from(matched).cte("counts")
    page = select(matched).order_by(*_order(sort, matched.c)).limit(limit).offset(offset).cte("page")
    community = func.coalesce(d.community_code, func.substr(i.grid_code, 1, 12))
    q = (
        select(counts.c.n_total, counts.c.n_overdue, counts.c.n_manual, i.id, i.category, i.state, i.level,
               i.grid_code, i.assignment["grid"]["name"].astext.label("grid_name"), community.label("community_code"),
               i.created_at, i.due_at, i.assignee_id, models.Person.name.label("assignee_name"), d.assignee_unit, d.channel,
               func.ST_X(i.geom).label("lon"), func.ST_Y(i.geom).label("lat"),
               func.left(i.description, 60).label("summary"), page.c.overdue, page.c.manual)
        .select_from(counts).outerjoin(page, true()).outerjoin(i, i.id == page.c.id)
        .outerjoin(d, d.incident_id == i.id).outerjoin(models.Person, models.Person.id == i.assignee_id)
        .order_by(*_order(sort, page.c))
    )
    rows = [dict(r._mapping) for r in session.execute(q).all()]
    first = rows[0]
    found = [{k: v for k, v in r.items() if not k.startswith("n_")} for r in rows if r["id"] is not None]
    return QueuePage(rows=found, total=int(first["n_total"]), overdue=int(first["n_overdue"]),
                     manual=int(first["n_manual"]))

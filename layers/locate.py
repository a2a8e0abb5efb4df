"""Locate a point in the grids of a plan, and the same lookup in SQL over subdivided copies (the peer of the
benchmark and a cross-check in tests).

``locate(session, lon, lat, ...)`` is the one call behind ``GET /api/v1/locate`` and ``POST /api/v1/incidents``:
it answers with the grid (and its community, street and county), the people responsible, the plan generation
and how the assignment was made, from the plan's in-memory locator (:mod:`layers.plan_locator`).
:mod:`layers.locate_batch` runs the same engine on arrays, for batches and the CLI.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from gis.coords import CRS, check_lonlat, parse_crs, to_wgs84
from gis.domain import GridKind, StaffRole
from gis.errors import InvalidInput
from gis.locate import DEFAULT_NEAREST_M, DEFAULT_TOLERANCE_M, AssignMethod
from layers import models
from layers.data_versions import VersionedCache, table_versions, versions_of
from layers.locate_batch import (
    answers_table,
    check_lonlat_arrays,
    invalid_rows_error,
    locate_many,
    locate_table,
    to_wgs84_rows,
)
from layers.locate_models import GridSubdivided, GridSubdividedState
from layers.plan_locator import (
    _LOCATORS,
    LOCATOR_TABLES,
    PlanLocator,
    build_plan_locator,
    plan_locator,
    resolve_plan,
)

# the batch functions and the plan locator live in their own modules (a one-batch command imports no ORM models);
# their names stay importable from here
__all__ = ["LOCATOR_TABLES", "PlanLocator", "answers_table", "build_plan_locator", "check_accuracy",
           "check_lonlat_arrays", "invalid_rows_error", "locate", "locate_many", "locate_table", "plan_locator",
           "refresh_subdivided", "resolve_plan", "responsible_people", "sql_covering_grids", "to_wgs84_rows"]

MAX_ACCURACY_M = 5000.0
SUBDIVIDE_VERTICES = 64


def _valid_on(model, on: dt.date):
    return and_(or_(model.valid_from.is_(None), model.valid_from <= on),
                or_(model.valid_to.is_(None), model.valid_to >= on))


# ----------------------------------------------------------------------------------------------- answers
def _area(pl: PlanLocator, code: str | None) -> dict[str, str | None] | None:
    if not code:
        return None
    return {"code": code, "name": pl.area_names.get(code)}


def _areas_of(pl: PlanLocator, community_code: str | None) -> dict[str, Any]:
    if not community_code:
        return {"community": None, "street": None, "county": None}
    return {"community": _area(pl, community_code), "street": _area(pl, community_code[:9] + "000"),
            "county": _area(pl, community_code[:6] + "000000")}


def _contacts_query(on: dt.date):
    return (select(models.StaffAssignment.grid_code, models.StaffAssignment.community_code, models.Person.id,
                   models.StaffAssignment.role, models.Person.name, models.Person.public_phone)
            .join(models.Person, models.Person.id == models.StaffAssignment.person_id)
            .where(_valid_on(models.StaffAssignment, on), models.StaffAssignment.building_id.is_(None),
                   models.StaffAssignment.stairwell_id.is_(None))
            .order_by(models.StaffAssignment.role, models.Person.name))


Contacts = dict[tuple[str, str], list[tuple[int, str, str, str | None]]]
"""(person id, role, name, public phone) of the people serving each ``("grid", code)`` and each
``("community", code)`` (a community's own staff: no grid), by role and name."""


def _contact_rows(rows) -> Contacts:
    out: Contacts = {}
    for grid_code, community_code, person_id, role, name, phone in rows:
        key = ("grid", grid_code) if grid_code else ("community", community_code) if community_code else None
        if key is not None:
            out.setdefault(key, []).append((int(person_id), role, name, phone))
    return out


# Every public contact of a day, kept per process until an assignment or a person changes (in any process); a
# locate (and an intake's dispatch) answers from it without a query of its own.
CONTACT_TABLES = ("staff_assignments", "people")
_CONTACTS: VersionedCache[Contacts] = VersionedCache("public contacts", CONTACT_TABLES)


def contacts(session: Session, *, on: dt.date | None = None, seen=None) -> Contacts:
    """The people serving every grid and community on ``on`` (today: from the per-process cache; ``seen``: its
    tables' versions, see :func:`layers.data_versions.versions_of`). Private phones are never read."""
    today = dt.date.today()
    if on is not None and on != today:
        return _contact_rows(session.execute(_contacts_query(on)).all())
    return _CONTACTS.get(session, today, lambda: _contact_rows(session.execute(_contacts_query(today)).all()),
                         seen=seen)


def _public(people) -> list[dict[str, Any]]:
    labels = StaffRole.labels()
    return [{"role": r, "role_zh": labels.get(r, r), "name": n, "public_phone": p} for _, r, n, p in people]


def responsible_people(session: Session, *, grid_code: str | None = None, community_code: str | None = None,
                       on: dt.date | None = None) -> list[dict[str, Any]]:
    """Public contacts of a grid (by its stable code) or of a community's own staff: role, name, public phone."""
    if grid_code:
        key = ("grid", grid_code)
    elif community_code:
        key = ("community", community_code)
    else:
        return []
    return _public(contacts(session, on=on).get(key, []))


def check_accuracy(accuracy_m: float | None) -> float | None:
    """Refuse an accuracy that is not a positive number of metres up to :data:`MAX_ACCURACY_M`."""
    if accuracy_m is None:
        return None
    a = float(accuracy_m)
    if not (np.isfinite(a) and 0 < a <= MAX_ACCURACY_M):
        raise InvalidInput(f"accuracy_m 须在 (0, {MAX_ACCURACY_M:g}] 米之内 (accuracy_m must be in metres, "
                           f"above 0 and at most {MAX_ACCURACY_M:g})", detail={"accuracy_m": accuracy_m})
    return a


def wgs84_point(lon: float, lat: float, *, crs: str | CRS | None = "wgs84") -> tuple[float, float]:
    """The WGS84 point a locate answers for (``point`` of its answer), with the same checks and errors."""
    c = parse_crs(crs)
    lon, lat = float(lon), float(lat)
    check_lonlat(lon, lat)
    wlon, wlat = (float(v) for v in to_wgs84(lon, lat, c))
    return round(wlon, 8), round(wlat, 8)


def locate(session: Session, lon: float, lat: float, *, crs: str | CRS | None = "wgs84",
           accuracy_m: float | None = None, plan_id: int | None = None, streets: bool = True,
           clean: bool = False, seen_contacts: list | None = None, seen_plan: list | None = None) -> dict[str, Any]:
    """Assign one point to a grid of the plan in force (or ``plan_id``); nothing is stored. ``streets=False``
    sets the 包街 segments aside (see :meth:`gis.locate.Locator.locate_one`). ``clean``: the caller's transaction
    has written nothing (see :func:`layers.data_versions.versions_of`). ``seen_contacts``: a list that gets the
    :data:`Contacts` the answer's people came from (an intake dispatches from the same); ``seen_plan``: a list
    that gets the :class:`~layers.plan_locator.PlanLocator` it answered from (an intake takes a sensitive
    report's public point, its grid's centroid, from the same).

    Raises :class:`InvalidCoordinates` (out of range, outside China, lon/lat swapped), :class:`UnknownCRS`,
    :class:`InvalidInput` (accuracy) and :class:`NotFound` (unknown ``plan_id``). With no plan published the
    answer is ``unassigned`` with that reason.
    """
    c = parse_crs(crs)
    lon, lat = float(lon), float(lat)
    check_lonlat(lon, lat)
    accuracy_m = check_accuracy(accuracy_m)
    wlon, wlat = (float(v) for v in to_wgs84(lon, lat, c))
    # one versions read for both caches, shared with other requests when the caller has written nothing (clean)
    seen_locator, seen_cts = versions_of(session, _LOCATORS, _CONTACTS, clean=clean)
    pl = plan_locator(session, plan_id, seen=seen_locator)
    if seen_plan is not None:
        seen_plan.append(pl)
    res = pl.locator.locate_one(wlon, wlat, accuracy_m=accuracy_m, streets=streets)
    grid = None
    community_code = None
    if res["grid"] is not None:
        g = res["grid"]
        community_code = pl.grid_communities[g]
        grid = {"id": int(pl.grid_ids[g]), "code": pl.grid_codes[g], "name": pl.grid_names[g],
                "kind": pl.grid_kinds[g], **_areas_of(pl, community_code)}
    elif res["community"] is not None:
        community_code = pl.community_codes[res["community"]]
    method: AssignMethod = res["method"]
    unit = None
    street = None
    if res["street"] is not None:
        s = res["street"]
        unit = pl.street_units[s]
        street = {"id": int(pl.street_ids[s]), "name": pl.street_names[s], "unit": unit,
                  "categories": pl.street_categories[s]}
    every = contacts(session, seen=seen_cts)
    if seen_contacts is not None:
        seen_contacts.append(every)
    people = _public(every.get(("grid", grid["code"]) if grid is not None else ("community", community_code), []))
    reason = res["reason"] if pl.plan_id is not None else "没有现行网格方案 (no grid plan is in force)"
    return {
        "input": {"lon": lon, "lat": lat, "crs": c.value},
        "point": {"lon": round(wlon, 8), "lat": round(wlat, 8)},
        "grid": grid,
        "community": _areas_of(pl, community_code)["community"] if grid is None else grid["community"],
        "street_responsibility": street,
        "responsible": {"unit": unit, "people": people},
        "plan": {"id": pl.plan_id, "generation": pl.generation},
        "assignment": {
            "method": method.value,
            "method_zh": method.zh,
            "on_boundary": res["on_boundary"],
            "tied_codes": [pl.grid_codes[i] for i in res["tied"]],
            "candidates": None if res["candidates"] is None else [
                {"code": pl.grid_codes[i], "distance_m": round(d, 2)} for i, d in res["candidates"]],
            "distance_m": None if res["distance_m"] is None else round(res["distance_m"], 2),
            "flagged": res["flagged"],
            "reason": reason,
            "tolerance_m": DEFAULT_TOLERANCE_M,
            "nearest_max_m": DEFAULT_NEAREST_M,
        },
    }


# --------------------------------------------------------------------------------- the same lookup in SQL
def refresh_subdivided(session: Session, plan_id: int, *, force: bool = False) -> int:
    """Cut a plan's grids into ``ST_Subdivide`` pieces (MapIt style) unless they are current; the piece count."""
    grids = table_versions(session, ["grids"])
    fp = f"plan {plan_id} grids {grids.text()}"
    state = session.get(GridSubdividedState, plan_id)
    if state is not None and state.fingerprint == fp and not force and not grids.dirty:
        return state.pieces
    session.execute(GridSubdivided.__table__.delete().where(GridSubdivided.plan_id == plan_id))
    session.execute(text(
        "INSERT INTO grid_subdivided (plan_id, grid_id, code, kind, geom) "
        "SELECT plan_id, id, code, kind, ST_Subdivide(ST_CollectionExtract(ST_MakeValid(geom), 3), :n) FROM grids WHERE plan_id = :p"
    ).bindparams(n=SUBDIVIDE_VERTICES, p=plan_id))
    # ST_Subdivide of a made-valid polygon yields polygons only; keep the column's type honest anyway.
    session.execute(text("DELETE FROM grid_subdivided WHERE plan_id = :p AND GeometryType(geom) <> 'POLYGON'")
                    .bindparams(p=plan_id))
    pieces = session.scalar(select(func.count()).select_from(GridSubdivided).where(GridSubdivided.plan_id == plan_id))
    if state is None:
        session.add(GridSubdividedState(plan_id=plan_id, fingerprint=fp, pieces=pieces))
    else:
        state.fingerprint, state.pieces, state.refreshed_at = fp, pieces, dt.datetime.now(dt.timezone.utc)
    session.flush()
    return int(pieces or 0)


def sql_covering_grids(session: Session, lon: float, lat: float, *, plan_id: int | None = None) -> list[str]:
    """Codes of the grids that cover a WGS84 point, by PostGIS over subdivided pieces: exclusive grids first,
    then by code — the order of precedence and tie-break of the in-memory locator (without its tolerance)."""
    plan_id, _ = resolve_plan(session, plan_id)
    if plan_id is None:
        return []
    refresh_subdivided(session, plan_id)
    pt = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    rows = session.execute(
        select(GridSubdivided.code, GridSubdivided.kind).distinct()
        .where(GridSubdivided.plan_id == plan_id, func.ST_Covers(GridSubdivided.geom, pt))
    ).all()
    return [code for code, kind in sorted(rows, key=lambda r: (r[1] != GridKind.EXCLUSIVE.value, r[0]))]

"""Incidents in PostGIS: intake (locate, dispatch, duplicates and idempotency in one transaction), its dry run
for the workbench (:func:`preview_incident`), the three views of an incident (public, staff, private), lists and
events.

Intake reads as named steps: :func:`parse_intake` (check the body, nothing read) → :func:`decide` (locate the
point, find duplicates, pick who handles it and why) → :func:`_store` (one incident, its details and its first
event). The rules are in :mod:`gis.incidents`; the lifecycle is :mod:`layers.incident_flow`, the KPIs
:mod:`layers.incident_kpis`. Callers commit.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

from sqlalchemy import func, literal, or_, select, text
from sqlalchemy.orm import Session

from gis import incidents as rules
from gis.domain import HandlingLevel, IncidentState, area_prefix
from gis.errors import InvalidInput, NotFound
from gis.text import check_web_url, web_url_or_none
from layers import locate as loc
from layers import models
from layers.db import PreparedStatement
from layers.incidents_models import IncidentDetail
from layers.plan_locator import PlanLocator
from layers.settings import IncidentSettings

View = Literal["public", "staff", "private"]
MAX_KEY = 200
PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{4,38}$")


_CATEGORIES: dict[str, rules.Category] | None = None


def categories(*, reload: bool = False) -> dict[str, rules.Category]:
    """The category table in force: the JSON file named by ``GRIDMAP_INCIDENT_CATEGORIES``, else
    :data:`gis.incidents.CATEGORIES`."""
    global _CATEGORIES
    if _CATEGORIES is None or reload:
        path = IncidentSettings().incident_categories
        if path:
            _CATEGORIES = rules.parse_categories(json.loads(Path(path).read_text(encoding="utf-8")))
        else:
            _CATEGORIES = dict(rules.CATEGORIES)
    return _CATEGORIES


def category_or_none(value: str | None) -> rules.Category | None:
    """The category of a stored code or Chinese name (rows written by other tools use names), else None."""
    try:
        return rules.category_of(value, categories())
    except InvalidInput:
        return None


def utcnow() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


def iso(t: dt.datetime | None) -> str | None:
    """ISO 8601 text of a time (None stays None)."""
    return t.isoformat() if t else None


# ------------------------------------------------------------------------------------------ staff and places
def staff_pool(session: Session, *, grid_code: str | None, community_code: str | None,
               on: dt.date | None = None,
               every: loc.Contacts | None = None) -> tuple[list[rules.Staff], list[rules.Staff]]:
    """The people serving the grid and the community's own staff (no grid), valid on ``on``: from ``every``
    (the contacts a locate answered from) or :func:`layers.locate.contacts`."""
    every = every if every is not None else loc.contacts(session, on=on)
    grid = [rules.Staff(pid, role, name) for pid, role, name, _ in every.get(("grid", grid_code), [])] \
        if grid_code else []
    community = [rules.Staff(pid, role, name)
                 for pid, role, name, _ in every.get(("community", community_code), [])] if community_code else []
    return grid, community


_GRID_CENTROID = PreparedStatement(
    "gridmap_grid_centroid", "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) AS c FROM grids WHERE id = :grid_id) g")
"""Run on every intake of a sensitive category: prepared, without SQLAlchemy's statement building."""


def centroid(session: Session, *, grid_id: int | None, community_code: str | None,
             plan: PlanLocator | None = None) -> tuple[float, float] | None:
    """The centroid of a grid, else of a community's polygon (the public point of a sensitive incident); a grid's
    from ``plan`` when it holds the grid (the locator the report was located with: no query)."""
    if plan is not None and grid_id in plan.grid_centroids:
        return plan.grid_centroids[grid_id]
    if grid_id is not None:
        rows = _GRID_CENTROID.rows(session, {"grid_id": grid_id})
        if rows:
            return float(rows[0][0]), float(rows[0][1])
    if community_code:
        row = session.execute(
            select(func.ST_X(func.ST_Centroid(models.AdminArea.geom)), func.ST_Y(func.ST_Centroid(models.AdminArea.geom)))
            .where(models.AdminArea.code == community_code, models.AdminArea.geom.isnot(None))
            .order_by(models.AdminArea.edition_year.desc()).limit(1)).first()
        if row:
            return float(row[0]), float(row[1])
    return None


def _degrees_around(lat: float, radius_m: float) -> dict[str, float]:
    """Half the width and height in degrees of a box holding every point within ``radius_m`` of a point at
    ``lat`` (with room to spare): the box lets the GiST index of ``incidents.geom`` find the candidates that
    the exact geography distance then checks."""
    cos = max(math.cos(math.radians(min(abs(lat), 89.0))), 1e-6)
    return {"dlat": radius_m / 110_000.0 * 1.05, "dlon": radius_m / (111_000.0 * cos) * 1.05}


def _nearby(session: Session, category: str, lon: float, lat: float, now: dt.datetime,
            radius_m: float = rules.SUGGEST_RADIUS_M) -> list[rules.Nearby]:
    """Open incidents of ``category`` within ``radius_m`` that are tasks themselves (not linked duplicates)."""
    pt = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    box = _degrees_around(lat, radius_m)
    geog = func.Geography(models.Incident.geom)
    rows = session.execute(
        select(models.Incident.id, models.Incident.state, models.Incident.created_at,
               func.ST_Distance(geog, func.Geography(pt)).label("d"))
        .outerjoin(IncidentDetail, IncidentDetail.incident_id == models.Incident.id)
        .where(models.Incident.category == category, models.Incident.state != IncidentState.CLOSED.value,
               IncidentDetail.duplicate_of.is_(None),
               models.Incident.geom.op("&&")(func.ST_Expand(pt, box["dlon"], box["dlat"])),
               func.ST_DWithin(geog, func.Geography(pt), radius_m))
        .order_by(text("d"), models.Incident.id)
    ).all()
    return [rules.Nearby(int(i), float(d), (now - c).total_seconds() / 3600.0, st) for i, st, c, d in rows]


# ------------------------------------------------------------------------------------------- intake: parse
INTAKE_FIELDS = ("category", "lon", "lat", "crs", "accuracy_m", "description", "reporter_name", "reporter_phone",
                 "reporter_email", "address", "media_url", "attributes", "channel")


@dataclass(frozen=True)
class Intake:
    """A report whose every field was checked; nothing was read or written yet."""

    body: dict[str, Any]
    category: rules.Category
    lon: float
    lat: float
    crs: str
    accuracy_m: float | None
    channel: rules.Channel
    description: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    reporter_email: str | None = None
    address: str | None = None
    media_url: str | None = None


def _check_reporter(name: str | None, phone: str | None) -> tuple[str | None, str | None]:
    name = rules.check_text(name, "reporter_name", 100)
    phone = rules.check_text(phone, "reporter_phone", 40)
    if phone and not PHONE_RE.match(phone):
        raise InvalidInput("联系电话格式不正确 (reporter_phone is not a phone number)", detail={"reporter_phone": "…"})
    return name, phone


def _check_point(body: dict[str, Any]) -> tuple[float, float, float | None]:
    if body["lon"] is None or body["lat"] is None:
        raise InvalidInput("须给出经纬度 lon 和 lat (lon and lat are required)")
    try:
        lon, lat = float(body["lon"]), float(body["lat"])
    except (TypeError, ValueError) as exc:
        raise InvalidInput("lon/lat 须为数字 (lon and lat must be numbers)") from exc
    acc = body["accuracy_m"]
    if acc is not None and not (isinstance(acc, (int, float)) and math.isfinite(acc)):
        raise InvalidInput("accuracy_m 须为有限的米数 (accuracy_m must be a finite number of metres)")
    return lon, lat, acc


def parse_intake(body: dict[str, Any], *, table: dict[str, rules.Category] | None = None,
                 channel: str = rules.Channel.API.value) -> Intake:
    """Check a report's body (category, texts, reporter, point, channel) without touching the database;
    :class:`InvalidInput` names the first bad field. ``channel`` is used when the body names none."""
    body = {k: body.get(k) for k in INTAKE_FIELDS}
    cat = rules.category_of(body["category"], table or categories())
    description = rules.check_text(body["description"], "description")
    name, phone = _check_reporter(body["reporter_name"], body["reporter_phone"])
    lon, lat, acc = _check_point(body)
    return Intake(
        body=body, category=cat, lon=lon, lat=lat, crs=body["crs"] or "wgs84", accuracy_m=acc,
        channel=rules.parse_channel(body["channel"], default=rules.parse_channel(channel)), description=description,
        reporter_name=name, reporter_phone=phone,
        reporter_email=rules.check_text(body["reporter_email"], "reporter_email", 200),
        address=rules.check_text(body["address"], "address", 300),
        media_url=check_web_url(body["media_url"], "media_url"),
    )


def check_key(key: str | None) -> str | None:
    """Refuse an ``Idempotency-Key`` that is empty or longer than 200 characters."""
    if key is None:
        return None
    k = key.strip()
    if not k or len(k) > MAX_KEY or not k.isprintable():
        raise InvalidInput(f"Idempotency-Key 须为 1–{MAX_KEY} 个可见字符 (Idempotency-Key must be 1–{MAX_KEY} "
                           "printable characters)")
    return k


def _replay(session: Session, key: str, h: str) -> tuple[dict[str, Any], int] | None:
    row = session.execute(
        select(models.Incident.id, IncidentDetail.request_hash, IncidentDetail.response)
        .join(IncidentDetail, IncidentDetail.incident_id == models.Incident.id)
        .where(models.Incident.idempotency_key == key)
    ).first()
    if row is None:
        return None
    return _replayed(int(row.id), row.request_hash, json.loads(row.response), h)


def _replayed(incident_id: int, request_hash: str, response: dict[str, Any], h: str) -> tuple[dict[str, Any], int]:
    """The first answer for a key, if this request is the same as the first (:class:`IdempotencyKeyReused`
    if not)."""
    if request_hash != h:
        raise rules.IdempotencyKeyReused(
            "该 Idempotency-Key 已用于另一个不同的请求；重试须发送相同的请求体，新请求须用新的键 (this Idempotency-Key "
            "was used with a different request body; a retry must send the same body, a new request a new key)",
            detail={"incident_id": incident_id})
    return response, incident_id


# ------------------------------------------------------------------------------------------ intake: decide
@dataclass
class Decision:
    """What intake decided for a report: where it is (the locate answer), its level, the duplicates, who
    handles it and why, and the point shown in public."""

    answer: dict[str, Any]
    grid: dict[str, Any] | None
    community_code: str | None
    street_code: str | None
    level: str
    duplicates: rules.DuplicateCheck
    dispatch: rules.Dispatch
    public_point: tuple[float, float]


def _street_of(answer: dict[str, Any]) -> rules.Street | None:
    street = answer.get("street_responsibility")
    if not street or not street.get("unit"):
        return None
    cats = street.get("categories")
    return rules.Street(street["name"], street["unit"], None if cats is None else tuple(cats))


def _linked(duplicate_of: int) -> rules.Dispatch:
    return rules.Dispatch(None, None, None, None, "duplicate",
                          f"与事件 #{duplicate_of} 重复（同类、{rules.LINK_RADIUS_M:g} 米、{rules.LINK_WINDOW_H:g} 小时内），"
                          f"已关联，不另行派遣 (a duplicate of #{duplicate_of}: linked, not a second task)")


def decide_dispatch(session: Session, category: rules.Category, answer: dict[str, Any], *,
                    community_code: str | None, every: loc.Contacts | None = None) -> rules.Dispatch:
    """Who handles a located report of ``category`` (:func:`gis.incidents.pick_assignee` over the grid's and
    the community's staff and the 包街 street, if any); ``every``: the contacts the locate answered from."""
    grid = answer["grid"]
    grid_staff, community_staff = staff_pool(session, grid_code=grid["code"] if grid else None,
                                             community_code=community_code, every=every)
    return rules.pick_assignee(category, method=answer["assignment"]["method"], grid_staff=grid_staff,
                               community_staff=community_staff, street=_street_of(answer))


def _locate_for(session: Session, intake: Intake, *, clean: bool = False, seen_contacts: list | None = None,
                seen_plan: list | None = None) -> dict[str, Any]:
    """The locate answer for a report (as ``GET /api/v1/locate`` gives it). On a 包街 street outside every grid,
    a category the street's unit does not take is located with the street set aside — to the community or the
    nearest grid, whose people can take it — and the answer keeps the street (the reason names it)."""
    answer = loc.locate(session, intake.lon, intake.lat, crs=intake.crs, accuracy_m=intake.accuracy_m, clean=clean,
                        seen_contacts=seen_contacts, seen_plan=seen_plan)
    street = _street_of(answer)
    if street is None or answer["grid"] is not None or rules.street_covers(intake.category, street):
        return answer
    aside = loc.locate(session, intake.lon, intake.lat, crs=intake.crs, accuracy_m=intake.accuracy_m, streets=False,
                       clean=clean)
    return {**aside, "street_responsibility": answer["street_responsibility"]}


def decide(session: Session, intake: Intake, *, now: dt.datetime, nearby: list[rules.Nearby] | None = None,
           clean: bool = False) -> Decision:
    """Locate the report (as ``GET /api/v1/locate`` does), find open incidents of its category nearby, and pick
    who handles it and why; nothing is written."""
    seen_contacts: list = []
    seen_plan: list = []
    answer = _locate_for(session, intake, clean=clean, seen_contacts=seen_contacts, seen_plan=seen_plan)
    wlon, wlat = answer["point"]["lon"], answer["point"]["lat"]
    grid = answer["grid"]
    community_code = (answer["community"] or {}).get("code")
    if nearby is None:
        nearby = _nearby(session, intake.category.code, wlon, wlat, now)
    dups = rules.classify_duplicates(nearby)
    if dups.duplicate_of is not None:
        dispatch = _linked(dups.duplicate_of)
    else:
        dispatch = decide_dispatch(session, intake.category, answer, community_code=community_code,
                                   every=seen_contacts[0])
    public = (wlon, wlat)
    if intake.category.sensitive:
        public = centroid(session, grid_id=grid["id"] if grid else None, community_code=community_code,
                          plan=seen_plan[0]) \
            or (round(wlon, 2), round(wlat, 2))
    return Decision(
        answer=answer, grid=grid, community_code=community_code,
        street_code=community_code[:9] + "000" if community_code else None,
        level=HandlingLevel.COMMUNITY.value if answer["assignment"]["method"] == "community" else HandlingLevel.GRID.value,
        duplicates=dups, dispatch=dispatch, public_point=(float(public[0]), float(public[1])),
    )


def _duplicates_json(dups: rules.DuplicateCheck) -> list[dict[str, Any]]:
    return [{"id": n.incident_id, "distance_m": round(n.distance_m, 1), "state": n.state,
             "state_zh": IncidentState(n.state).zh, "age_h": round(n.age_h, 2)} for n in dups.suggestions]


def preview_incident(session: Session, body: dict[str, Any], *, now: dt.datetime | None = None,
                     table: dict[str, rules.Category] | None = None) -> dict[str, Any]:
    """What reporting ``body`` would answer — the locate answer, who would handle it and why, its deadline and
    the open incidents of its category nearby — with nothing stored (the workbench shows it before saving)."""
    now = now or utcnow()
    intake = parse_intake(body, table=table)
    d = decide(session, intake, now=now)
    cat = intake.category
    return {**d.answer, "incident": {
        "category": cat.code, "category_zh": cat.zh, "level": d.level, "level_zh": HandlingLevel(d.level).zh,
        "due_at": None if d.duplicates.duplicate_of else iso(rules.due_at(now, cat)), "sensitive": cat.sensitive,
        "dispatch": d.dispatch.as_dict(), "duplicate_of": d.duplicates.duplicate_of,
        "duplicates": _duplicates_json(d.duplicates),
    }}


# ------------------------------------------------------------------------------------------- intake: store
def _incident_row(intake: Intake, d: Decision, *, key: str | None, now: dt.datetime) -> SimpleNamespace:
    """The new incident's columns, as attributes named like :class:`layers.models.Incident`'s (a plain object:
    building an ORM instance cost more than the rest of intake's Python; the statement writes the row)."""
    a = d.answer
    return SimpleNamespace(
        id=None, category=intake.category.code, description=intake.description, state=IncidentState.REPORTED.value,
        level=d.level, original_lon=intake.lon, original_lat=intake.lat, original_crs=a["input"]["crs"],
        plan_id=a["plan"]["id"], grid_id=d.grid["id"] if d.grid else None, grid_code=d.grid["code"] if d.grid else None,
        assignment={**a["assignment"], "dispatch": d.dispatch.as_dict(), "grid": d.grid, "community": a["community"],
                    "street_responsibility": a["street_responsibility"], "plan": a["plan"]},
        assignee_id=d.dispatch.person_id, reporter_name=intake.reporter_name, reporter_phone=intake.reporter_phone,
        idempotency_key=key, due_at=None if d.duplicates.duplicate_of else rules.due_at(now, intake.category),
        created_at=now, updated_at=now, closed_at=None, source=f"report:{intake.channel.value}",
    )


def _detail_row(intake: Intake, d: Decision, h: str) -> SimpleNamespace:
    """The new incident's details, as attributes named like :class:`IncidentDetail`'s (see :func:`_incident_row`)."""
    extra = {"address": intake.address, "media_url": intake.media_url, "attributes": intake.body["attributes"] or None}
    return SimpleNamespace(
        request_hash=h, token=str(uuid.uuid4()), channel=intake.channel.value,
        community_code=d.community_code, street_code=d.street_code,
        assignee_role=d.dispatch.role or intake.category.role.value, assignee_unit=d.dispatch.unit,
        duplicate_of=d.duplicates.duplicate_of, sensitive=intake.category.sensitive,
        public_lon=d.public_point[0], public_lat=d.public_point[1],
        private={"email": intake.reporter_email} if intake.reporter_email else {},
        extra={k: v for k, v in extra.items() if v},
    )


def create_incident(session: Session, body: dict[str, Any], *, idempotency_key: str | None = None,
                    channel: str = "api", actor: str = "anonymous", now: dt.datetime | None = None,
                    table: dict[str, rules.Category] | None = None, clean: bool = False) -> tuple[dict[str, Any], bool, int]:
    """Locate, check for duplicates, dispatch and store one incident; ``(answer, replayed, incident id)``.

    The answer is the locate answer (grid, community, responsible people, plan, ``assignment``) plus
    ``incident`` (id, state, deadline, who it was dispatched to and why, duplicates). ``channel`` is the
    report's channel unless the body names one. With an ``idempotency_key`` seen before with the same body the
    first answer is returned and nothing is stored (``replayed``); with a different body
    :class:`~gis.incidents.IdempotencyKeyReused`. Bad input raises before anything is written.

    Two statements: one reads the answer already given for the key and the open incidents nearby, one writes
    the incident, its details and its first event (a single ``INSERT … ON CONFLICT`` with its dependants in one
    statement: all or nothing, and on a statement-mode session committed when it returns). ``clean``: the
    session has written nothing before (the locate's versions read may be shared, see
    :func:`layers.data_versions.versions_of`).
    """
    now = now or utcnow()
    intake = parse_intake(body, table=table, channel=channel)
    key = check_key(idempotency_key)
    h = rules.request_hash(intake.body)
    wlon, wlat = loc.wgs84_point(intake.lon, intake.lat, crs=intake.crs)
    hit, nearby = _replay_and_nearby(session, key, h, intake.category.code, wlon, wlat, now)
    if hit is not None:
        return hit[0], True, hit[1]
    d = decide(session, intake, now=now, nearby=nearby, clean=clean)
    inc = _incident_row(intake, d, key=key, now=now)
    det = _detail_row(intake, d, h)
    result = stored_answer(d, inc, det, now)
    new_id = _insert_all(session, inc, det, d, intake, actor=actor, now=now, response=result)
    if new_id is None:  # a concurrent request with the same key stored its incident first
        hit = _replay(session, key, h) if key else None
        if hit is None:
            raise RuntimeError("incident insert returned no row without a key conflict")
        return hit[0], True, hit[1]
    result["incident"]["id"] = new_id
    return result, False, new_id


def replay_and_nearby_sql(*, key: str, lon: str, lat: str, category: str, dlon: str, dlat: str) -> str:
    """The select list that reads, for one report, the answer already given for its key (``replay``: id, request
    hash, answer) and the open incidents of its category within ``:radius`` metres that are tasks themselves
    (``nearby``: id, state, age in seconds at ``:now``, distance), given the SQL expressions of the report's key,
    point, category and search box; the one-report statement below and a batch's read
    (:mod:`layers.intake_batch`) share it. The closed state is a literal, so that a generic plan can still use
    the partial index ``ix_incidents_open_category_geom`` (migration 0751)."""
    point = f"ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326)"
    return f"""
    (SELECT json_build_array(i.id, d.request_hash, CAST(d.response AS json))
       FROM incidents i JOIN incident_details d ON d.incident_id = i.id
      WHERE {key} IS NOT NULL AND i.idempotency_key = {key}) AS replay,
    (SELECT coalesce(json_agg(json_build_array(n.id, n.state, n.age_s, n.d) ORDER BY n.d, n.id), '[]')
       FROM (SELECT i.id, i.state, extract(epoch FROM (CAST(:now AS timestamptz) - i.created_at)) AS age_s,
                    ST_Distance(Geography(i.geom), Geography({point})) AS d
               FROM incidents i LEFT JOIN incident_details dd ON dd.incident_id = i.id
              WHERE i.category = {category} AND i.state <> '{IncidentState.CLOSED.value}'
                AND dd.duplicate_of IS NULL
                AND i.geom && ST_Expand({point}, {dlon}, {dlat})
                AND ST_DWithin(Geography(i.geom), Geography({point}), CAST(:radius AS float8))) n) AS nearby"""


_REPLAY_AND_NEARBY = PreparedStatement("gridmap_intake_replay_and_nearby", "SELECT " + replay_and_nearby_sql(
    key="CAST(:key AS text)", lon=":lon", lat=":lat", category="CAST(:category AS text)",
    dlon="CAST(:dlon AS float8)", dlat="CAST(:dlat AS float8)"))
"""Planned once per connection: planning it (0.4 ms) took four times as long as running it."""


def _replay_and_nearby(session: Session, key: str | None, h: str, category: str, lon: float, lat: float,
                       now: dt.datetime) -> tuple[tuple[dict[str, Any], int] | None, list[rules.Nearby]]:
    """In one statement: the answer already given for ``key`` (``None`` if none; :class:`IdempotencyKeyReused`
    for another body) and the open incidents of ``category`` within :data:`~gis.incidents.SUGGEST_RADIUS_M`
    that are tasks themselves (as :func:`_nearby`)."""
    [(replay, nearby)] = _REPLAY_AND_NEARBY.rows(session, {
        "key": key, "now": now, "lon": lon, "lat": lat, "category": category,
        "radius": rules.SUGGEST_RADIUS_M, **_degrees_around(lat, rules.SUGGEST_RADIUS_M)})
    hit = None
    if replay is not None:
        hit = _replayed(int(replay[0]), replay[1], replay[2], h)
    return hit, [rules.Nearby(int(i), float(dist), float(age) / 3600.0, st) for i, st, age, dist in nearby]


_INSERT_ALL = """
    WITH i AS (
        INSERT INTO incidents (category, description, state, level, geom, original_lon, original_lat, original_crs,
                               plan_id, grid_id, grid_code, assignment, assignee_id, reporter_name, reporter_phone,
                               idempotency_key, due_at, created_at, updated_at, source)
        VALUES (:category, :description, :state, :level, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :original_lon,
                :original_lat, :original_crs, :plan_id, :grid_id, :grid_code, CAST(:assignment AS jsonb),
                :assignee_id, :reporter_name, :reporter_phone, :key, :due_at, :now, :now, :source)
        {conflict}
        RETURNING id
    ), d AS (
        INSERT INTO incident_details (incident_id, request_hash, token, channel, community_code, street_code,
                                      assignee_role, assignee_unit, duplicate_of, sensitive, public_lon, public_lat,
                                      private, extra, response)
        SELECT i.id, CAST(:request_hash AS text), CAST(:token AS text), CAST(:channel AS text),
               CAST(:community_code AS text), CAST(:street_code AS text), CAST(:assignee_role AS text),
               CAST(:assignee_unit AS text), CAST(:duplicate_of AS integer), CAST(:sensitive AS boolean),
               CAST(:public_lon AS float8), CAST(:public_lat AS float8), CAST(:private AS jsonb),
               CAST(:extra AS jsonb), CAST(jsonb_set(CAST(:response AS jsonb), '{{incident,id}}', to_jsonb(i.id)) AS text)
          FROM i
    ), e AS (
        INSERT INTO incident_events (incident_id, from_state, to_state, level, actor, note, at)
        SELECT i.id, NULL, :state, :level, CAST(:actor AS text), CAST(:note AS text), :now FROM i
    )
    SELECT id FROM i
"""
_INSERT_KEYED = PreparedStatement("gridmap_intake_insert_keyed",
                                  _INSERT_ALL.format(conflict="ON CONFLICT (idempotency_key) DO NOTHING"))
_INSERT_UNKEYED = PreparedStatement("gridmap_intake_insert", _INSERT_ALL.format(conflict=""))


def stored_answer(d: Decision, inc: SimpleNamespace, det: SimpleNamespace, now: dt.datetime) -> dict[str, Any]:
    """What intake answers for a stored report (one at a time or in a batch): the locate answer plus
    ``incident`` — its public core, who it was dispatched to and why, its duplicates and its Open311 token."""
    return {**d.answer, "incident": {
        **_public_core(inc, det, now), "dispatch": d.dispatch.as_dict(), "duplicate_of": d.duplicates.duplicate_of,
        "duplicates": _duplicates_json(d.duplicates), "token": det.token}}


def reported_note(intake: Intake) -> str:
    """The note of a new incident's first event: the channel it came in by."""
    return f"上报（{intake.channel.zh}）(reported via {intake.channel.value})"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _insert_all(session: Session, inc: SimpleNamespace, det: SimpleNamespace, d: Decision, intake: Intake, *,
                actor: str, now: dt.datetime, response: dict[str, Any]) -> int | None:
    """Insert the incident, its details (with ``response``, its id filled in) and its first event in one
    statement; the new id, or ``None`` when another request stored an incident with the same key first."""
    a = d.answer
    rows = (_INSERT_KEYED if inc.idempotency_key else _INSERT_UNKEYED).rows(session, {
        "category": inc.category, "description": inc.description, "state": inc.state, "level": inc.level,
        "lon": a["point"]["lon"], "lat": a["point"]["lat"], "original_lon": inc.original_lon,
        "original_lat": inc.original_lat, "original_crs": inc.original_crs, "plan_id": inc.plan_id,
        "grid_id": inc.grid_id, "grid_code": inc.grid_code, "assignment": _json(inc.assignment),
        "assignee_id": inc.assignee_id, "reporter_name": inc.reporter_name, "reporter_phone": inc.reporter_phone,
        "key": inc.idempotency_key, "due_at": inc.due_at, "now": now, "source": inc.source,
        "request_hash": det.request_hash, "token": det.token, "channel": det.channel,
        "community_code": det.community_code, "street_code": det.street_code, "assignee_role": det.assignee_role,
        "assignee_unit": det.assignee_unit, "duplicate_of": det.duplicate_of, "sensitive": det.sensitive,
        "public_lon": det.public_lon, "public_lat": det.public_lat, "private": _json(det.private),
        "extra": _json(det.extra), "response": _json(response), "actor": actor,
        "note": reported_note(intake),
    })
    return int(rows[0][0]) if rows else None


# --------------------------------------------------------------------------------------------------- views
def _public_core(inc: models.Incident, det: IncidentDetail, now: dt.datetime) -> dict[str, Any]:
    cat = category_or_none(inc.category)
    grid = (inc.assignment or {}).get("grid") or (
        {"code": inc.grid_code, "name": None} if inc.grid_code else None)
    return {
        "id": inc.id,
        "category": cat.code if cat else inc.category, "category_zh": cat.zh if cat else inc.category,
        "state": inc.state, "state_zh": IncidentState(inc.state).zh, "level": inc.level, "level_zh": HandlingLevel(inc.level).zh,
        "status": rules.open311_status(inc.state),
        "grid": {"code": grid["code"], "name": grid["name"]} if grid else None,
        "community_code": det.community_code,
        "point": {"lon": round(det.public_lon, 6), "lat": round(det.public_lat, 6),
                  "snapped": bool(det.sensitive)},
        "description": None if det.sensitive else inc.description,
        "created_at": iso(inc.created_at), "updated_at": iso(inc.updated_at),
        "due_at": iso(inc.due_at), "closed_at": iso(inc.closed_at),
        "overdue": rules.is_overdue(inc.due_at, inc.closed_at, now) if det.duplicate_of is None else False,
        "duplicate_of": det.duplicate_of,
    }


def is_manual(inc: models.Incident, det: IncidentDetail) -> bool:
    """True if the open incident has nobody (no person, no unit): it waits in the 待人工派遣 queue."""
    return (inc.state != IncidentState.CLOSED.value and det.duplicate_of is None and inc.assignee_id is None
            and not det.assignee_unit)


def _channel_zh(value: str | None) -> str | None:
    try:
        return rules.parse_channel(value).zh if value else None
    except InvalidInput:
        return value


def view(session: Session, inc: models.Incident, det: IncidentDetail, kind: View, *,
         now: dt.datetime | None = None, roles: frozenset[str] | None = None) -> dict[str, Any]:
    """An incident as ``public`` (no personal data, sensitive points snapped, sensitive text hidden), ``staff``
    (exact point, original coordinates, assignment, assignee, the actions its state — and, given ``roles``, the
    caller — allows) or ``private`` (staff plus the reporter)."""
    now = now or utcnow()
    out = _public_core(inc, det, now)
    if kind == "public":
        return out
    lon, lat = session.execute(select(func.ST_X(models.Incident.geom), func.ST_Y(models.Incident.geom))
                               .where(models.Incident.id == inc.id)).one()
    assignee = None
    if inc.assignee_id is not None:
        p = session.get(models.Person, inc.assignee_id)
        assignee = {"person_id": p.id, "name": p.name, "public_phone": p.public_phone} if p else None
    out.update({
        "description": inc.description,
        "point": {"lon": round(float(lon), 8), "lat": round(float(lat), 8), "snapped": False},
        "public_point": {"lon": det.public_lon, "lat": det.public_lat},
        "original": {"lon": inc.original_lon, "lat": inc.original_lat, "crs": inc.original_crs},
        "plan_id": inc.plan_id,
        "assignment": inc.assignment,
        "assignee": assignee,
        "assignee_role": det.assignee_role,
        "assignee_unit": det.assignee_unit,
        "street_code": det.street_code,
        "sensitive": det.sensitive,
        "channel": det.channel,
        "channel_zh": _channel_zh(det.channel),
        "manual": is_manual(inc, det),
        "token": det.token,
        "extra": {**det.extra, "media_url": web_url_or_none(det.extra.get("media_url"))} if det.extra else {},
        "allowed_actions": [] if det.duplicate_of else rules.allowed_actions(inc.state, inc.level, roles),
    })
    if kind == "private":
        out["reporter"] = {"name": inc.reporter_name, "phone": inc.reporter_phone, **det.private}
    return out


def load(session: Session, incident_id: int, *, lock: bool = False) -> tuple[models.Incident, IncidentDetail]:
    """The incident and its details; :class:`NotFound` if there is none."""
    q = select(models.Incident, IncidentDetail).outerjoin(IncidentDetail, IncidentDetail.incident_id == models.Incident.id) \
        .where(models.Incident.id == incident_id)
    if lock:
        q = q.with_for_update(of=models.Incident)
    row = session.execute(q).first()
    if row is None:
        raise NotFound(f"没有编号为 {incident_id} 的事件 (no incident {incident_id})", detail={"id": incident_id})
    return row[0], row[1] if row[1] is not None else _default_detail(session, row[0], persist=lock)


def _default_detail(session: Session, inc: models.Incident, *, persist: bool = False) -> IncidentDetail:
    """Details for an incident written by another tool (no ``incident_details`` row): derived from its grid code
    and category; stored when the incident is about to change (``persist``)."""
    cat = category_or_none(inc.category)
    community = inc.grid_code[:12] if inc.grid_code else None
    sensitive = bool(cat and cat.sensitive)
    pt = centroid(session, grid_id=inc.grid_id, community_code=community) if sensitive else None
    if pt is None:
        pt = session.execute(select(func.ST_X(models.Incident.geom), func.ST_Y(models.Incident.geom))
                             .where(models.Incident.id == inc.id)).one()
        if sensitive:
            pt = (round(pt[0], 2), round(pt[1], 2))
    det = IncidentDetail(incident_id=inc.id, request_hash="", token=str(uuid.uuid4()), channel=inc.source or "import",
                         community_code=community, street_code=community[:9] + "000" if community else None,
                         assignee_role=cat.role.value if cat else None, assignee_unit=None, duplicate_of=None,
                         sensitive=sensitive, public_lon=float(pt[0]), public_lat=float(pt[1]), private={}, extra={},
                         response="{}")
    if persist:
        session.add(det)
    return det


def by_token(session: Session, token: str) -> int:
    """The incident id of an Open311 token; :class:`NotFound` if unknown."""
    iid = session.scalar(select(IncidentDetail.incident_id).where(IncidentDetail.token == token))
    if iid is None:
        raise NotFound(f"没有此令牌 {token} (no request with token {token})")
    return int(iid)


def scope_filter(scope: str | None):
    """Incidents whose grid code or community code starts with ``scope``'s prefix (``""``: all)."""
    if scope is None:
        return literal(False)
    if scope == "":
        return literal(True)
    p = area_prefix(scope) + "%"
    return or_(models.Incident.grid_code.like(p), IncidentDetail.community_code.like(p))


def query(session: Session, *, ids: list[int] | None = None, state: list[str] | None = None,
          status: str | None = None, category: list[str] | None = None, grid_code: str | None = None,
          community_code: str | None = None, assignee_id: int | None = None, scope: str | None = "",
          overdue: bool | None = None,
          include_duplicates: bool = True, since: dt.datetime | None = None, until: dt.datetime | None = None,
          limit: int = 100, offset: int = 0, now: dt.datetime | None = None
          ) -> list[tuple[models.Incident, IncidentDetail]]:
    """Incidents filtered by id, state, Open311 status, category, grid, community, scope, overdue, report time;
    newest first."""
    now = now or utcnow()
    q = select(models.Incident, IncidentDetail).outerjoin(IncidentDetail, IncidentDetail.incident_id == models.Incident.id) \
        .where(scope_filter(scope))
    if ids is not None:
        q = q.where(models.Incident.id.in_(ids))
    if state:
        q = q.where(models.Incident.state.in_(state))
    if status == "open":
        q = q.where(models.Incident.state != IncidentState.CLOSED.value)
    elif status == "closed":
        q = q.where(models.Incident.state == IncidentState.CLOSED.value)
    if category:
        q = q.where(models.Incident.category.in_(category))
    if grid_code:
        q = q.where(models.Incident.grid_code == grid_code)
    if community_code:
        q = q.where(func.coalesce(IncidentDetail.community_code, func.substr(models.Incident.grid_code, 1, 12))
                    == community_code)
    if assignee_id is not None:
        q = q.where(models.Incident.assignee_id == assignee_id)
    if not include_duplicates:
        q = q.where(IncidentDetail.duplicate_of.is_(None))
    if overdue is True:
        q = q.where(models.Incident.state != IncidentState.CLOSED.value, models.Incident.due_at < now, IncidentDetail.duplicate_of.is_(None))
    elif overdue is False:
        q = q.where(or_(models.Incident.due_at.is_(None), models.Incident.due_at >= func.coalesce(models.Incident.closed_at, now)))
    if since is not None:
        q = q.where(models.Incident.created_at >= since)
    if until is not None:
        q = q.where(models.Incident.created_at <= until)
    q = q.order_by(models.Incident.created_at.desc(), models.Incident.id.desc()).limit(limit).offset(offset)
    return [(a, b if b is not None else _default_detail(session, a)) for a, b in session.execute(q).all()]


def events(session: Session, incident_id: int) -> list[dict[str, Any]]:
    """Every transition of an incident, oldest first: from → to, level, who, when, note."""
    load(session, incident_id)
    rows = session.scalars(select(models.IncidentEvent).where(models.IncidentEvent.incident_id == incident_id)
                           .order_by(models.IncidentEvent.at, models.IncidentEvent.id)).all()
    return [{"from_state": e.from_state, "to_state": e.to_state, "to_state_zh": IncidentState(e.to_state).zh,
             "level": e.level, "level_zh": HandlingLevel(e.level).zh if e.level else None, "actor": e.actor, "note": e.note,
             "at": iso(e.at)} for e in rows]

"""Intake in batches: the reports that arrive while one batch is being stored are stored together in the next.

Stored one at a time, every report pays the fixed costs of two statements (the answer already given for its key
and the open incidents near it; then the incident, its details and its first event) and of a commit, on the
server and in the driver — under load, more than the report's own rows cost. A batch pays them once: one statement
reads the earlier answers, the open incidents near each report and an id for each new incident; the rules then
decide each report exactly as :func:`layers.incidents.create_incident` does; one statement (one transaction)
writes every new incident with its details and first event.

Nothing is acknowledged before its batch's write has committed, and each report keeps its own answer and errors:
a report whose body, key or caller is refused fails alone, before anything is written; a key seen before replays
its first answer (:class:`~gis.incidents.IdempotencyKeyReused` for another body), also when two reports of one
batch carry the same key. If the batch's write fails for any reason other than a lost database, nothing of it was
stored and each report is stored again on its own, so a row the database refuses fails its own report only. Two
reports of one batch do not see each other as duplicates — as two concurrent reports never did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from gis import incidents as rules
from layers import incidents as inc
from layers import locate as loc
from layers.data_versions import pin_versions
from layers.db import PreparedStatement


@dataclass(frozen=True)
class Pending:
    """One report waiting to be stored: its body and ``Idempotency-Key`` as received, and ``authorize``, which
    names the actor who reports (or raises, refusing this report alone) given the batch's session."""

    body: dict[str, Any]
    key: str | None
    authorize: Callable[[Session], str]
    channel: str = rules.Channel.API.value


@dataclass(frozen=True)
class Stored:
    """A report's answer (JSON text, as the API sends it), whether it replays an earlier one, and the incident."""

    text: bytes
    replayed: bool
    incident_id: int


Outcome = Stored | BaseException


@dataclass
class _Report:
    """A report whose body, key and caller passed: what the batch's statements need of it."""

    at: int
    intake: inc.Intake
    key: str | None
    request_hash: str
    actor: str
    point: tuple[float, float]


@dataclass
class _New:
    """A decided report: the id of its incident, its answer as sent and its rows as the write takes them (JSON of
    the incident, its details and its first event)."""

    report: _Report
    incident_id: int
    answer: str
    rows: tuple[str, str, str]


def store_batch(sessions: sessionmaker[Session], batch: list[Pending], *,
                now: dt.datetime | None = None) -> list[Outcome]:
    """Store ``batch`` (see the module's docstring); one outcome per report, in order: :class:`Stored`, or the
    exception that refuses it. A lost database raises for the whole batch (nothing of it was stored)."""
    now = now or inc.utcnow()
    session = sessions()
    try:
        return _store(session, batch, now)
    except DBAPIError as exc:
        if _database_lost(exc):
            raise
    finally:
        session.close()
    return [store_alone(sessions, p, now=now) for p in batch]


def store_alone(sessions: sessionmaker[Session], pending: Pending, *, now: dt.datetime | None = None) -> Outcome:
    """One report on its own session (:func:`layers.incidents.create_incident`), as an outcome."""
    session = sessions()
    try:
        actor = pending.authorize(session)
        answer, replayed, incident_id = inc.create_incident(
            session, pending.body, idempotency_key=pending.key, channel=pending.channel, actor=actor, now=now,
            clean=True)
        session.commit()
        return Stored(_encode(answer), replayed, incident_id)
    except Exception as exc:  # noqa: BLE001 — this report's own refusal (or its own database error)
        if _database_lost(exc):
            raise
        return exc
    finally:
        session.close()


def _store(session: Session, batch: list[Pending], now: dt.datetime) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(batch)
    reports = []
    for at, pending in enumerate(batch):
        try:
            reports.append(_checked(session, at, pending))
        except Exception as exc:  # noqa: BLE001 — refused before anything is read for it
            if _database_lost(exc):  # no database for this batch: not for its next report either
                raise
            outcomes[at] = exc
    if reports:
        versions, rows = _read(session, reports, now)
        pin_versions(session, versions)
        new = []
        for r, (replay, nearby, new_id) in zip(reports, rows):
            if replay is not None:
                outcomes[r.at] = _replay_outcome(replay, r.request_hash)
            else:
                try:
                    new.append(_decided(session, r, nearby, new_id, now))
                except DBAPIError:
                    raise
                except Exception as exc:  # noqa: BLE001 — refused as it is decided (the locate checks accuracy_m)
                    outcomes[r.at] = exc
        written = _write(session, new) if new else set()
        for n in new:
            if n.incident_id in written:
                outcomes[n.report.at] = Stored(n.answer.encode(), False, n.incident_id)
            else:  # another report with the same key was stored first (in this batch or elsewhere)
                outcomes[n.report.at] = _replay_alone(session, n.report)
    return outcomes  # type: ignore[return-value]


def _database_lost(exc: BaseException) -> bool:
    """True for an error that says the database (or a connection to it) is gone, not that a report is wrong."""
    return isinstance(exc, (OperationalError, PoolTimeout)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _checked(session: Session, at: int, pending: Pending) -> _Report:
    actor = pending.authorize(session)
    intake = inc.parse_intake(pending.body, channel=pending.channel)
    key = inc.check_key(pending.key)
    point = loc.wgs84_point(intake.lon, intake.lat, crs=intake.crs)
    return _Report(at, intake, key, rules.request_hash(intake.body), actor, point)


def _replay_outcome(replay: list, request_hash: str) -> Outcome:
    try:
        answer, incident_id = inc._replayed(int(replay[0]), replay[1], replay[2], request_hash)
    except rules.IdempotencyKeyReused as exc:
        return exc
    return Stored(_encode(answer), True, incident_id)


def _replay_alone(session: Session, r: _Report) -> Outcome:
    try:
        hit = inc._replay(session, r.key, r.request_hash) if r.key else None
    except rules.IdempotencyKeyReused as exc:
        return exc
    if hit is None:
        return RuntimeError("incident insert returned no row without a key conflict")
    return Stored(_encode(hit[0]), True, hit[1])


# ------------------------------------------------------------------------------------------------ read
_READ = PreparedStatement("gridmap_intake_batch_read", "SELECT " + inc.replay_and_nearby_sql(
    key="r.key", lon="r.lon", lat="r.lat", category="r.category", dlon="r.dlon", dlat="r.dlat") + """,
           nextval('incidents_id_seq') AS new_id,
           CASE WHEN r.at = 1 THEN (SELECT json_object_agg(table_name, version) FROM data_versions) END AS versions
      FROM unnest(CAST(:keys AS text[]), CAST(:lons AS float8[]), CAST(:lats AS float8[]),
                  CAST(:categories AS text[]), CAST(:dlons AS float8[]), CAST(:dlats AS float8[]))
           WITH ORDINALITY AS r(key, lon, lat, category, dlon, dlat, at)
     ORDER BY r.at
""")
"""For each report, in order: the answer already given for its key, the open incidents of its category within
:data:`~gis.incidents.SUGGEST_RADIUS_M` that are tasks themselves (as :func:`layers.incidents._nearby`; the index
``ix_incidents_open_category_geom`` serves it) and the id its incident will have; on the first row, the data
versions the caches of the batch's decisions go by (:func:`layers.data_versions.pin_versions`, so they cost no
round trip of their own). Planned at each run (PostgreSQL sizes ``unnest`` of the arrays it is given, so a plan
made for the batch at hand always looks cheaper than a generic one): ~0.3 ms a batch. A generic plan over a JSON
record set was tried: made while the table was small, it stayed, and the read took 2.2 ms a batch instead of
0.39 + 0.28."""


def _read(session: Session, reports: list[_Report], now: dt.datetime) -> tuple[dict[str, int], list[tuple]]:
    boxes = [inc._degrees_around(r.point[1], rules.SUGGEST_RADIUS_M) for r in reports]
    rows = _READ.rows(session, {
        "now": now, "radius": rules.SUGGEST_RADIUS_M, "keys": [r.key for r in reports],
        "lons": [r.point[0] for r in reports], "lats": [r.point[1] for r in reports],
        "categories": [r.intake.category.code for r in reports], "dlons": [b["dlon"] for b in boxes],
        "dlats": [b["dlat"] for b in boxes]})
    return rows[0][3], [
        (replay, [rules.Nearby(int(i), float(d), float(age) / 3600.0, st) for i, st, age, d in nearby], int(new_id))
        for replay, nearby, new_id, _ in rows]


# ---------------------------------------------------------------------------------------------- decide
def _decided(session: Session, r: _Report, nearby: list[rules.Nearby], new_id: int, now: dt.datetime) -> _New:
    """The report decided as :func:`layers.incidents.create_incident` decides it: its answer (with the new id)
    as sent, and its rows as the write takes them (JSON of one element of the batch's document)."""
    d = inc.decide(session, r.intake, now=now, nearby=nearby, clean=True)
    row = inc._incident_row(r.intake, d, key=r.key, now=now)
    row.id = new_id
    det = inc._detail_row(r.intake, d, r.request_hash)
    text = inc._json(inc.stored_answer(d, row, det, now))
    return _New(r, new_id, text, _rows(r, d, row, det, now, text))


def _rows(r: _Report, d: inc.Decision, row, det, now: dt.datetime, answer: str) -> tuple[str, str, str]:
    a = d.answer
    incident = {
        "id": row.id, "category": row.category, "description": row.description, "state": row.state,
        "level": row.level, "geom": f"SRID=4326;POINT({a['point']['lon']!r} {a['point']['lat']!r})",
        "original_lon": row.original_lon, "original_lat": row.original_lat, "original_crs": row.original_crs,
        "plan_id": row.plan_id, "grid_id": row.grid_id, "grid_code": row.grid_code, "assignment": row.assignment,
        "assignee_id": row.assignee_id, "reporter_name": row.reporter_name, "reporter_phone": row.reporter_phone,
        "idempotency_key": row.idempotency_key, "due_at": inc.iso(row.due_at), "created_at": inc.iso(now),
        "updated_at": inc.iso(now), "source": row.source}
    details = {
        "incident_id": row.id, "request_hash": det.request_hash, "token": det.token, "channel": det.channel,
        "community_code": det.community_code, "street_code": det.street_code, "assignee_role": det.assignee_role,
        "assignee_unit": det.assignee_unit, "duplicate_of": det.duplicate_of, "sensitive": det.sensitive,
        "public_lon": det.public_lon, "public_lat": det.public_lat, "private": det.private, "extra": det.extra}
    event = {"incident_id": row.id, "to_state": row.state, "level": row.level, "actor": r.actor, "at": inc.iso(now),
             "note": inc.reported_note(r.intake)}
    # the answer goes in as encoded for the caller (the same text), not encoded a second time
    return inc._json(incident), inc._json(details)[:-1] + f',"response":{answer}}}', inc._json(event)


# ------------------------------------------------------------------------------------------------ write
_INCIDENT_COLUMNS = ("id, category, description, state, level, geom, original_lon, original_lat, original_crs, plan_id, "
                     "grid_id, grid_code, assignment, assignee_id, reporter_name, reporter_phone, idempotency_key, "
                     "due_at, created_at, updated_at, source")
_DETAIL_COLUMNS = ("incident_id, request_hash, token, channel, community_code, street_code, assignee_role, "
                   "assignee_unit, duplicate_of, sensitive, public_lon, public_lat, private, extra, response")
_EVENT_COLUMNS = "incident_id, to_state, level, actor, note, at"

_WRITE = PreparedStatement("gridmap_intake_batch_write", f"""
    WITH i AS (
        INSERT INTO incidents ({_INCIDENT_COLUMNS})
        SELECT {_INCIDENT_COLUMNS} FROM json_populate_recordset(NULL::incidents, CAST(:incidents AS json))
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
    ), d AS (
        INSERT INTO incident_details ({_DETAIL_COLUMNS})
        SELECT {_DETAIL_COLUMNS} FROM json_populate_recordset(NULL::incident_details, CAST(:details AS json)) AS x
         WHERE x.incident_id IN (SELECT id FROM i)
    ), e AS (
        INSERT INTO incident_events ({_EVENT_COLUMNS})
        SELECT {_EVENT_COLUMNS} FROM json_populate_recordset(NULL::incident_events, CAST(:events AS json)) AS x
         WHERE x.incident_id IN (SELECT id FROM i)
    )
    SELECT id FROM i
""")
"""Every new incident of a batch with its details and first event, in one statement (all or nothing, committed
when it returns on a statement-mode session); the ids stored (a key stored first by another report is skipped)."""


def _write(session: Session, new: list[_New]) -> set[int]:
    # in key order: two batches that carry the same keys wait for each other's rows in one order, never in a cycle
    new = sorted(new, key=lambda n: n.report.key or "")
    # three documents, each parsed once (a field taken out of one document would have it parsed again each time)
    incidents, details, events = ("[" + ",".join(part) + "]" for part in zip(*(n.rows for n in new)))
    return {int(i) for (i,) in _WRITE.rows(session, {"incidents": incidents, "details": details, "events": events})}


def _encode(answer: dict[str, Any]) -> bytes:
    return inc._json(answer).encode()

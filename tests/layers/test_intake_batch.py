"""Intake in batches (layers.intake_batch, api.intake_queue): the same answers and rows as one report at a time,
each report's refusal its own, keys replayed inside a batch, a refused row failing alone, a lost database failing
the batch, and the queue batching what arrives together."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from api.intake_queue import IntakeQueue
from gis import incidents as R
from gis.errors import Forbidden, InvalidCoordinates, InvalidInput
from layers import incidents as inc
from layers import intake_batch as ib
from layers import models as m
from layers.db import make_engine, make_statement_sessionmaker
from layers.incidents_models import IncidentDetail
from layers.settings import DatabaseSettings
from tests import incident_fixtures as IF
from tests import locate_fixtures as F

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def db(module_db, module_sessionmaker):
    loaded = IF.load(module_sessionmaker)
    engine = make_engine(module_db, pool_size=2, max_overflow=2)
    yield {"sessions": make_statement_sessionmaker(engine), "factory": module_sessionmaker, **loaded}
    engine.dispose()


def public(session) -> str:
    return "public"


def pending(pt, category="sanitation", *, key=None, authorize=public, **kw) -> ib.Pending:
    return ib.Pending({"category": category, "lon": pt[0], "lat": pt[1], **kw}, key, authorize)


def stored_rows(factory, incident_id: int) -> tuple[dict, dict, list]:
    """The incident's columns, its details' and its events' (ids, tokens and the answer's id set aside)."""
    with factory() as s:
        i = s.get(m.Incident, incident_id)
        d = s.get(IncidentDetail, incident_id)
        events = s.execute(text("SELECT from_state, to_state, level, actor, note, at FROM incident_events "
                                "WHERE incident_id = :i"), {"i": incident_id}).all()
        geom = s.scalar(text("SELECT ST_AsText(geom) FROM incidents WHERE id = :i"), {"i": incident_id})
        incident = {c.key: getattr(i, c.key) for c in m.Incident.__table__.columns if c.key not in ("id", "geom")}
        details = {c.key: getattr(d, c.key) for c in IncidentDetail.__table__.columns
                   if c.key not in ("incident_id", "token", "response")}
        response = json.loads(d.response)
        response["incident"].pop("id"), response["incident"].pop("token")
        return {**incident, "geom": geom, "idempotency_key": None}, {**details, "response": response}, \
            [tuple(e) for e in events]


def without_ids(answer: dict) -> dict:
    answer = json.loads(json.dumps(answer))
    answer["incident"].pop("id"), answer["incident"].pop("token")
    return answer


def delete(factory, *ids: int) -> None:
    with factory() as s:
        s.execute(text("DELETE FROM incidents WHERE id = ANY(:ids)"), {"ids": list(ids)})
        s.commit()


def test_a_batch_answers_and_stores_what_one_report_at_a_time_does(db):
    """Three reports far apart (no report is another's duplicate), stored as one batch and, after deleting them,
    one at a time at the same moment: the same answers and the same rows (ids and tokens aside)."""
    points = [(F.IN_G1, "sanitation", {"reporter_phone": "13812345678", "description": "垃圾"}),
              (F.IN_G2, "dispute", {"reporter_name": "王", "address": "某路 1 号"}),
              (F.IN_COMMUNITY_B, "health", {"reporter_email": "a@example.cn"})]
    keys = [uuid.uuid4().hex for _ in points]
    batch = [pending(pt, cat, key=k, **kw) for (pt, cat, kw), k in zip(points, keys)]
    outcomes = ib.store_batch(db["sessions"], batch, now=T0)
    assert all(isinstance(o, ib.Stored) and not o.replayed for o in outcomes), outcomes
    batched = [(json.loads(o.text), stored_rows(db["factory"], o.incident_id)) for o in outcomes]
    assert [json.loads(o.text)["incident"]["id"] for o in outcomes] == [o.incident_id for o in outcomes]
    delete(db["factory"], *(o.incident_id for o in outcomes))

    one_by_one = []
    for (pt, cat, kw), k in zip(points, keys):
        with db["sessions"]() as s:
            answer, replayed, iid = inc.create_incident(s, {"category": cat, "lon": pt[0], "lat": pt[1], **kw},
                                                        idempotency_key=k, actor="public", now=T0, clean=True)
            s.commit()
        one_by_one.append((answer, stored_rows(db["factory"], iid)))
    delete(db["factory"], *(json.loads(json.dumps(a))["incident"]["id"] for a, _ in one_by_one))
    for (a_batch, rows_batch), (a_one, rows_one) in zip(batched, one_by_one):
        assert without_ids(a_batch) == without_ids(a_one)
        assert rows_batch == rows_one


def test_each_refusal_is_its_own_and_the_rest_are_stored(db):
    def forbidden(session):
        raise Forbidden("不可以 (no)")

    batch = [pending(F.IN_G1), pending(F.IN_G1, "nope"), pending(F.IN_G2, key=" "),
             pending(F.IN_G2, authorize=forbidden), pending((10.0, 50.0)), pending(F.IN_G2, "dispute")]
    outcomes = ib.store_batch(db["sessions"], batch, now=T0)
    assert isinstance(outcomes[1], InvalidInput) and isinstance(outcomes[2], InvalidInput)
    assert isinstance(outcomes[3], Forbidden)
    assert isinstance(outcomes[4], InvalidCoordinates)  # outside China
    stored = [o for o in outcomes if isinstance(o, ib.Stored)]
    assert [outcomes.index(o) for o in stored] == [0, 5]
    delete(db["factory"], *(o.incident_id for o in stored))


def test_a_key_twice_in_one_batch_stores_one_incident(db):
    key, other = uuid.uuid4().hex, uuid.uuid4().hex
    batch = [pending(F.IN_G1, key=key), pending(F.IN_G1, key=key),
             pending(F.IN_G2, key=other), pending(F.IN_G2, "dispute", key=other)]
    first, again, mine, reused = ib.store_batch(db["sessions"], batch, now=T0)
    assert not first.replayed and again.replayed and again.incident_id == first.incident_id
    assert json.loads(again.text) == json.loads(first.text)
    assert isinstance(reused, R.IdempotencyKeyReused) and not mine.replayed
    # and in a later batch: the first answer again
    [later] = ib.store_batch(db["sessions"], [pending(F.IN_G1, key=key)], now=T0)
    assert later.replayed and json.loads(later.text) == json.loads(first.text)
    with db["factory"]() as s:
        assert s.scalar(select(m.Incident.id).where(m.Incident.idempotency_key == key)) == first.incident_id
    delete(db["factory"], first.incident_id, mine.incident_id)


def test_a_row_the_database_refuses_fails_alone(db):
    """A trigger refuses one report's row: the batch's write fails whole, and each report is stored again on its
    own — the refused one gets the database's error, the others are stored."""
    with db["factory"]() as s:
        s.execute(text("""
            CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.description = 'refuse me' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER test_refuse BEFORE INSERT ON incidents FOR EACH ROW EXECUTE FUNCTION test_refuse()"""))
        s.commit()
    try:
        batch = [pending(F.IN_G1), pending(F.IN_G2, description="refuse me"), pending(F.IN_COMMUNITY_B)]
        ok1, refused, ok2 = ib.store_batch(db["sessions"], batch, now=T0)
    finally:
        with db["factory"]() as s:
            s.execute(text("DROP TRIGGER test_refuse ON incidents; DROP FUNCTION test_refuse()"))
            s.commit()
    assert isinstance(ok1, ib.Stored) and isinstance(ok2, ib.Stored)
    assert "refused" in str(refused)
    with db["factory"]() as s:
        assert s.scalar(text("SELECT count(*) FROM incidents WHERE description = 'refuse me'")) == 0
    delete(db["factory"], ok1.incident_id, ok2.incident_id)


def test_a_lost_database_fails_the_whole_batch():
    gone = DatabaseSettings(url="postgresql://postgres@127.0.0.1:1/nowhere", connect_timeout_s=1)
    engine = make_engine(gone, pool_pre_ping=False)
    try:
        with pytest.raises(OperationalError):
            ib.store_batch(make_statement_sessionmaker(engine), [pending(F.IN_G1), pending(F.IN_G2)])
    finally:
        engine.dispose()


def test_the_queue_stores_what_arrives_together_in_batches(db):
    queue = IntakeQueue(db["sessions"], writers=1, max_batch=8)

    async def all_at_once():
        return await asyncio.gather(*(queue.submit(pending(F.IN_G1, description=f"q{n}")) for n in range(20)))

    try:
        outcomes = asyncio.run(all_at_once())
    finally:
        queue.close()
    assert all(isinstance(o, ib.Stored) for o in outcomes)
    assert len({o.incident_id for o in outcomes}) == 20 and queue.reports == 20
    assert 3 <= queue.batches < 20  # at most 8 a batch; the first report may go alone
    delete(db["factory"], *(o.incident_id for o in outcomes))


def test_the_answer_is_stored_as_the_text_sent(db):
    """A replay gives back the very bytes the first report got (migration 0752: the stored answer is text)."""
    key = uuid.uuid4().hex
    [first] = ib.store_batch(db["sessions"], [pending(F.IN_G1, key=key, reporter_phone="13812345678")], now=T0)
    with db["factory"]() as s:
        assert s.get(IncidentDetail, first.incident_id).response == first.text.decode()
    [again] = ib.store_batch(db["sessions"], [pending(F.IN_G1, key=key, reporter_phone="13812345678")], now=T0)
    assert again.replayed and json.loads(again.text) == json.loads(first.text)
    delete(db["factory"], first.incident_id)


def test_a_batch_goes_by_the_data_as_it_is_when_the_batch_reads(db):
    """The caches' versions come with the batch's read: a change to the grid's people made before the batch is
    in its answer (the versions are not a read kept from an earlier batch)."""
    with db["factory"]() as s:
        s.execute(text("UPDATE people SET name = '张新名' WHERE id = :p"), {"p": db["张网格"]})
        s.commit()
    try:
        [renamed] = ib.store_batch(db["sessions"], [pending(F.IN_G1, description="v1")], now=T0)
    finally:
        with db["factory"]() as s:
            s.execute(text("UPDATE people SET name = '张网格' WHERE id = :p"), {"p": db["张网格"]})
            s.commit()
    [again] = ib.store_batch(db["sessions"], [pending(F.IN_COMMUNITY_B, description="v2")], now=T0)
    [back] = ib.store_batch(db["sessions"], [pending(F.IN_G1, "health", description="v3")], now=T0)
    assert json.loads(renamed.text)["incident"]["dispatch"]["name"] == "张新名"
    assert "张新名" not in back.text.decode()
    delete(db["factory"], renamed.incident_id, again.incident_id, back.incident_id)


@pytest.mark.parametrize("accuracy_m", [-5, 0, 1e308])
def test_a_report_refused_while_it_is_decided_fails_alone(db, accuracy_m):
    """accuracy_m is checked by the locate, when the batch decides each report (after the read): one caller's bad
    accuracy must refuse that report only, not every report that happened to share its batch."""
    batch = [pending(F.IN_G1), pending(F.IN_G2, accuracy_m=accuracy_m), pending(F.IN_COMMUNITY_B, "dispute")]
    ok1, refused, ok2 = ib.store_batch(db["sessions"], batch, now=T0)
    assert isinstance(refused, InvalidInput) and "accuracy_m" in str(refused)
    assert isinstance(ok1, ib.Stored) and isinstance(ok2, ib.Stored)
    delete(db["factory"], ok1.incident_id, ok2.incident_id)


def test_two_batches_with_the_same_keys_in_another_order_do_not_deadlock(db, monkeypatch):
    """Two workers' batches carry the same two keys (a client retrying both reports), in opposite orders. Each
    insert waits for the other batch's row with its key; written in the order they arrived, each batch held the
    row the other waited for: PostgreSQL's deadlock detector failed one batch whole (OperationalError, a 503 for
    every report in it). Written in key order, the later batch waits and replays."""
    import threading

    k1, k2 = uuid.uuid4().hex, uuid.uuid4().hex
    with db["factory"]() as s:
        s.execute(text("""
            CREATE FUNCTION test_slow() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.description = 'slow' THEN PERFORM pg_sleep(0.5); END IF; RETURN NEW; END $$;
            CREATE TRIGGER test_slow BEFORE INSERT ON incidents FOR EACH ROW EXECUTE FUNCTION test_slow()"""))
        s.commit()
    results: dict[str, object] = {}
    both_read, write = threading.Barrier(2, timeout=10), ib._write

    def write_together(session, new):  # both batches have read (neither key stored yet) before either writes
        both_read.wait()
        return write(session, new)

    monkeypatch.setattr(ib, "_write", write_together)

    def run(name, batch):
        try:
            results[name] = ib.store_batch(db["sessions"], batch, now=T0)
        except Exception as exc:  # noqa: BLE001
            results[name] = exc

    batches = {"a": [pending(F.IN_G1, key=k1), pending(F.IN_G2, key=k2, description="slow")],
               "b": [pending(F.IN_G2, key=k2), pending(F.IN_G1, key=k1, description="slow")]}
    threads = [threading.Thread(target=run, args=item) for item in batches.items()]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        with db["factory"]() as s:
            s.execute(text("DROP TRIGGER test_slow ON incidents; DROP FUNCTION test_slow()"))
            s.commit()
        with db["factory"]() as s:
            ids = s.scalars(select(m.Incident.id).where(m.Incident.idempotency_key.in_([k1, k2]))).all()
        delete(db["factory"], *ids)
    assert isinstance(results["a"], list) and isinstance(results["b"], list), results
    for outcome in results["a"] + results["b"]:
        assert isinstance(outcome, (ib.Stored, R.IdempotencyKeyReused)), outcome
    assert len(ids) == 2


def test_an_exhausted_pool_fails_the_batch_at_once(module_db):
    """Every connection is taken: the first signed-in report's account check waits pool_timeout and times out.
    The batch then fails whole (503 for each report) instead of each signed-in report of it waiting its own
    pool_timeout in turn, the writer thread (one of two) stalled meanwhile."""
    import time

    from sqlalchemy.exc import TimeoutError as PoolTimeout

    engine = make_engine(module_db, pool_size=1, max_overflow=0, pool_timeout=0.3)

    def signed_in(session):
        session.execute(text("SELECT 1"))  # as the account behind a token is read
        return "staff"

    try:
        with engine.connect():  # the only connection
            started = time.monotonic()
            with pytest.raises(PoolTimeout):
                ib.store_batch(make_statement_sessionmaker(engine),
                               [pending(F.IN_G1, authorize=signed_in) for _ in range(8)])
            assert time.monotonic() - started < 1.5  # one pool_timeout, not eight (2.4 s)
    finally:
        engine.dispose()


def test_a_connection_lost_while_checking_a_caller_fails_the_batch(db):
    """A caller whose check finds the connection gone does not keep that as its own refusal (a 500 for it and
    the rest carrying on with a dead connection): the batch fails, and each report gets the 503 of a lost
    database; nothing of it is stored."""
    from sqlalchemy.exc import InterfaceError

    def connection_gone(session):
        raise InterfaceError("SELECT 1", {}, Exception("connection already closed"), connection_invalidated=True)

    before = count_incidents(db)
    with pytest.raises(InterfaceError):
        ib.store_batch(db["sessions"], [pending(F.IN_G1), pending(F.IN_G2, authorize=connection_gone)], now=T0)
    assert count_incidents(db) == before


def count_incidents(db) -> int:
    with db["factory"]() as s:
        return s.scalar(text("SELECT count(*) FROM incidents"))

"""Retention: ``purge`` deletes old audit rows and ledger entries and blanks closed incidents' reporters (their
contacts and the e-mail kept in their details)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from layers.retention import RetentionSettings, purge

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def _seed(s) -> None:
    s.execute(text("TRUNCATE audit_log, ledger_entries, incidents, buildings RESTART IDENTITY CASCADE"))
    for days in (10, 400, 2000):
        s.execute(
            text(
                "INSERT INTO audit_log (subject, roles, action, object_type, object_id, at, detail) "
                "VALUES ('u', 'admin', 'read', 'ledger_entry', :o, :at, '{}')"
            ),
            {"o": str(days), "at": NOW - dt.timedelta(days=days)},
        )
    s.execute(
        text(
            "INSERT INTO buildings (id, geom, source, stairwell_count, households, residents, properties) VALUES "
            "(1, ST_Multi(ST_Buffer(ST_SetSRID(ST_Point(102.18, 38.5), 4326), 0.0001)), 'synthetic', 0, 0, 0, '{}')"
        )
    )
    for i, days in enumerate((30, 1200)):
        s.execute(
            text(
                "INSERT INTO ledger_entries (building_id, grid_code, kind, person_name, created_at, source) "
                "VALUES (1, '620302001001001', 'resident', :n, :at, 'synthetic')"
            ),
            {"n": f"居民{i}", "at": NOW - dt.timedelta(days=days)},
        )
    # (state, closed days ago): an old closed one is blanked; a recent closed one and an old open one are kept
    for state, closed in (("closed", 365), ("closed", 20), ("handling", None)):
        s.execute(
            text(
                "INSERT INTO incidents (category, state, level, geom, original_lon, original_lat, original_crs, "
                "assignment, reporter_name, reporter_phone, closed_at, source) VALUES (:cat, :st, 'grid', "
                "ST_SetSRID(ST_Point(102.18, 38.5), 4326), 102.18, 38.5, 'wgs84', '{}', '张三', '13800000000', "
                ":c, 'synthetic')"
            ),
            {"cat": "road", "st": state, "c": None if closed is None else NOW - dt.timedelta(days=closed)},
        )
    s.execute(text("INSERT INTO incident_details (incident_id, request_hash, token, channel, sensitive, public_lon, "
                   "public_lat, private, extra, response) SELECT id, 'h', 't' || id, 'api', false, 102.18, 38.5, "
                   "'{\"email\": \"zhang@example.cn\"}', '{}', '{}' FROM incidents"))
    s.commit()


def test_purge_removes_exactly_the_expired(module_sessionmaker):
    settings = RetentionSettings(
        audit_days=365, incident_personal_days=180, order_personal_days=180, ledger_entry_days=1095
    )
    with module_sessionmaker() as s:
        _seed(s)
        dry = purge(s, settings, now=NOW, dry_run=True)
        s.commit()
        assert s.scalar(text("SELECT count(*) FROM audit_log")) == 3  # dry run changes nothing
        done = purge(s, settings, now=NOW)
        s.commit()
        assert dry == done
        assert done["audit_log"] == 2 and done["ledger_entries"] == 1 and done["incident_personal"] == 1
        assert s.scalars(text("SELECT object_id FROM audit_log")).all() == ["10"]
        assert s.scalars(text("SELECT person_name FROM ledger_entries")).all() == ["居民0"]
        rows = s.execute(
            text("SELECT state, reporter_name, reporter_phone, category FROM incidents ORDER BY id")
        ).all()
        assert [tuple(r) for r in rows] == [
            ("closed", None, None, "road"),
            ("closed", "张三", "13800000000", "road"),
            ("handling", "张三", "13800000000", "road"),
        ]
        emails = s.execute(text("SELECT private ->> 'email' FROM incident_details ORDER BY incident_id")).scalars()
        assert list(emails) == [None, "zhang@example.cn", "zhang@example.cn"]
        assert done["incident_private"] == 1
        # a second run finds nothing more
        again = purge(s, settings, now=NOW)
        assert set(again.values()) == {0}


def test_zero_days_keeps_forever(module_sessionmaker):
    with module_sessionmaker() as s:
        _seed(s)
        done = purge(
            s,
            RetentionSettings(
                audit_days=0, incident_personal_days=0, order_personal_days=0, ledger_entry_days=0
            ),
            now=NOW,
        )
        s.commit()
        assert done == {}
        assert s.scalar(text("SELECT count(*) FROM audit_log")) == 3


def test_purge_command_uses_retention_settings(module_db, module_sessionmaker):
    with module_sessionmaker() as s:
        _seed(s)
    env = {**os.environ, "GRIDMAP_DATABASE_URL": module_db.url, "GRIDMAP_RETENTION_AUDIT_DAYS": "5"}
    r = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "purge"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert "audit_log: 3 rows" in r.stdout
    with module_sessionmaker() as s:
        assert s.scalar(text("SELECT count(*) FROM audit_log")) == 0

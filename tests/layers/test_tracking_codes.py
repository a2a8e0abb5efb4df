"""Tracking codes for rows stored before residents had them (migration 0662): every older order and wish gets a
short code, and an order's old long rating token still finds it."""

from __future__ import annotations

import secrets

from sqlalchemy import text

from layers import migrate, tracking
from layers.db import make_engine, make_sessionmaker


def test_orders_and_wishes_from_before_get_codes_and_old_tokens_still_work(scratch_db):
    migrate.upgrade(scratch_db, "0661")
    legacy = secrets.token_urlsafe(24)
    eng = make_engine(scratch_db, pool_size=1, max_overflow=0)
    try:
        with eng.begin() as conn:
            conn.execute(text(
                "INSERT INTO service_orders (category, state, geom, original_lon, original_lat, original_crs, "
                "resident_token, source) VALUES ('errand', 'placed', ST_SetSRID(ST_MakePoint(102.19, 38.50), 4326), "
                "102.19, 38.50, 'wgs84', :t, 'api'), ('cleaning', 'placed', ST_SetSRID(ST_MakePoint(102.19, 38.50), "
                "4326), 102.19, 38.50, 'wgs84', :u, 'api')"), {"t": legacy, "u": secrets.token_urlsafe(24)})
            conn.execute(text("INSERT INTO wishes (title, state, grid_code, community_code, source) VALUES "
                              "('老花镜', 'posted', '620302001001001', '620302001001', 'api')"))
        migrate.upgrade(scratch_db)
        with make_sessionmaker(eng)() as s:
            rows = s.execute(text("SELECT kind, token FROM resident_tracks ORDER BY kind, object_id")).all()
            assert [k for k, _ in rows] == ["order", "order", "wish"]
            assert all(tracking.normalise_track_token(t) == t for _, t in rows) and len({t for _, t in rows}) == 3
            found = tracking.find(s, legacy)
            assert (found.kind, found.token) == ("order", rows[0][1])
            assert tracking.find(s, rows[2][1].lower()).kind == "wish"
    finally:
        eng.dispose()
    migrate.upgrade(scratch_db)  # at head already: nothing happens twice

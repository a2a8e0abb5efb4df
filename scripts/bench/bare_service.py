"""The HTTP benchmark's peer: the FastAPI + PostGIS service one would write first, with nothing of ours in it.

Two endpoints on the same database as the service (the published plan's ``grids``):

- ``GET /locate?lon=&lat=`` — one statement: the covering grid by ``ST_Covers`` (GiST index), exclusive grids
  first, then the lowest code; answers ``{"grid": code}`` (``null`` outside every grid);
- ``POST /incidents`` ``{"category", "lon", "lat", "description", ...}`` — one statement: the same lookup and an
  ``INSERT`` into its own table ``bare_incidents`` (autocommit), answering 201 with the id and grid.

No CRS conversion, 包街 rule, dispatch, duplicate check, idempotency, events or contacts: the floor that a
point-in-polygon intake over HTTP stands on. psycopg2 (the service's driver too) from a pool of
``GRIDMAP_BARE_POOL`` connections kept open (default 40, the size of FastAPI's thread pool, so a request never
finds it empty), the endpoints plain ``def`` (FastAPI runs them in its thread pool), pydantic for the body. Run it as ``uvicorn scripts.bench.bare_service:create_app --factory`` with
``GRIDMAP_DATABASE_URL`` set; :func:`scripts.bench.common.start_api` does (``app=``).
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Annotated

import psycopg2
import psycopg2.pool
from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

LOOKUP = ("SELECT g.code FROM grids g JOIN grid_plans p ON p.id = g.plan_id WHERE p.status = 'published' "
          "AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)) "
          "ORDER BY (g.kind = 'exclusive') DESC, g.code LIMIT 1")
INSERT = ("INSERT INTO bare_incidents (category, description, reporter_phone, geom, grid_code) "
          "SELECT %(category)s, %(description)s, %(reporter_phone)s, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), "
          f"({LOOKUP}) RETURNING id, grid_code")
TABLE = ("CREATE TABLE IF NOT EXISTS bare_incidents (id bigserial PRIMARY KEY, category text NOT NULL, "
         "description text, reporter_phone text, geom geometry(Point, 4326) NOT NULL, grid_code text, "
         "created_at timestamptz NOT NULL DEFAULT now())")


class Report(BaseModel):
    """An incident report: category and WGS84 point (other fields are stored as sent)."""

    category: str = Field(min_length=1, max_length=40)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    description: str | None = Field(default=None, max_length=2000)
    reporter_name: str | None = None
    reporter_phone: str | None = None


def _dsn() -> str:
    url = os.environ["GRIDMAP_DATABASE_URL"]
    return url.replace("postgresql+psycopg2://", "postgresql://")


def create_app() -> FastAPI:
    """The peer app; its pool opens in the lifespan."""
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        size = int(os.environ.get("GRIDMAP_BARE_POOL", "40"))
        # minconn = maxconn: psycopg2's pool closes a returned connection when more than minconn are idle
        pool = psycopg2.pool.ThreadedConnectionPool(size, size, _dsn())
        conn = pool.getconn()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(20261205)")  # two workers start at once: one creates the table
            cur.execute(TABLE)
            cur.execute("SELECT pg_advisory_unlock(20261205)")
        pool.putconn(conn)
        state["pool"] = pool
        try:
            yield
        finally:
            pool.closeall()

    app = FastAPI(title="bare FastAPI + PostGIS (benchmark peer)", lifespan=lifespan)

    def run(sql: str, params: dict) -> tuple | None:
        pool = state["pool"]
        conn = pool.getconn()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchone()
        except psycopg2.OperationalError:
            pool.putconn(conn, close=True)
            conn = None
            raise HTTPException(503, "database unavailable") from None
        finally:
            if conn is not None:
                pool.putconn(conn)

    @app.get("/locate")
    def locate(lon: Annotated[float, Query(ge=-180, le=180)], lat: Annotated[float, Query(ge=-90, le=90)]) -> dict:
        """The grid covering the point (or null)."""
        row = run(LOOKUP, {"lon": lon, "lat": lat})
        return {"grid": row[0] if row else None}

    @app.post("/incidents", status_code=201)
    def incident(report: Report) -> dict:
        """Store the report with the grid covering its point."""
        row = run(INSERT, report.model_dump())
        return {"id": row[0], "grid": row[1]}

    return app

"""``create_app()``: build the FastAPI service; the engine is made in the lifespan, never at import."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.intake_queue import IntakeQueue
from api.limits import install_limits
from api.read_your_writes import install_read_your_writes
from api.routes import auth as auth_routes
from api.routes import circles as circle_routes
from api.routes import (
    civic_pages,
    civic_staff,
    deliberation,
    health,
    layers,
    matters,
    ogc,
    people,
    plans,
    visits,
    volunteers,
)
from api.routes import coverage as coverage_routes
from api.routes import docs as docs_routes
from api.routes import facilities as facility_routes
from api.routes import incidents as incident_routes
from api.routes import locate as locate_routes
from api.routes import maps as maps_routes
from api.routes import open311 as open311_routes
from api.routes import plan_editor as plan_editor_routes
from api.routes import residents as resident_routes
from api.routes import roster as roster_routes
from api.routes import services as services_routes
from api.routes import users as user_routes
from api.routes import workbench as workbench_routes
from api.routes.maps import map_settings
from api.settings import Settings, secret_problem
from api.worker import install_worker_id
from layers.replica import Databases
from maps.common import basemap_origins

log = logging.getLogger("gridmap.api")

DESCRIPTION = """
**gridmap 社区网格化服务管理** — 网格、楼栋、设施、15分钟便民服务圈与事件派遣。

Grid polygons, buildings, facilities and service circles in PostGIS; incidents located to the right grid.
Coordinates are WGS84 (EPSG:4326) unless a `crs` parameter says otherwise. Synthetic demo features carry
`source = "synthetic"`; OpenStreetMap data is © OpenStreetMap contributors (ODbL).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Create the app. Pass ``settings`` to point it at another database (tests do)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        databases = Databases(settings.db)  # the primary, and the read replica if GRIDMAP_DATABASE_READ_URL
        app.state.databases = databases
        app.state.engine = databases.primary
        app.state.sessionmaker = databases.primary_sessions
        app.state.intake = IntakeQueue(databases.primary_statement_sessions, writers=settings.api.intake_writers,
                                       max_batch=settings.api.intake_batch)
        # the ~226,000 objects of the imported modules and the app live as long as the process: out of the garbage
        # collector's sight, a full collection no longer stops every request of the worker for ~135 ms to scan
        # them (~40 ms now; GET /api/v1/locate under 16 connections on one worker, 2026-12-05)
        gc.freeze()
        try:
            yield
        finally:
            app.state.intake.close()
            databases.dispose()

    app = FastAPI(
        title="gridmap 社区网格化服务管理 API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by api.routes.docs, with the page's CSP nonce
        redoc_url=None,
    )
    app.state.settings = settings
    if secret_problem(settings.api.secret_key):
        log.warning("%s: nobody can sign in until GRIDMAP_SECRET_KEY is set (scripts/bootstrap.sh setup writes one)",
                    secret_problem(settings.api.secret_key))
    install_error_handlers(app)
    install_limits(app, settings, image_origins=basemap_origins(map_settings(settings)))
    install_read_your_writes(app, settings)
    install_worker_id(app)
    # the two busiest calls first: a request is matched against the routes in this order
    app.include_router(locate_routes.router)
    app.include_router(incident_routes.router)
    app.include_router(docs_routes.router)
    app.include_router(health.router)
    app.include_router(auth_routes.router)
    app.include_router(user_routes.router)
    app.include_router(layers.router)
    app.include_router(facility_routes.router)
    app.include_router(circle_routes.router)
    app.include_router(coverage_routes.router)
    app.include_router(people.router)
    app.include_router(roster_routes.router)
    app.include_router(services_routes.router)
    app.include_router(resident_routes.router)
    app.include_router(plans.router)
    app.include_router(open311_routes.router)
    app.include_router(ogc.router)
    app.include_router(maps_routes.router)
    app.include_router(plan_editor_routes.router)
    app.include_router(workbench_routes.router)
    for civic in (deliberation, visits, volunteers, matters, civic_pages, civic_staff):
        app.include_router(civic.router)
    return app

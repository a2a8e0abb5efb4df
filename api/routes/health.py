"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gis.errors import ServiceUnavailable
from layers.db import ping

router = APIRouter(tags=["health 健康检查"])


@router.get(
    "/healthz",
    summary="健康检查：服务与数据库是否可用 (is the service and its database up?)",
    responses={503: {"description": "数据库不可用 (database down)"}},
)
def healthz(request: Request) -> JSONResponse:
    """Answer 200 with the PostgreSQL and PostGIS versions and this process's opaque worker id (also in the
    ``X-Gridmap-Worker`` header of every answer), or 503 with Retry-After if the database is down."""
    try:
        versions = ping(request.app.state.engine)
    except ServiceUnavailable as exc:
        return JSONResponse(
            {"status": "unhealthy", "database": "unreachable", "message": exc.message},
            status_code=503,
            headers={"Retry-After": "2"},
        )
    return JSONResponse({"status": "ok", "database": "ok", **versions, "worker": request.app.state.worker_id})

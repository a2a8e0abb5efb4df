"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from api.auth import verified_caller
from gis.domain import UserRole
from gis.errors import ServiceUnavailable
from layers.db import ping

router = APIRouter(tags=["health 健康检查"])
DATABASE_DOWN = "数据库暂时不可用，请稍后重试 (the database is not reachable; retry later)"


@router.get(
    "/healthz",
    summary="健康检查：服务与数据库是否可用 (is the service and its database up?)",
    responses={503: {"description": "数据库不可用 (database down)"}},
)
def healthz(request: Request) -> JSONResponse:
    """Answer 200 ``{"status": "ok", "database": "ok"}`` (all a load balancer needs), or 503 with Retry-After if
    the database is down. Only an administrator's token also gets the internals: the PostgreSQL and PostGIS
    versions, where reads go (``reads``: the replica or the primary, and whether that server is a standby) and
    this process's opaque worker id (also in the ``X-Gridmap-Worker`` header of every answer); anyone else,
    signed in or not, sees no more than the two fields."""
    try:
        versions = ping(request.app.state.engine)
        reads = request.app.state.databases.read_status()
    except (ServiceUnavailable, OperationalError) as exc:
        message = exc.message if isinstance(exc, ServiceUnavailable) else DATABASE_DOWN
        return JSONResponse(
            {"status": "unhealthy", "database": "unreachable", "message": message},
            status_code=503,
            headers={"Retry-After": "2"},
        )
    if not _is_admin(request):
        return JSONResponse({"status": "ok", "database": "ok"})
    return JSONResponse({"status": "ok", "database": "ok", **versions, "reads": reads,
                         "worker": request.app.state.worker_id})


def _is_admin(request: Request) -> bool:
    """True when the request's bearer token or API key proves an administrator (a bad one is just not)."""
    if not request.headers.get("authorization") and not request.headers.get("x-api-key"):
        return False
    caller = verified_caller(request)
    return caller is not None and caller.has_any(UserRole.ADMIN)

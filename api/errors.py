"""The one table that maps domain errors to HTTP status codes, and the handlers that apply it."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gis.errors import (
    Conflict,
    Forbidden,
    GridmapError,
    InvalidCoordinates,
    InvalidGeometry,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    PlanConflict,
    ServiceUnavailable,
    UnknownCRS,
)

log = logging.getLogger("gridmap.api")

# Most specific first: the first class in this table that an error is an instance of decides its status.
STATUS: dict[type[GridmapError], int] = {
    PayloadTooLarge: 413,
    InvalidCoordinates: 422,
    UnknownCRS: 422,
    InvalidGeometry: 422,
    InvalidInput: 422,
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    PlanConflict: 409,
    Conflict: 409,
    ServiceUnavailable: 503,
}

RETRY_AFTER_S = 2


def status_for(exc: GridmapError) -> int:
    """The HTTP status for a domain error (500 for a class missing from the table)."""
    for cls, status in STATUS.items():
        if isinstance(exc, cls):
            return status
    return 500


def _body(code: str, message: str, detail: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "detail": detail or {}}}


async def _domain_error(request: Request, exc: GridmapError) -> JSONResponse:
    status = status_for(exc)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(_body(exc.code, exc.message, exc.detail), status_code=status, headers=headers)


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    if type(getattr(exc, "orig", None)).__name__ == "QueryCanceled":  # statement_timeout: busy, not down
        log.warning("statement timeout on %s", request.url.path)
        message = "查询超时，服务繁忙，请稍后重试或缩小范围 (the query timed out; retry later or ask for less)"
    else:
        log.warning("database unavailable: %s", type(exc).__name__)
        message = "数据库暂时不可用，请稍后重试 (the database is not reachable; retry later)"
    return JSONResponse(
        _body("service_unavailable", message),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _bad_value(request: Request, exc: DataError) -> JSONResponse:
    # SQLSTATE class 22 (data exception): a value the database cannot take, e.g. a time zone offset out of range
    detail = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
    return JSONResponse(
        _body("invalid_input", f"参数值超出允许范围 (a value is out of range): {detail}", {"database": detail}),
        status_code=422,
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        problems.append({"where": where, "problem": err.get("msg", ""), "type": err.get("type", "")})
    summary = "; ".join(f"{p['where']}: {p['problem']}" for p in problems[:5])
    return JSONResponse(
        _body("invalid_input", f"请求参数有误 (invalid request): {summary}", {"problems": problems}),
        status_code=422,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: domain errors by the table, database outages as 503 with Retry-After."""
    app.add_exception_handler(GridmapError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(PoolTimeout, _database_down)

    async def _dbapi_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return await _database_down(request, exc)
        log.exception("database error")
        return JSONResponse(_body("internal_error", "服务器内部错误 (internal error)"), status_code=500)

    app.add_exception_handler(DBAPIError, _dbapi_error)
    app.add_exception_handler(DataError, _bad_value)

"""The one table that maps domain errors to HTTP status codes, and the handlers that apply it."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    RateLimited,
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
    RateLimited: 429,
    ServiceUnavailable: 503,
}

RETRY_AFTER_S = 2


def status_for(exc: GridmapError) -> int:
    """The HTTP status for a domain error (500 for a class missing from the table)."""
    for cls, status in STATUS.items():
        if isinstance(exc, cls):
            return status
    return 500


def _json_safe(value):
    """``value`` with every float JSON cannot carry (NaN, ±Infinity) written as text: a detail echoing a bad
    number must not turn a 422 into a 500."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _body(code: str, message: str, detail: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "detail": _json_safe(detail or {})}}


HTTP_CODES = {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large", 415: "unsupported_media_type",
              422: "invalid_input", 429: "rate_limited"}
HTTP_MESSAGES = {
    400: "请求无法解析 (the request cannot be parsed)",
    404: "没有这个地址 (no such path)",
    405: "此地址不支持该请求方法 (this path does not take that method)",
}


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Errors raised by the framework itself (unknown path, wrong method, an unparsable body) in the service's
    format, not FastAPI's bare ``{"detail": …}``."""
    status = exc.status_code
    message = HTTP_MESSAGES.get(status) or (exc.detail if isinstance(exc.detail, str) else f"HTTP {status}")
    return JSONResponse(_body(HTTP_CODES.get(status, "error"), message), status_code=status,
                        headers=getattr(exc, "headers", None))


async def _domain_error(request: Request, exc: GridmapError) -> JSONResponse:
    status = status_for(exc)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after_s)}
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
    # SQLSTATE class 22 (data exception): a value the database cannot take, e.g. a time zone offset out of range.
    # The database's own words stay in the log: they name tables and internals, and help no caller.
    log.warning("data exception on %s: %s", request.url.path, str(getattr(exc, "orig", exc)).splitlines()[0][:200])
    return JSONResponse(
        _body("invalid_input", "参数值超出允许范围或格式不被接受，请检查输入 (a value is out of range or not in a form "
                               "the service accepts; check the input)"),
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
    app.add_exception_handler(StarletteHTTPException, _http_error)
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

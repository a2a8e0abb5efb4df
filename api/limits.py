"""Request limits that protect the service: a body size cap (413) and a per-client rate limit on public
intake (429 with ``Retry-After``). Both are plain ASGI middleware, configured by :class:`ApiSettings`.

- Bodies larger than ``max_body_bytes`` (``max_upload_bytes`` for ``…/import`` uploads) are refused before
  the route sees them, whether ``Content-Length`` says so or the stream turns out longer.
- Public intake (residents' reports, orders, wishes, ratings, tracking-code look-ups) allows ``public_rate_burst``
  requests at once and ``public_rate_per_min`` a minute per client: per verified account (a valid token or API key
  of a non-staff account), else per client address (:mod:`api.proxies`). Signed-in staff are not limited here.
- The buckets are rows of one PostgreSQL table, spent with one atomic UPSERT (:mod:`layers.rate_limits`): the
  limit holds across worker processes and machines. Anonymous batch locating has a budget of its own, in points
  (:func:`spend`, called by the route once it knows how many points a batch has).
"""

from __future__ import annotations

import json
import logging
import math
import re

from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api.auth import verified_caller
from api.csp import ContentSecurityPolicy
from api.inputs import StrictJSON
from api.proxies import TrustedProxies
from gis.domain import UserRole

# Accounts that act for the service and are accountable by name: their intake is not limited here.
STAFF_ROLES = (UserRole.ADMIN, UserRole.DISPATCHER, UserRole.GRID_STAFF, UserRole.PLANNER, UserRole.PARTY_MEMBER)

# (method, path pattern) of the public intake endpoints.
PUBLIC_INTAKE: list[tuple[str, re.Pattern[str]]] = [
    ("POST", re.compile(r"^/api/v1/incidents/?$")),
    ("POST", re.compile(r"^/api/v1/orders/?$")),
    ("POST", re.compile(r"^/api/v1/orders/[^/]+/rating/?$")),
    ("POST", re.compile(r"^/api/v1/wishes/?$")),
    ("POST", re.compile(r"^/open311/.*requests(\.json|\.xml)?$")),
    ("POST", re.compile(r"^/api/v1/residents/(reports|orders|wishes)/?$")),
    ("POST", re.compile(r"^/api/v1/track/[^/]+/rating/?$")),
    ("GET", re.compile(r"^/api/v1/track/[^/]+/?$")),  # guessing codes costs the same as sending forms
]
log = logging.getLogger("gridmap.api")
UPLOAD_PATH = re.compile(r"/import/?$")


def _error(code: str, message: str, detail: dict) -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message, "detail": detail}}, ensure_ascii=False
    ).encode()


async def _send_json(
    send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse request bodies over the configured size with 413 and a message saying the limit."""

    def __init__(self, app, settings) -> None:
        self.app = app
        self.settings = settings

    def _limit(self, path: str) -> int:
        api = self.settings.api
        return api.max_upload_bytes if UPLOAD_PATH.search(path) else api.max_body_bytes

    async def _refuse(self, send, limit: int) -> None:
        body = _error(
            "payload_too_large",
            f"请求体超过 {limit} 字节，请拆分后分批提交 (the body is larger than {limit} bytes; split it into "
            f"smaller requests)",
            {"max_body_bytes": limit},
        )
        await _send_json(send, 413, body, [(b"connection", b"close")])

    async def __call__(self, scope, receive, send):
        """Check the declared length, then count the streamed bytes."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self._limit(scope["path"])
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    return await self._refuse(send, limit)
        seen = 0
        started = False

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, limit)


def client_key(request: Request) -> str | None:
    """Whose budget a request spends: ``account:<name>`` for a verified token or API key, ``None`` for signed-in
    staff (accountable by name: not limited), else ``ip:<address>`` — the client address as
    :mod:`api.proxies` established it. A credential that does not verify counts as none: a made-up header never
    opens a fresh budget. Reads the database when a credential is sent (call it off the event loop)."""
    if request.headers.get("authorization") or request.headers.get("x-api-key"):
        principal = verified_caller(request)
        if principal is not None and principal.has_any(*STAFF_ROLES):
            return None
        if principal is not None:
            return "account:" + principal.subject
    return "ip:" + (request.client.host if request.client else "unknown")


def spend(request: Request, budget: str, cost: float, *, per_min: float, burst: float) -> float:
    """Spend ``cost`` of the caller's ``budget`` (``"intake"``, ``"batch"``) in the shared buckets: 0.0 if
    granted (or the caller is exempt), else the seconds to wait (``inf``: more than the whole budget)."""
    from layers.rate_limits import take

    key = client_key(request)
    if key is None:
        return 0.0
    with request.app.state.engine.begin() as conn:
        return take(conn, f"{budget}:{key}", cost=cost, burst=burst, per_min=per_min)


def _unavailable() -> bytes:
    return _error("service_unavailable", "数据库暂时不可用，请稍后重试 (the database is not reachable; retry later)", {})


class PublicIntakeRateLimit:
    """429 with ``Retry-After`` when one client sends public intake faster than allowed; the buckets live in
    PostgreSQL (:mod:`layers.rate_limits`), so every worker process and machine enforces one limit."""

    def __init__(self, app, settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send):
        """Let the request through or answer 429 (503 when the database cannot say)."""
        api = self.settings.api
        if api.public_rate_per_min <= 0 or scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        if not any(method == m and p.match(path) for m, p in PUBLIC_INTAKE):
            return await self.app(scope, receive, send)
        try:
            wait = await run_in_threadpool(spend, Request(scope), "intake", 1, per_min=api.public_rate_per_min,
                                           burst=api.public_rate_burst)
        except (OperationalError, PoolTimeout):
            return await _send_json(send, 503, _unavailable(), [(b"retry-after", b"2")])
        if wait <= 0:
            return await self.app(scope, receive, send)
        seconds = max(1, math.ceil(wait))
        body = _error(
            "rate_limited",
            f"提交过于频繁，请 {seconds} 秒后重试 (too many submissions from this client; retry in {seconds} s)",
            {"retry_after_s": seconds, "per_minute": api.public_rate_per_min, "burst": api.public_rate_burst},
        )
        await _send_json(send, 429, body, [(b"retry-after", str(seconds).encode())])


async def _value_error(request, exc: ValueError):
    """PostgreSQL text cannot hold NUL characters: answer 422 instead of failing inside the driver."""
    from fastapi.responses import JSONResponse

    if isinstance(exc, UnicodeError):  # a lone surrogate in a form field or a path: not text at all
        return JSONResponse(json.loads(_error(
            "invalid_input", "输入中有无效字符（孤立的代理字符或错误编码）(the input holds characters that are not "
            "text: a lone surrogate or a broken encoding)", {})), status_code=422)
    if "NUL (0x00)" in str(exc):
        return JSONResponse(json.loads(_error(
            "invalid_input",
            "输入不能包含 NUL (\\u0000) 字符 (text must not contain NUL characters); 请删除后重试 (remove them and retry)",
            {},
        )), status_code=422)
    log.error("unhandled ValueError on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(json.loads(_error("internal_error", "服务器内部错误 (internal error)", {})), status_code=500)


async def _refuse_json(send, message: str) -> None:
    await _send_json(send, 422, _error("invalid_input", message, {}))


def install_limits(app, settings, *, image_origins=()) -> None:
    """Add, from the outside in: trusted proxies (who the client is), the Content-Security-Policy, the body size
    cap, the public intake rate limit, the strict JSON check; and the answer to text PostgreSQL cannot store."""
    app.add_middleware(StrictJSON, answer_422=_refuse_json)
    app.add_middleware(PublicIntakeRateLimit, settings=settings)
    app.add_middleware(BodySizeLimit, settings=settings)
    app.add_middleware(ContentSecurityPolicy, image_origins=image_origins)
    app.add_middleware(TrustedProxies, networks=settings.api.trusted_networks)
    app.add_exception_handler(ValueError, _value_error)

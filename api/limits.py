"""Request limits that protect the service: a body size cap (413) and a per-client rate limit on public
intake (429 with ``Retry-After``). Both are plain ASGI middleware, configured by :class:`ApiSettings`.

- Bodies larger than ``max_body_bytes`` (``max_upload_bytes`` for ``…/import`` uploads) are refused before
  the route sees them, whether ``Content-Length`` says so or the stream turns out longer.
- Public intake (residents' reports, orders, wishes, ratings, tracking-code look-ups) allows ``public_rate_burst`` requests at once
  and ``public_rate_per_min`` a minute per client: per API key if one is sent, else per client address.
  Signed-in staff (a valid bearer token of a non-public role) are not limited here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from dataclasses import dataclass

from api.auth import read_token
from gis.errors import NotAuthenticated

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


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """In-process token buckets: ``burst`` tokens, refilled at ``per_min`` a minute, one bucket per key."""

    def __init__(self, per_min: float, burst: int, *, clock=time.monotonic, max_keys: int = 50_000) -> None:
        self.rate = per_min / 60.0
        self.burst = max(1, burst)
        self.clock = clock
        self.max_keys = max_keys
        self.buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else the seconds until one is free."""
        now = self.clock()
        b = self.buckets.get(key)
        if b is None:
            if len(self.buckets) >= self.max_keys:
                self._prune(now)
            b = self.buckets[key] = _Bucket(float(self.burst), now)
        else:
            b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
            b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / self.rate if self.rate > 0 else 60.0

    def _prune(self, now: float) -> None:
        full = [k for k, b in self.buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for k in full:
            del self.buckets[k]
        if len(self.buckets) >= self.max_keys:  # all busy: forget the oldest half
            for k in sorted(self.buckets, key=lambda k: self.buckets[k].at)[: self.max_keys // 2]:
                del self.buckets[k]


class PublicIntakeRateLimit:
    """429 with ``Retry-After`` when one client sends public intake faster than allowed."""

    def __init__(self, app, settings) -> None:
        self.app = app
        self.settings = settings
        api = settings.api
        self.buckets = (
            TokenBuckets(api.public_rate_per_min, api.public_rate_burst)
            if api.public_rate_per_min > 0
            else None
        )

    def _key(self, scope) -> str | None:
        headers = dict(scope.get("headers", ()))
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth.lower().startswith("bearer "):
            try:
                principal = read_token(auth[7:].strip(), self.settings.api.secret_key)
                if not principal.is_public:
                    return None  # signed-in staff are accountable; not limited here
            except NotAuthenticated:
                pass
        key = headers.get(b"x-api-key")
        if key:
            return "key:" + hashlib.sha256(key).hexdigest()[:24]
        client = scope.get("client")
        return "ip:" + (client[0] if client else "unknown")

    async def __call__(self, scope, receive, send):
        """Let the request through or answer 429."""
        if self.buckets is None or scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope["method"], scope["path"]
        if not any(method == m and p.match(path) for m, p in PUBLIC_INTAKE):
            return await self.app(scope, receive, send)
        key = self._key(scope)
        wait = 0.0 if key is None else self.buckets.take(key)
        if wait <= 0:
            return await self.app(scope, receive, send)
        seconds = max(1, math.ceil(wait))
        body = _error(
            "rate_limited",
            f"提交过于频繁，请 {seconds} 秒后重试 (too many submissions from this client; retry in {seconds} s)",
            {
                "retry_after_s": seconds,
                "per_minute": self.settings.api.public_rate_per_min,
                "burst": self.settings.api.public_rate_burst,
            },
        )
        await _send_json(send, 429, body, [(b"retry-after", str(seconds).encode())])


async def _value_error(request, exc: ValueError):
    """PostgreSQL text cannot hold NUL characters: answer 422 instead of failing inside the driver."""
    from fastapi.responses import JSONResponse

    if "NUL (0x00)" in str(exc):
        return JSONResponse(json.loads(_error(
            "invalid_input",
            "输入不能包含 NUL (\\u0000) 字符 (text must not contain NUL characters); 请删除后重试 (remove them and retry)",
            {},
        )), status_code=422)
    log.error("unhandled ValueError on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(json.loads(_error("internal_error", "服务器内部错误 (internal error)", {})), status_code=500)


def install_limits(app, settings) -> None:
    """Add the body size cap (outermost), the public intake rate limit and the NUL-character answer."""
    app.add_middleware(PublicIntakeRateLimit, settings=settings)
    app.add_middleware(BodySizeLimit, settings=settings)
    app.add_exception_handler(ValueError, _value_error)

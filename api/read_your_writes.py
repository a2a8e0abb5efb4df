"""Read-your-writes behind a read replica (see :mod:`layers.replica`).

After a successful write (any request other than GET/HEAD/OPTIONS that is answered below 400), the writer gets
the primary's WAL position: the ``gridmap_wrote`` cookie (HttpOnly, for ``read_your_writes_s`` seconds) and the
``Gridmap-Write-Position`` header. A read that brings it back — the cookie, or the header
``Gridmap-Read-After: <position>`` from clients that keep no cookies — is served by the replica only once the
replica has replayed that position, else by the primary. Without a replica nothing is added.
"""

from __future__ import annotations

import logging

import anyio
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

WROTE_COOKIE = "gridmap_wrote"
READ_AFTER_HEADER = "gridmap-read-after"
WRITE_POSITION_HEADER = b"gridmap-write-position"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger("gridmap.api")


class ReadYourWrites:
    """Plain ASGI middleware: hands a successful writer the primary's WAL position."""

    def __init__(self, app, state, max_age_s: int) -> None:
        self.app = app
        self.state = state  # the FastAPI app's state: ``databases`` is set there by the lifespan
        self.max_age_s = max_age_s

    async def __call__(self, scope, receive, send):
        """Pass the request on; stamp a successful write's answer with the write position."""
        databases = getattr(self.state, "databases", None)
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS or databases is None \
                or not databases.has_replica:
            return await self.app(scope, receive, send)

        async def stamped(message):
            if message["type"] == "http.response.start" and message["status"] < 400:
                position = await _position(databases)
                if position:
                    cookie = (f"{WROTE_COOKIE}={position}; Max-Age={self.max_age_s}; Path=/; HttpOnly; "
                              "SameSite=Lax")
                    message["headers"] = [*message.get("headers", ()), (b"set-cookie", cookie.encode()),
                                          (WRITE_POSITION_HEADER, position.encode())]
            await send(message)

        return await self.app(scope, receive, stamped)


async def _position(databases) -> str | None:
    try:
        return await anyio.to_thread.run_sync(databases.write_position)
    except (DBAPIError, PoolTimeout) as exc:  # the write is done; only the hint is lost
        log.warning("could not read the primary's write position: %s", type(exc).__name__)
        return None


def install_read_your_writes(app, settings) -> None:
    """Add the middleware (it does nothing unless a read replica is configured)."""
    app.add_middleware(ReadYourWrites, state=app.state, max_age_s=settings.db.read_your_writes_s)

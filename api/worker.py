"""Which process answered: every response carries ``X-Gridmap-Worker``, an opaque id drawn when the process
builds its app (``gridmap serve --workers N`` builds one app per process). It tells an operator, or a test, which
of N workers or machines served a request; it says nothing about the host."""

from __future__ import annotations

import secrets

WORKER_HEADER = b"x-gridmap-worker"


class WorkerHeader:
    """Plain ASGI middleware that adds ``X-Gridmap-Worker: <id>`` to every HTTP response."""

    def __init__(self, app, worker_id: str) -> None:
        self.app = app
        self.value = worker_id.encode()

    async def __call__(self, scope, receive, send):
        """Pass the request on; stamp the response's headers."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def stamped(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (WORKER_HEADER, self.value)]
            await send(message)

        return await self.app(scope, receive, stamped)


def install_worker_id(app) -> str:
    """Draw this process's id, keep it in ``app.state.worker_id`` and stamp every response with it."""
    worker_id = secrets.token_hex(4)
    app.state.worker_id = worker_id
    app.add_middleware(WorkerHeader, worker_id=worker_id)
    return worker_id

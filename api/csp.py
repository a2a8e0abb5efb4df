"""Every HTML page carries a Content-Security-Policy; every response the usual hardening headers.

Scripts run only from this service (``'self'``) or inline with the nonce drawn for that one response: a page
renders its own ``<script>`` elements with ``nonce="…"`` (:func:`maps.common.render` and the other page renderers
take the nonce of ``request.state.csp_nonce``; data reaches an inline script only as JSON with ``<``, ``>``, ``&``
and U+2028/9 escaped, :func:`maps.common.script_json`), so markup that slipped into a page some other way, even
a ``<script>`` in a stored name, cannot run: it has no nonce. Styles may be inline
(Leaflet and Folium set them), images come from here, ``data:``/``blob:`` URLs and the configured basemap's tile
servers; nothing may frame the pages, and forms post only here. The API docs (``/docs``, ``/redoc``) load
Swagger UI/ReDoc from their CDN as FastAPI serves them, and are allowed exactly that.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

DOCS_CDN = "https://cdn.jsdelivr.net"
HEADER = b"content-security-policy"
DOCS_PATHS = ("/docs", "/redoc")
ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


def policy(nonce: str, *, image_origins: Iterable[str] = (), docs: bool = False) -> str:
    """The policy of one HTML response."""
    cdn = f" {DOCS_CDN}" if docs else ""
    images = " ".join(["'self'", "data:", "blob:", *image_origins, *(["https://fastapi.tiangolo.com"] if docs else [])])
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'{cdn}",
        f"style-src 'self' 'unsafe-inline'{cdn}",
        f"img-src {images}",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class ContentSecurityPolicy:
    """ASGI middleware: draw a nonce per request (``request.state.csp_nonce``); on HTML answers send the policy
    with it; on every answer ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``."""

    def __init__(self, app, image_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.image_origins = tuple(image_origins)

    async def __call__(self, scope, receive, send):
        """Pass the request on with its nonce; add the headers to the answer."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        docs = scope["path"] in DOCS_PATHS

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    value = policy(nonce, image_origins=self.image_origins, docs=docs)
                    headers.append((HEADER, value.encode()))
                names = {k.lower() for k, _ in headers}
                headers.extend(h for h in ALWAYS if h[0] not in names)
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, with_headers)

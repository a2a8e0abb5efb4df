"""The API documentation pages (Swagger UI at ``/docs``, ReDoc at ``/redoc``) as FastAPI renders them, with the
response's Content-Security-Policy nonce on their script elements (see :mod:`api.csp`).

FastAPI writes these pages from the app's title and URLs only — nothing of a request but the server's configured
root path, which must be a plain path — so every ``<script`` in them is FastAPI's own and gets the nonce."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
OPENAPI_URL = "/openapi.json"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


PLAIN_PATH = re.compile(r"[A-Za-z0-9/_.\-]*")


def _page(request: Request, page: HTMLResponse) -> HTMLResponse:
    nonce = request.state.csp_nonce
    html = bytes(page.body).decode()
    return HTMLResponse(html.replace("<script>", f'<script nonce="{nonce}">')
                        .replace("<script ", f'<script nonce="{nonce}" '))


def _root(request: Request) -> str:
    root = request.scope.get("root_path", "").rstrip("/")
    return root if PLAIN_PATH.fullmatch(root) else ""


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: try every endpoint from the browser."""
    root = _root(request)
    return _page(request, get_swagger_ui_html(openapi_url=root + OPENAPI_URL,
                                              title=f"{request.app.title} - Swagger UI",
                                              oauth2_redirect_url=root + OAUTH2_REDIRECT_URL))


@router.get(OAUTH2_REDIRECT_URL)
def swagger_ui_redirect(request: Request) -> HTMLResponse:
    """Where Swagger UI's OAuth2 sign-in returns to."""
    return _page(request, get_swagger_ui_oauth2_redirect_html())


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc: the API reference as one page."""
    root = _root(request)
    return _page(request, get_redoc_html(openapi_url=root + OPENAPI_URL, title=f"{request.app.title} - ReDoc"))

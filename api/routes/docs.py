"""The API documentation pages (Swagger UI at ``/docs``, ReDoc at ``/redoc``) as FastAPI renders them, with the
response's Content-Security-Policy nonce on their inline scripts (see :mod:`api.csp`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from api.csp import add_nonce

router = APIRouter(include_in_schema=False)
OPENAPI_URL = "/openapi.json"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


def _page(request: Request, page: HTMLResponse) -> HTMLResponse:
    return HTMLResponse(add_nonce(bytes(page.body).decode(), request.state.csp_nonce))


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: try every endpoint from the browser."""
    root = request.scope.get("root_path", "").rstrip("/")
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
    root = request.scope.get("root_path", "").rstrip("/")
    return _page(request, get_redoc_html(openapi_url=root + OPENAPI_URL, title=f"{request.app.title} - ReDoc"))

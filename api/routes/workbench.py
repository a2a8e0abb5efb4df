"""调度工作台 (the dispatcher's workbench): ``GET /maps/dispatch`` and the page's token renewal.

For dispatchers, grid staff and admins, signed in with ``Authorization: Bearer`` or the ``gridmap_token``
cookie (a browser that is not signed in is sent to ``/maps/signin``). The page is plain HTML with its ES
modules (``maps/static/js/pages/dispatch.js``) and calls the JSON API with its own short-lived token, since the
sign-in cookie is HttpOnly; ``GET /maps/dispatch/token`` renews that token from the cookie.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from api.auth import Principal, issue_token, principal_for_token
from api.deps import SessionDep, SettingsDep
from api.routes.maps import TOKEN_COOKIE, map_settings, nonce, page
from gis.domain import UserRole
from gis.errors import Forbidden, NotAuthenticated
from gis.incidents import Action, role_may
from maps import assets
from maps.common import MapContext
from maps.workbench import workbench_html
from usecases.dispatch import workbench_setup

router = APIRouter(tags=["maps 地图"])
PAGE_TOKEN_TTL_S = 20 * 60
ROLES = (UserRole.ADMIN, UserRole.DISPATCHER, UserRole.GRID_STAFF)


def workbench_user(request: Request) -> Principal:
    """A signed-in dispatcher, grid staff member or admin, from the bearer header or the sign-in cookie."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise NotAuthenticated("需要登录 (sign-in required)")
    principal = principal_for_token(request, token)
    if not principal.has_any(*ROLES):
        raise Forbidden("仅限调度员和网格工作人员 (dispatchers and grid staff only)")
    return principal


WorkbenchUser = Annotated[Principal, Depends(workbench_user)]


def workbench_user_or_signin(request: Request, path: str) -> Principal | RedirectResponse:
    """The signed-in user of a staff page at ``path``; a browser that is not signed in is sent to the sign-in form
    and back (other callers get the 401)."""
    try:
        return workbench_user(request)
    except NotAuthenticated:
        if "text/html" not in request.headers.get("accept", ""):
            raise
        return RedirectResponse(f"/maps/signin?next={quote(path)}", status_code=303)


def _scope(principal: Principal) -> str | None:
    return "" if UserRole.ADMIN.value in principal.roles else principal.scope


def _user(principal: Principal) -> dict:
    labels = UserRole.labels()
    return {"name": principal.subject, "scope": principal.scope,
            "roles_zh": "、".join(labels.get(r, r) for r in sorted(principal.roles))}


@router.get(
    "/maps/dispatch",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}}, 401: {"description": "需要登录"},
               403: {"description": "仅限调度员和网格工作人员"}},
    summary="调度工作台：队列、接警、派遣与流转、考核指标 (the dispatcher's workbench)",
)
def workbench_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The queue of the user's scope beside the map (filters by state, overdue, category, grid and channel;
    updated every few seconds), taking a call (the point by click, search or coordinates; who and why before
    saving; nearby duplicates), one incident's actions and history, and the KPI panel. A browser that is not
    signed in is sent to ``/maps/signin``."""
    principal = workbench_user_or_signin(request, "/maps/dispatch")
    if isinstance(principal, RedirectResponse):
        return principal
    ms = map_settings(settings)
    assets.check_installed(ms.vendor_dir)
    secret = request.app.state.settings.api.secret_key
    config = {
        **workbench_setup(session, scope=_scope(principal)),
        "token": issue_token(principal, secret, ttl_s=PAGE_TOKEN_TTL_S), "tokenUrl": "/maps/dispatch/token",
        "user": _user(principal), "pollSeconds": ms.dispatch_poll_s,
        "canDispatch": role_may(principal.roles, Action.DISPATCH),
        "canRegister": role_may(principal.roles, Action.REGISTER),
    }
    return page(request, workbench_html(config, MapContext(settings=ms), nonce(request)), headers={"Cache-Control": "no-store"})


@router.get("/maps/dispatch/token", summary="工作台令牌续期（凭登录 Cookie）(renew the workbench's API token)")
def workbench_token(request: Request, principal: WorkbenchUser) -> Response:
    """A fresh short-lived bearer token for the workbench's API calls, issued while the sign-in cookie (or the
    bearer token sent) is valid."""
    token = issue_token(principal, request.app.state.settings.api.secret_key, ttl_s=PAGE_TOKEN_TTL_S)
    return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": PAGE_TOKEN_TTL_S},
                        headers={"Cache-Control": "no-store"})

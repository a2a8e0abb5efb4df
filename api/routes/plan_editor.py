"""规划员绘图页 (the planners' drawing page) and the state it reloads after each edit.

``GET /maps/plans/{plan_id}/edit`` — the page (Folium + Leaflet.draw, local assets); ``GET
/maps/plans/{plan_id}/edit/state`` — the plan's grids (with versions) and its validation report, in the page's
display coordinates. Planners and admins only, signed in with ``Authorization: Bearer`` or the ``gridmap_token``
cookie. The edits themselves go to the plan API (``/api/v1/plans/{plan_id}/grids…``, versioned).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import Principal, issue_token, principal_for_token
from api.deps import SessionDep, SettingsDep
from api.routes.maps import TOKEN_COOKIE, map_settings, nonce, page
from gis.domain import UserRole
from gis.errors import Forbidden, NotAuthenticated
from gis.gridcodes import CODE12
from maps import assets
from maps.common import MapContext, render
from maps.plan_editor import editor_state, plan_editor
from usecases import plan_editor as usecase

router = APIRouter(tags=["maps 地图"])
PAGE_TOKEN_TTL_S = 20 * 60
COMMUNITY = Query(pattern=CODE12.pattern, description="只显示一个社区 (one community only)")


def planner_page_user(request: Request) -> Principal:
    """A signed-in planner or admin, from the bearer header or the ``gridmap_token`` cookie."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise NotAuthenticated("需要登录 (sign-in required)")
    principal = principal_for_token(request, token)
    if not principal.has_any(UserRole.PLANNER):
        raise Forbidden("仅限规划员 (planners only)")
    return principal


PlannerPage = Annotated[Principal, Depends(planner_page_user)]


def signin_redirect(request: Request) -> RedirectResponse:
    """Send a browser that is not signed in (or whose sign-in expired) to the sign-in page, and back here."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/maps/signin?next={quote(here, safe='')}", status_code=303)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _check_scope(principal: Principal, community: str | None) -> None:
    if community and not principal.covers(community):
        raise Forbidden(f"社区 {community} 不在你的辖区内 (outside your area)", detail={"community": community})


@router.get(
    "/maps/plans/{plan_id}/edit",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}}, 303: {"description": "未登录的浏览器转到登录页"},
               401: {"description": "需要登录"}, 403: {"description": "仅限规划员"}},
    summary="规划员绘图页：绘制/修改网格并即时校验 (planners' drawing page)",
)
def edit_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    plan_id: int,
    community: Annotated[str | None, COMMUNITY] = None,
) -> Response:
    """The draft's grids coloured by households (300–500), its validation problems and the buildings; draw a
    new grid or reshape/delete one with the toolbar — each change is sent to the plan API with the version the
    page showed (a stale one gets 409 and changes nothing) and the validation result is shown after it.
    Plans that are not drafts are shown read-only. A browser that is not signed in is sent to ``/maps/signin``
    and comes back here after signing in."""
    try:
        principal = planner_page_user(request)
    except NotAuthenticated:
        if not _wants_html(request):
            raise
        return signin_redirect(request)
    _check_scope(principal, community)
    ms = map_settings(settings)
    assets.check_installed(ms.vendor_dir)
    ctx = MapContext(settings=ms)
    # the sign-in cookie is HttpOnly: the page gets its own short-lived token for the plan API
    token = issue_token(principal, request.app.state.settings.api.secret_key, ttl_s=PAGE_TOKEN_TTL_S)
    data = usecase.editor_data(session, ctx, plan_id, community=community, api_token=token)
    return page(request, render(plan_editor(data, ctx), nonce(request)), headers={"Cache-Control": "no-store"})


@router.get(
    "/maps/plans/{plan_id}/edit/state",
    summary="绘图页数据：网格（含版本）与校验结果 (drawing page state: grids with versions, validation)",
)
def edit_state(
    session: SessionDep,
    settings: SettingsDep,
    principal: PlannerPage,
    plan_id: int,
    community: Annotated[str | None, COMMUNITY] = None,
) -> dict:
    """The plan summary, its grids (full precision, each with its version) and the validation report, in the
    drawing page's display coordinates (GCJ-02 when the basemap is Amap)."""
    _check_scope(principal, community)
    shift = map_settings(settings).basemap == "amap"
    return editor_state(*usecase.editor_state(session, plan_id, community), shift=shift)

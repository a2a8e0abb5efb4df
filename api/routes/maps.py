"""Map pages (Folium, offline assets) and PostGIS vector tiles.

``/maps/public`` 公众设施地图 · ``/maps/grids`` 网格规划图 · ``/maps/incidents`` 事件调度图 (staff only) ·
``/maps/coverage`` 服务覆盖图 · ``/tiles/{layer}/{z}/{x}/{y}.mvt`` · ``/static/vendor/…`` the JS/CSS the pages use.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as FPath
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.auth import Principal, principal_for_token
from api.deps import ReadSessionDep, SessionDep, SettingsDep
from api.settings import Settings
from gis.domain import FACILITY_TYPES, IncidentState, UserRole
from gis.errors import Forbidden, NotAuthenticated, NotFound
from gis.gridcodes import CODE15
from layers import map_data
from maps import assets
from maps.common import MapContext, render
from maps.pages import (
    coverage_map,
    grid_map,
    incident_map,
    problems_geojson,
    public_map,
)
from maps.settings import MapSettings
from maps.signin import signin_html
from usecases import coverage, map_pages, reach
from usecases.access import unit_in_area

router = APIRouter(tags=["maps 地图"])

STAFF = (UserRole.ADMIN, UserRole.DISPATCHER, UserRole.PLANNER, UserRole.GRID_STAFF)
TOKEN_COOKIE = "gridmap_token"
TYPE_CODES = [c for c, *_ in FACILITY_TYPES]
HTML = {"text/html": {}}
OWN_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def map_settings(settings: Settings) -> MapSettings:
    """The map settings of this app (``Settings.maps`` when present, else from the environment)."""
    found = getattr(settings, "maps", None)
    return found if isinstance(found, MapSettings) else MapSettings()


def _ctx(request: Request, settings: Settings, query: str = "") -> MapContext:
    ms = map_settings(settings)
    assets.check_installed(ms.vendor_dir)
    return MapContext(settings=ms, query=query)


def map_staff(request: Request) -> Principal:
    """A signed-in staff member, from ``Authorization: Bearer`` or the ``gridmap_token`` cookie (for pages and
    the tile requests they make)."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise NotAuthenticated("需要登录 (sign-in required)")
    principal = principal_for_token(request, token)
    if principal.is_public:
        raise NotAuthenticated("需要登录 (sign-in required)")
    if not principal.has_any(*STAFF):
        raise Forbidden("仅限工作人员 (staff only)")
    return principal


StaffDep = Annotated[Principal, Depends(map_staff)]


def signed_in_staff(request: Request) -> Principal | None:
    """The signed-in staff member of a page anyone may open (bearer or cookie), or None for everyone else."""
    try:
        return map_staff(request)
    except (NotAuthenticated, Forbidden):
        return None


def nonce(request: Request) -> str:
    """This response's Content-Security-Policy nonce, for the script elements a page renders (:mod:`api.csp`)."""
    return request.state.csp_nonce


def page(request: Request, text: str, **kwargs) -> HTMLResponse:
    """A page rendered with :func:`nonce` on its own script elements."""
    return HTMLResponse(text, **kwargs)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


NEXT_DEFAULT = "/maps/incidents"
# where a sign-in may lead: a path of this site's maps, plain characters only (no scheme, host, "//", "\\", "..")
SAFE_NEXT = re.compile(r"^/maps/[A-Za-z0-9/_\-.%]*(\?[A-Za-z0-9_\-.=&%:,]*)?$")


def safe_next(value: str | None) -> str:
    """``value`` if it is a plain path of the maps on this site, else the dispatch map."""
    if not value or len(value) > 500 or not SAFE_NEXT.match(value) or "//" in value or ".." in value:
        return NEXT_DEFAULT
    return value


@router.get("/maps/signin", response_class=HTMLResponse, summary="工作人员登录页（调度图用）(staff sign-in page)")
def signin_page(request: Request, next: Annotated[str | None, Query(
        max_length=500, description="登录后前往 (where to go after: a /maps/ path of this site)")] = None):
    """A plain sign-in form for the staff maps: it signs in with ``/api/v1/auth/token`` and hands the token to
    ``POST /maps/session``, which keeps it in an HttpOnly cookie for the map page and its tile requests. ``next``
    is followed only when it is a plain ``/maps/…`` path of this site."""
    return page(request, signin_html(safe_next(next), nonce=nonce(request)))


@router.post(
    "/maps/session",
    status_code=204,
    summary="把令牌存入仅 HTTP 可读的 Cookie（地图页用）(keep the bearer token in an HttpOnly cookie)",
    responses={401: {"description": "需要登录"}, 403: {"description": "仅限工作人员"}},
)
def start_session(request: Request, principal: StaffDep) -> Response:
    """Staff only: the ``Authorization: Bearer`` token of this request becomes the ``gridmap_token`` cookie
    (HttpOnly, SameSite=Strict) so that map pages and their vector tiles are authorised."""
    token = request.headers.get("authorization", "")[7:].strip() or request.cookies.get(TOKEN_COOKIE, "")
    settings = request.app.state.settings.api
    resp = Response(status_code=204)
    resp.set_cookie(TOKEN_COOKIE, token, max_age=settings.token_ttl_s, httponly=True,
                    samesite="strict", secure=request.url.scheme == "https", path="/")
    return resp


@router.post("/maps/signout", status_code=204, summary="退出地图登录 (forget the map cookie)")
def end_session() -> Response:
    """Delete the ``gridmap_token`` cookie."""
    resp = Response(status_code=204)
    resp.delete_cookie(TOKEN_COOKIE, path="/")
    return resp


def _scope(principal: Principal) -> str | None:
    """The signed-in staff member's area as a code prefix (None: everywhere); 403 for an account with no area."""
    return unit_in_area(principal.viewer, None)


# ------------------------------------------------------------------------------------------ assets
@router.get("/static/vendor/{path:path}", include_in_schema=False)
def vendor_file(path: str, settings: SettingsDep) -> FileResponse:
    """A vendor JS/CSS/font file installed by ``gridmap assets install``."""
    root = map_settings(settings).vendor_dir.resolve()
    missing = NotFound("没有该资源文件 (no such asset)", detail={"path": path[:200].encode("unicode_escape").decode()})
    if not path or any(ord(c) < 32 or c == "\x7f" for c in path):  # NUL and friends: no file has such a name
        raise missing
    try:
        target = (root / path).resolve()
    except (OSError, ValueError) as exc:
        raise missing from exc
    if not target.is_relative_to(root / "node_modules") or not target.is_file():
        raise missing
    return FileResponse(target, headers={"Cache-Control": "public, max-age=86400"})


@router.get("/static/maps/{path:path}", include_in_schema=False)
def own_file(path: str) -> FileResponse:
    """Our own page modules and stylesheets (``maps/static``)."""
    root = assets.STATIC_DIR.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file() or target.suffix not in OWN_TYPES:
        raise NotFound(f"没有该文件 (no such file): {path}")
    return FileResponse(target, media_type=OWN_TYPES[target.suffix], headers={"Cache-Control": "no-cache"})


# ------------------------------------------------------------------------------------------ pages
@router.get(
    "/maps/public/reach",
    summary="从这里步行5/10/15分钟能到哪些设施（地图弹窗用）(what can I reach from here, for the map's popup)",
)
def public_reach(
    session: ReadSessionDep,
    settings: SettingsDep,
    lon: Annotated[float, Query(ge=-180, le=180, description="经度 (longitude)")],
    lat: Annotated[float, Query(ge=-90, le=90, description="纬度 (latitude)")],
    crs: Annotated[Literal["wgs84", "gcj02"], Query(description="坐标系；高德底图的页面用 gcj02")] = "wgs84",
) -> dict:
    """``answers``: for 5, 10 and 15 minutes at the configured walking speed, exactly what
    ``/api/v1/circles/reachable?minutes=N`` answers for the point; ``types``: the nearest facility of each type
    reached and the smallest of those budgets that reaches it. Public data only."""
    from gis.coords import to_wgs84

    wlon, wlat = to_wgs84(lon, lat, crs)
    return reach.from_here(session, float(wlon), float(wlat), walk=settings.walk)


@router.get(
    "/maps/public/circles/{type_code}.json",
    summary="某类设施的15分钟服务圈（合并、简化，地图用）(a type's service circles for the map)",
)
def public_circles(
    session: ReadSessionDep,
    settings: SettingsDep,
    type_code: Annotated[Literal[tuple(TYPE_CODES)], FPath(description="设施类型 (facility type)")],
) -> dict:
    """The union of the type's service circles, simplified to ~5 m, in the map's coordinates."""
    from maps.common import feature_collection

    ctx = MapContext(settings=map_settings(settings))
    return feature_collection(map_data.circles_by_type(session, type_code=type_code),
                              ["type_code", "type_zh", "minutes", "source"], shift=ctx.shift)


@router.get(
    "/maps/public/boards/{code}.json",
    summary="网格公示牌内容（公开：角色、姓名与公示电话）(a grid's contact board, as published)",
)
def public_board(session: ReadSessionDep, code: Annotated[str, FPath(pattern=CODE15.pattern)]) -> dict:
    """The roles of a grid's group with names and *published* phones only — what its printed 公示牌 shows.
    Vacant roles come with an empty list."""
    found = map_data.boards(session, grid_code=code)
    if code not in found:
        raise NotFound(f"现行方案中没有网格 {code} (no grid {code} in the plan in force)")
    return {"code": code, "roles": found[code]}


@router.get(
    "/maps/public",
    response_class=HTMLResponse,
    responses={200: {"content": HTML}},
    summary="公众设施地图：设施、15分钟生活圈、网格公示牌、七个一、搜索、可达 (public facility map)",
)
def public_page(request: Request, session: ReadSessionDep, settings: SettingsDep) -> HTMLResponse:
    """Facilities by type, each type's 15-minute circle, community and grid boundaries with each grid's contact
    board, "七个一" per village, search, and "what can I reach from here" on click. No personal data."""
    ctx = _ctx(request, settings)
    return page(request, render(public_map(map_pages.public_data(session), ctx), nonce(request)))


@router.get(
    "/maps/grids/problems.json",
    summary="网格方案校验问题（地图用 GeoJSON）(a plan's validation problems as GeoJSON for the grid map)",
)
def grid_problems(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    plan_id: Annotated[int | None, Query(ge=1, description="网格方案，默认现行 (plan id, default in force)")] = None,
) -> dict:
    """Overlaps, gaps, parts outside the community, cut buildings, households out of band … of a plan, as a
    FeatureCollection in the map's coordinates (GCJ-02 when the basemap is Amap). Cached until the plan's grids,
    the buildings or the staff change."""
    plan_id = map_pages.plan_or_in_force(session, plan_id)
    return problems_geojson(map_pages.plan_problems(session, plan_id), MapContext(settings=map_settings(settings)))


@router.get(
    "/maps/grids",
    response_class=HTMLResponse,
    responses={200: {"content": HTML}},
    summary="网格规划图：户数着色（300–500）、编码、校验问题、人员空缺、楼栋 (planners' grid map)",
)
def grids_page(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    plan_id: Annotated[int | None, Query(ge=1, description="网格方案，默认现行 (plan id, default in force)")] = None,
    problems: Annotated[bool, Query(description="显示校验问题 (show validation problems)")] = True,
) -> HTMLResponse:
    """Grids coloured by households against the 300–500 band, codes as labels from zoom 15, validation problems
    highlighted, the roster audit (grids with vacant required roles, buildings without a 楼栋长 or 楼口长),
    buildings from zoom 15 (vector tiles when there are many). Signed-in staff (the map cookie) also get the
    入户走访 layers of their own area: this month's share of households visited per grid and the buildings not
    visited for 90 days; everyone else gets the page without them."""
    ctx = _ctx(request, settings)
    staff = signed_in_staff(request)
    has_area = staff is not None and (staff.viewer.everywhere or staff.scope is not None)
    scope = map_pages.VisitScope(unit=_scope(staff)) if has_area else None
    data = map_pages.grid_data(session, ctx, plan_id=plan_id, problems=problems, visits_for=scope)
    resp = page(request, render(grid_map(data, ctx), nonce(request)))
    if staff is not None:  # this answer is one person's: no shared cache may keep it
        resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["Vary"] = "Cookie, Authorization"
    return resp


def incident_filter(
    since: Annotated[dt.date | None, Query(description="上报日期起 (created from, YYYY-MM-DD)")] = None,
    until: Annotated[dt.date | None, Query(description="上报日期止 (created until, inclusive)")] = None,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{6,15}$", description="网格/社区编码前缀 (grid code)")] = None,
    category: Annotated[str | None, Query(max_length=50, description="事件类别 (category)")] = None,
    state: Annotated[Literal[tuple(IncidentState.values())] | None, Query(description="状态 (state)")] = None,
) -> map_data.IncidentFilter:
    """The dispatch filters from the query string."""
    return map_data.IncidentFilter(since=since, until=until, grid=grid or None, category=category or None,
                                   state=state)


FilterDep = Annotated[map_data.IncidentFilter, Depends(incident_filter)]


@router.get(
    "/maps/incidents",
    response_class=HTMLResponse,
    responses={200: {"content": HTML}, 401: {"description": "需要登录"}, 403: {"description": "仅限工作人员"}},
    summary="事件调度图（仅工作人员）：状态/类别、超期、聚合、热力、筛选 (dispatch map, staff only)",
)
def incidents_page(request: Request, session: ReadSessionDep, settings: SettingsDep, flt: FilterDep) -> Response:
    """Incidents by state and category with overdue ones ringed in red, clustering and a heat map, the grid
    overlay, and filters by date, grid and category. Staff only (bearer token or the ``gridmap_token`` cookie);
    a scoped account sees its own area only. No reporter names or phones. A browser that is not signed in is
    sent to ``/maps/signin``."""
    try:
        principal = map_staff(request)
    except NotAuthenticated:
        if not _wants_html(request):
            raise
        from urllib.parse import quote

        from fastapi.responses import RedirectResponse

        return RedirectResponse(f"/maps/signin?next={quote(str(request.url.path) + ('?' + request.url.query if request.url.query else ''))}",
                                status_code=303)
    flt = map_data.IncidentFilter(**{**flt.__dict__, "scope": _scope(principal)})
    query = "&".join(f"{k}={v}" for k, v in request.query_params.items() if k in
                     {"since", "until", "grid", "category", "state"} and v)
    ctx = _ctx(request, settings, query=query)
    return page(request, render(incident_map(map_pages.incident_data(session, ctx, flt), ctx), nonce(request)))


@router.get(
    "/maps/coverage",
    response_class=HTMLResponse,
    responses={200: {"content": HTML}},
    summary="服务覆盖图：未覆盖楼栋与建议选址 (coverage map: uncovered buildings, suggested sites)",
)
def coverage_page(
    request: Request,
    session: SessionDep,  # the primary: the walking distances may have to be brought up to date, as the API does
    settings: SettingsDep,
    type: Annotated[Literal[tuple(TYPE_CODES)], Query(description="设施类型 (facility type code)")] = "clinic",
    sites: Annotated[int, Query(ge=0, le=20, description="建议选址个数 (number of suggested sites)")] = 5,
) -> HTMLResponse:
    """One service type's circles and facilities, the buildings it does not reach within 15 minutes on foot (exactly
    ``/api/v1/coverage/uncovered``), and greedy suggested sites (each the spot whose half-budget disc holds the
    most uncovered households)."""
    ctx = _ctx(request, settings)
    data = map_pages.coverage_data(session, ctx, type, settings.walk, sites=sites)
    session.commit()  # the walking distances, when they had to be brought up to date
    return page(request, render(coverage_map(data, ctx), nonce(request)))


# ------------------------------------------------------------------------------------------ tiles
@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.mvt",
    responses={200: {"content": {"application/vnd.mapbox-vector-tile": {}}}},
    summary="矢量瓦片（ST_AsMVT）：楼栋、网格、事件（仅工作人员）、未覆盖楼栋 (vector tiles)",
)
def vector_tile(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    layer: Literal[map_data.TILE_LAYERS],
    z: int,
    x: int,
    y: int,
    flt: FilterDep,
    crs: Annotated[Literal["wgs84", "gcj02"], Query(description="gcj02：配合高德底图偏移 (shift for Amap)")] = "wgs84",
    type: Annotated[Literal[tuple(TYPE_CODES)] | None, Query(description="uncovered 图层的设施类型")] = None,
) -> Response:
    """A Mapbox vector tile of a big layer, cut by PostGIS. Incidents need a signed-in staff member and are
    clustered below zoom 15; they never carry reporter names or phones. ``uncovered`` holds the buildings
    ``/api/v1/coverage/uncovered`` gives for the type (15 minutes at the configured walking speed)."""
    if layer == "incidents":
        principal = map_staff(request)
        flt = map_data.IncidentFilter(**{**flt.__dict__, "scope": _scope(principal)})
    if layer == "uncovered" and type is None:
        type = "clinic"
    data = map_data.tile(session, layer, z, x, y, gcj02=crs == "gcj02", flt=flt, type_code=type,
                         budget_m=coverage.budget_m(settings.walk))
    cache = "private, max-age=60" if layer == "incidents" else "public, max-age=300"
    return Response(data, media_type="application/vnd.mapbox-vector-tile", headers={"Cache-Control": cache})

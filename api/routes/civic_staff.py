"""社区工作台 ``/maps/civic``: the signed-in staff page that drives 入户走访, 六步议事 and 活动与积分 through the
JSON API (dispatchers, grid staff and admins, within their area). Not signed in: sent to ``/maps/signin``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.auth import issue_token
from api.deps import ReadSessionDep
from api.routes.maps import nonce, page
from api.routes.workbench import PAGE_TOKEN_TTL_S, _user, workbench_user_or_signin
from gis.domain import UserRole, area_prefix
from maps.civic_staff import civic_staff_html
from usecases import civic_pages

router = APIRouter(tags=["maps 地图"])


@router.get(
    "/maps/civic",
    responses={200: {"content": {"text/html": {}}}, 401: {"description": "需要登录"},
               403: {"description": "仅限调度员和网格工作人员"}},
    summary="社区工作台：入户走访、六步议事、活动签到与积分兑换 (the civic staff desk)",
)
def civic_staff_page(request: Request, session: ReadSessionDep) -> Response:
    """Log a household visit (building, household, date, what was learned, follow-ups that become an incident,
    an order or a ledger update) and see the grid's coverage; move a topic through the six steps, record a
    meeting of the council's members with its vote, publish the notice, link follow-up tasks; sign volunteers
    up, take attendance, redeem points at the 积分超市; review categories outside the 准入 list (dispatchers
    decide). Everything within the user's area."""
    principal = workbench_user_or_signin(request, "/maps/civic")
    if isinstance(principal, RedirectResponse):
        return principal
    admin = UserRole.ADMIN.value in principal.roles or not principal.scope
    unit = None if admin else area_prefix(principal.scope)
    config = {
        **civic_pages.staff_setup(session, unit=unit),
        "token": issue_token(principal, request.app.state.settings.api.secret_key, ttl_s=PAGE_TOKEN_TTL_S),
        "tokenUrl": "/maps/dispatch/token", "user": _user(principal), "unit": unit or "",
        "canDecide": principal.has_any(UserRole.ADMIN, UserRole.DISPATCHER),  # 准入审批: the centre decides
    }
    return page(request, civic_staff_html(config, nonce=nonce(request)), headers={"Cache-Control": "no-store"})

"""The civic pages: 居民议事厅 (/deliberation), a decision's public notice, 志愿服务与积分 (/volunteers) and the
社区事项准入清单 (/matters). Public, no personal data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.routes.maps import map_settings
from gis.deliberation import STEP_COLOURS, TopicStep
from gis.gridcodes import CODE12
from gis.matters import MatterKind
from layers import deliberation
from maps.civic_pages import deliberation_page, matters_page, notice_page, volunteers_page
from usecases import civic_pages

router = APIRouter(tags=["civic pages 议事、志愿、准入页面"])
HTML = {200: {"content": {"text/html": {}}}}


@router.get("/deliberation", response_class=HTMLResponse, responses=HTML,
            summary="居民议事厅：议题地图、列表与提交表单 (topics on a map, and the form to propose one)")
def deliberation_hall(settings: SettingsDep) -> HTMLResponse:
    """Topics by place, coloured by step; residents tap the map and propose a topic."""
    steps = [{"step": s.value, "zh": s.zh, "colour": STEP_COLOURS[s.value]} for s in TopicStep]
    ms = map_settings(settings)
    tiles = ms.osm_tile_url if ms.basemap == "osm" else None
    return HTMLResponse(deliberation_page(steps=steps, tile_url=tiles))


@router.get("/deliberation/notices/{item_id}", response_class=HTMLResponse, responses=HTML,
            summary="决议公示页 (the public notice of a decision)")
def notice(session: SessionDep, item_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> HTMLResponse:
    """The vote, the decision, the notice period and the follow-up tasks, printable."""
    return HTMLResponse(notice_page(deliberation.notice(session, item_id)))


@router.get("/volunteers", response_class=HTMLResponse, responses=HTML,
            summary="志愿服务与积分：活动、积分超市、积分榜 (activities, rewards, leaderboard)")
def volunteers(session: SessionDep,
               community: Annotated[str | None, Query(pattern=CODE12.pattern, description="社区编码")] = None
               ) -> HTMLResponse:
    """A community's upcoming activities, its 积分超市 and the leaderboard (chosen display names only)."""
    return HTMLResponse(volunteers_page(civic_pages.volunteers_page_data(session, community)))


@router.get("/matters", response_class=HTMLResponse, responses=HTML,
            summary="社区事项准入清单（公开）(a district's list of community matters)")
def matter_list(session: SessionDep,
                district: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="区县编码")] = None,
                kind: Annotated[MatterKind | None, Query(description="类别 (kind)")] = None) -> HTMLResponse:
    """依法履职, 协助 and 下沉 items with their legal basis."""
    data = civic_pages.matters_page_data(session, district, kind.value if kind else None)
    return HTMLResponse(matters_page(data))

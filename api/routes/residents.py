"""Residents on the public map: 随手拍, 点单 and 微心愿 forms, finding a place by name, and following what was sent
with its short tracking token (``/api/v1/track/{token}`` and the page ``/maps/track/{token}``).

Anyone may call these (no sign-in): the shared public rate limit applies to every submission, rating and token
look-up (``api/limits.py``). Bad input is a 422 whose ``detail.fields`` says, per field, what to change in plain
Chinese; nothing is stored then. Answers never carry a resident's name or phone.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ReadSessionDep, SessionDep, SettingsDep
from gis.coords import from_wgs84, wgs84_to_gcj02
from layers.places import MAX_QUERY, search_places
from maps.track_page import track_html
from usecases import residents, tracking

router = APIRouter(tags=["residents 居民：随手拍、点单、微心愿、进度查询"])

Token = Annotated[str, Path(min_length=1, max_length=40, description="查询码，10 位字母和数字 (tracking code)")]
Text = str | None
Number = float | str | None


class _Form(BaseModel):
    """Fields are checked by the form itself (usecases/residents.py) so that every problem is said in Chinese
    under its field; here they are only typed loosely."""

    model_config = ConfigDict(extra="ignore")

    lon: Number = Field(None, description="经度：地图点选、我的位置或搜索结果 (longitude of the chosen place)")
    lat: Number = Field(None, description="纬度 (latitude)")
    crs: Text = Field("wgs84", description="wgs84，或高德底图页面的 gcj02")
    name: Text = Field(None, description="称呼，选填，仅工作人员可见 (optional; staff only)")
    phone: Text = Field(None, description="联系电话，选填，仅工作人员可见 (optional; staff only)")
    homepage: Text = Field(None, description="留空（防机器人）(leave empty: a trap for robots)")


class ReportIn(_Form):
    """随手拍: what is wrong, where, and optionally a link to a photo."""

    category: Text = Field(None, description="问题类别，见 /api/v1/residents/choices")
    description: Text = Field(None, description="问题描述，最多 500 字")
    photo_url: Text = Field(None, description="照片链接 http(s)://…，选填")


class OrderIn(_Form):
    """点单: which service, what is needed, where."""

    category: Text = Field(None, description="服务类别，见 /api/v1/residents/choices")
    description: Text = Field(None, description="需要什么帮助，最多 500 字")


class WishIn(_Form):
    """微心愿: the wish and where the resident lives."""

    title: Text = Field(None, description="心愿，最多 60 字")
    description: Text = Field(None, description="心愿说明，选填，最多 500 字")


class RatingIn(BaseModel):
    """1–5 stars and an optional word."""

    rating: int = Field(ge=1, le=5, description="1–5 星 (stars)")
    feedback: str | None = Field(None, max_length=300, description="评价，选填")


@router.get("/api/v1/residents/choices", summary="居民表单的选项 (what the residents' forms offer)")
def choices() -> dict:
    """Report categories, orderable services, the fields' size limits and the honeypot's name."""
    return residents.form_choices()


@router.get("/api/v1/residents/places", summary="按名称找地点：地址、设施、街道、社区 (find a place by name)")
def places(session: ReadSessionDep,
           q: Annotated[str, Query(max_length=MAX_QUERY, description="地名、地址、设施或社区名称 (a name)")] = "",
           limit: Annotated[int, Query(ge=1, le=20)] = 10,
           crs: Annotated[Literal["wgs84", "gcj02"], Query(description="答复坐标系；高德底图的页面用 gcj02")] = "wgs84",
           ) -> dict:
    """Places whose name contains ``q`` (facilities also by address), each a point for the form's pin; never
    searched by code and no codes shown. An empty ``q`` finds nothing."""
    found = search_places(session, q, limit=limit, codes=False) if q.strip() else []
    if crs == "gcj02":
        for place in found:
            lon, lat = wgs84_to_gcj02(place["lon"], place["lat"])
            place["lon"], place["lat"] = round(float(lon), 7), round(float(lat), 7)
    return {"places": found}


PageCrs = Annotated[Literal["wgs84", "gcj02"], Query(description="页面底图的坐标系；高德底图为 gcj02 (the page's CRS)")]


@router.get("/api/v1/residents/position", summary="手机定位在地图上的位置 (where a phone's position goes on the map)")
def position(lon: Annotated[float, Query(ge=-180, le=180, description="手机给出的经度 (WGS84)")],
             lat: Annotated[float, Query(ge=-90, le=90, description="手机给出的纬度 (WGS84)")],
             crs: PageCrs = "wgs84") -> dict:
    """A phone reports WGS84; on a page drawn on the Amap basemap (GCJ-02) its pin belongs at the shifted
    point, a few hundred metres away in China. The report itself still sends the WGS84 position."""
    x, y = from_wgs84(lon, lat, crs)
    return {"lon": round(float(x), 7), "lat": round(float(y), 7), "crs": crs}


@router.post("/api/v1/residents/reports", status_code=201, summary="随手拍：上报问题 (report a problem)")
def report(session: SessionDep, body: ReportIn) -> dict:
    """Dispatched like every incident; the answer gives the tracking code and page."""
    out = residents.submit_report(session, body.model_dump())
    session.commit()
    return out


@router.post("/api/v1/residents/orders", status_code=201, summary="点单：请党员上门服务 (order a service)")
def order(session: SessionDep, body: OrderIn) -> dict:
    """居民点单 → 社区派单 → 党员接单; the answer gives the tracking code (which also rates the order)."""
    out = residents.submit_order(session, body.model_dump())
    session.commit()
    return out


@router.post("/api/v1/residents/wishes", status_code=201, summary="微心愿：发布心愿 (post a small wish)")
def wish(session: SessionDep, body: WishIn) -> dict:
    """Posted in the grid at the chosen place; the answer gives the tracking code."""
    out = residents.submit_wish(session, body.model_dump())
    session.commit()
    return out


@router.get("/api/v1/track/{token}", summary="凭查询码查看进度 (follow what you sent with its code)")
def follow(session: SessionDep, settings: SettingsDep, token: Token) -> dict:
    """Status, steps with times, who took it (published name) and the rating; no personal data."""
    return tracking.track(session, token, zone=settings.api.zone)


@router.post("/api/v1/track/{token}/rating", summary="办结后评价 (rate it once it is done)")
def rate(session: SessionDep, settings: SettingsDep, token: Token, body: RatingIn) -> dict:
    """Once only, after it is done; an order's rating closes the order."""
    out = tracking.rate(session, token, rating=body.rating, feedback=body.feedback, zone=settings.api.zone)
    session.commit()
    return out


@router.get("/maps/track/{token}", response_class=HTMLResponse, responses={200: {"content": {"text/html": {}}}},
            summary="进度查询页（手机优先）(the tracking page, phone first)")
def track_page(request: Request, token: Token) -> HTMLResponse:
    """A page that shows ``/api/v1/track/{token}`` and, when done, offers the rating."""
    return HTMLResponse(track_html(token, nonce=request.state.csp_nonce))

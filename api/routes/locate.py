"""Locate points in grids: one point (nothing stored) and batches of points as GeoJSON or CSV."""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import ReadSessionDep, SettingsDep, read_after
from api.lean_route import LeanRoute
from api.limits import spend
from api.threads import run_off_loop
from gis.errors import PayloadTooLarge, RateLimited
from layers import locate as loc
from layers import locate_io

router = APIRouter(prefix="/api/v1/locate", tags=["locate 定位"], route_class=LeanRoute)

CrsParam = Annotated[
    str, Query(description="坐标系：wgs84 | cgcs2000 | gcj02（高德/腾讯/微信）| bd09（百度） (coordinate system)")
]
PlanParam = Annotated[int | None, Query(ge=1, description="网格方案编号，默认现行方案 (plan id; default: in force)")]


@router.get("", summary="定位：点属于哪个网格、谁负责（不保存） (which grid is this point in, and who is responsible)",
            response_class=Response, responses={200: {"content": {"application/json": {}}}})
async def locate_point(
    request: Request,
    lon: Annotated[float, Query(description="经度 (longitude)", examples=[102.1855])],
    lat: Annotated[float, Query(description="纬度 (latitude)", examples=[38.5015])],
    crs: CrsParam = "wgs84",
    accuracy_m: Annotated[
        float | None, Query(description="定位精度（米）：列出此距离内的所有网格 (GPS accuracy: list every grid within it)")
    ] = None,
    plan_id: PlanParam = None,
) -> Response:
    """The grid, its community/street/county, the public contacts, the plan generation and how it was decided.

    The busiest read of the service: one hop to the thread pool for the whole call (:func:`run_off_loop`), at
    most one statement (the versions of the locator's and the contacts' tables, both kept per process; read once
    for all the requests waiting for it) on an autocommit connection, and the answer serialised once."""
    databases = request.app.state.databases
    after = read_after(request) if databases.has_replica else None  # only a replica asks how far it must be

    def run() -> bytes:
        session, source = databases.read_session(after=after, autocommit=True)
        request.state.read_source = source
        try:
            answer = loc.locate(session, lon, lat, crs=crs, accuracy_m=accuracy_m, plan_id=plan_id, clean=True)
        finally:
            session.close()
        return json.dumps(answer, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()

    return Response(await run_off_loop(run), media_type="application/json")


def _wants(request: Request, format: str | None, default: str) -> str:
    if format:
        return format
    accept = request.headers.get("accept", "")
    if "text/csv" in accept:
        return "csv"
    if "json" in accept:
        return "geojson"
    return default


@router.post(
    "/batch",
    summary="批量定位：GeoJSON 点集或 CSV (lon,lat[,crs]) (locate a batch of points: GeoJSON or CSV)",
    openapi_extra={"requestBody": {"content": {
        "application/geo+json": {"schema": {"type": "object"}},
        "text/csv": {"schema": {"type": "string"}},
    }, "required": True}},
)
async def locate_batch(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    crs: CrsParam = "wgs84",
    plan_id: PlanParam = None,
    format: Annotated[
        Literal["geojson", "csv"] | None,
        Query(description="结果格式，默认与请求相同或按 Accept (answer format; default: as sent, or by Accept)"),
    ] = None,
) -> Response:
    """Every point answered with the same rules as the single call; CSV rows and feature properties kept.
    Without signing in, a client may locate ``GRIDMAP_PUBLIC_BATCH_POINTS_PER_MIN`` points a minute (429 with
    ``Retry-After`` past that). Reading, locating and writing run off the event loop: the service keeps
    answering other requests while a large batch works."""
    limit = settings.api.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"请求体超过 {limit} 字节 (the body is larger than {limit} bytes)",
                              detail={"max_body_bytes": limit})
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"请求体超过 {limit} 字节 (the body is larger than {limit} bytes)",
                                  detail={"max_body_bytes": limit})
    fmt_in = locate_io.format_of(None, request.headers.get("content-type") or "application/json")
    if fmt_in == "parquet":
        fmt_in = "geojson"
    table = await run_in_threadpool(locate_io.read_points, bytes(body), fmt_in,
                                    max_points=settings.api.max_batch_points)
    await _spend_batch_budget(request, settings, len(table.lon))
    fmt_out = _wants(request, format, fmt_in)

    def run() -> bytes:
        answers = loc.locate_table(session, table.lon, table.lat, crs=table.crs if table.crs is not None else crs,
                                   plan_id=plan_id)
        result = locate_io.result_table(table, answers)
        if fmt_out == "csv":
            return locate_io.write_result(result, "csv")
        return json.dumps(locate_io.to_geojson(result), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode()

    content = await run_in_threadpool(run)
    media = "text/csv; charset=utf-8" if fmt_out == "csv" else "application/geo+json"
    return Response(content, media_type=media)


async def _spend_batch_budget(request: Request, settings, points: int) -> None:
    """Take ``points`` from the caller's batch budget (anonymous and non-staff callers; staff pass)."""
    per_min = settings.api.public_batch_points_per_min
    if per_min <= 0:
        return
    wait = await run_in_threadpool(spend, request, "batch", points, per_min=per_min, burst=per_min)
    if wait == 0:
        return
    detail = {"points": points, "points_per_minute": per_min}
    if math.isinf(wait):
        raise PayloadTooLarge(f"未登录时每分钟最多批量定位 {per_min} 个点（本次 {points} 个），请拆分或登录后提交 "
                              f"(without signing in a client may locate {per_min} points a minute; this batch has "
                              f"{points}: split it or sign in)", detail=detail)
    seconds = max(1, math.ceil(wait))
    raise RateLimited(f"批量定位过于频繁，请 {seconds} 秒后重试 (too many points located by this client; retry in "
                      f"{seconds} s)", detail={**detail, "retry_after_s": seconds}, retry_after_s=seconds)

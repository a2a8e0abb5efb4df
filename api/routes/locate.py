"""Locate points in grids: one point (nothing stored) and batches of points as GeoJSON or CSV."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from api.deps import ReadSessionDep, SettingsDep
from gis.errors import PayloadTooLarge
from layers import locate as loc
from layers import locate_io

router = APIRouter(prefix="/api/v1/locate", tags=["locate 定位"])

CrsParam = Annotated[
    str, Query(description="坐标系：wgs84 | cgcs2000 | gcj02（高德/腾讯/微信）| bd09（百度） (coordinate system)")
]
PlanParam = Annotated[int | None, Query(ge=1, description="网格方案编号，默认现行方案 (plan id; default: in force)")]


@router.get("", summary="定位：点属于哪个网格、谁负责（不保存） (which grid is this point in, and who is responsible)")
def locate_point(
    session: ReadSessionDep,
    lon: Annotated[float, Query(description="经度 (longitude)", examples=[102.1855])],
    lat: Annotated[float, Query(description="纬度 (latitude)", examples=[38.5015])],
    crs: CrsParam = "wgs84",
    accuracy_m: Annotated[
        float | None, Query(description="定位精度（米）：列出此距离内的所有网格 (GPS accuracy: list every grid within it)")
    ] = None,
    plan_id: PlanParam = None,
) -> dict:
    """The grid, its community/street/county, the public contacts, the plan generation and how it was decided."""
    return loc.locate(session, lon, lat, crs=crs, accuracy_m=accuracy_m, plan_id=plan_id)


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
    """Every point answered with the same rules as the single call; CSV rows and feature properties kept."""
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
    table = locate_io.read_points(bytes(body), fmt_in, max_points=settings.api.max_batch_points)

    def run():
        answers = loc.locate_table(session, table.lon, table.lat, crs=table.crs if table.crs is not None else crs,
                                   plan_id=plan_id)
        return locate_io.result_table(table, answers)

    result = await run_in_threadpool(run)
    fmt_out = _wants(request, format, fmt_in)
    if fmt_out == "csv":
        return Response(locate_io.write_result(result, "csv"), media_type="text/csv; charset=utf-8")
    return JSONResponse(locate_io.to_geojson(result), media_type="application/geo+json")

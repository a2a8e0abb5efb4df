"""Facilities: the public map layer by type, the list of types, and imports from GeoJSON/CSV by planners."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, UploadFile

from api.auth import Principal, require_roles
from api.deps import BBoxDep, ReadSessionDep, SessionDep, SettingsDep
from gis.domain import UserRole
from gis.errors import InvalidInput, PayloadTooLarge
from gis.gridcodes import CODE12
from layers import facilities
from layers.facility_import import format_for, import_facilities

router = APIRouter(prefix="/api/v1/facilities", tags=["facilities 设施"])

Importer = Annotated[Principal, Depends(require_roles(UserRole.PLANNER, UserRole.ADMIN))]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@router.get(
    "",
    summary="设施 GeoJSON (facilities as GeoJSON)",
    description="七个一、15分钟便民服务圈设施、社区功能室、对外开放厕所，可按类型、范围、社区过滤；公开数据。"
    " OpenStreetMap 数据注明 © OpenStreetMap contributors。 (Facilities as a GeoJSON FeatureCollection, "
    "filtered by type codes, bbox and community; public.)",
    response_description="GeoJSON FeatureCollection",
)
def get_facilities(
    session: ReadSessionDep,
    settings: SettingsDep,
    bbox: BBoxDep,
    type: Annotated[  # noqa: A002 - the public parameter name
        str | None,
        Query(description="设施类型代码，逗号分隔 (type codes, comma-separated), e.g. school,clinic",
              max_length=1000),
    ] = None,
    community_code: Annotated[
        str | None, Query(pattern=CODE12.pattern, description="12 位社区/村代码 (12-digit community code)")
    ] = None,
    source: Annotated[
        str | None, Query(max_length=200, description="数据来源，如 osm、synthetic、import:文件名 (source)")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, description="每页要素数 (features per page)")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="跳过的要素数 (features to skip)")] = 0,
) -> dict[str, Any]:
    """Facilities as GeoJSON, filtered by type, bbox, community and source."""
    limit = min(limit or settings.api.default_limit, settings.api.max_limit)
    types = facilities.parse_types(session, type)
    return facilities.list_facilities(session, types=types, bbox=bbox, community_code=community_code,
                                      source=source, limit=limit, offset=offset)


@router.get(
    "/types",
    summary="设施类型 (facility types)",
    description="全部设施类型：代码、中文名、英文名、类别及设施数 (every facility type with Chinese and English "
    "names, its group and the number of facilities).",
)
def get_facility_types(session: ReadSessionDep) -> dict[str, Any]:
    """Every facility type with its names, group and count."""
    return {"types": facilities.facility_types(session)}


@router.post(
    "/import",
    status_code=201,
    summary="导入设施 GeoJSON/CSV (import facilities)",
    description="规划员或管理员上传 GeoJSON（点，属性 name/type/address）或 CSV（lon,lat,name,type[,address][,crs]）。"
    "全部校验通过才写入；任何一行有错则不写入，并列出每一处错误及可用类型代码。同名导入会替换上次的数据。"
    " (Planners/admins upload GeoJSON points or CSV; all or nothing: on any bad row nothing is stored and "
    "every problem is listed with the valid type codes. Re-importing the same name replaces it.)",
)
async def post_import(
    session: SessionDep,
    principal: Importer,
    file: Annotated[UploadFile, File(description="GeoJSON 或 CSV 文件 (a .geojson or .csv file)")],
    crs: Annotated[str | None, Query(description="坐标系 wgs84 | cgcs2000 | gcj02 | bd09 (default wgs84)")] = None,
    format: Annotated[  # noqa: A002 - the public parameter name
        str | None, Query(pattern="^(geojson|csv)$", description="格式，默认按文件名判断 (format; default from "
                                                                 "the file name)")
    ] = None,
    name: Annotated[
        str | None, Query(max_length=150, description="导入名称，默认文件名 (import name; default the file name)")
    ] = None,
) -> dict[str, Any]:
    """Import facilities from an uploaded GeoJSON or CSV file, all or nothing."""
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"文件超过 {MAX_UPLOAD_BYTES // 1024 // 1024} MB (file too large)")
    if not data:
        raise InvalidInput("文件为空 (the file is empty)")
    fmt = format or format_for(file.filename, file.content_type)
    report = import_facilities(session, data, fmt=fmt, name=name or file.filename or "upload", crs=crs)
    session.commit()
    return {**report, "imported_by": principal.subject}

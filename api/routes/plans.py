"""Grid planning endpoints (规划员): drafts, versioned grid edits, validation, impact, proposals, publish, I/O.

Every endpoint needs the planner role (admins hold every role). An edit names the version the editor saw,
in ``If-Match`` (the grid's ETag) or a ``version`` field; a stale edit gets 409 and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, Header, Query, Response, UploadFile
from pydantic import BaseModel, Field

from api.auth import Principal, require_roles
from api.deps import SessionDep
from gis.domain import UserRole
from gis.errors import Forbidden, InvalidInput
from gis.gridcodes import CODE12, CODE15
from gis.plan_validation import ValidationOptions
from gis.proposals import ProposalOptions
from layers import handover, plan_impact, plan_io, plans
from layers.plan_scope import parse_scope_text
from usecases import plan_publish

router = APIRouter(prefix="/api/v1/plans", tags=["plans 网格规划"])

Planner = Annotated[Principal, Depends(require_roles(UserRole.PLANNER))]


def _etag(version: int) -> str:
    return f'"{version}"'


def _expected_version(if_match: str | None, version: int | None) -> int:
    if if_match:
        found = re.search(r"(\d+)", if_match)
        if found:
            return int(found.group(1))
    if version is not None:
        return int(version)
    raise InvalidInput("编辑网格需提供所见版本：If-Match 头或 version 字段 (send If-Match or a version field)")


def _check_scope(principal: Principal, codes: set[str]) -> None:
    outside = sorted(c for c in codes if c and not principal.covers(c))
    if outside:
        raise Forbidden(f"无权编辑这些社区的网格：{', '.join(outside[:5])} (outside your area)",
                        detail={"codes": outside})


SCOPE_HELP = ("范围：逗号分隔的 12 位社区或 9 位街道代码；all 为全市；不填则取文件中网格所属社区 (scope: community or "
              "street codes, comma-separated; all = the whole city; default: the communities of the file's grids)")


def _check_scope_codes(principal: Principal, scope: list[str] | str | None) -> None:
    """A planner may only replace the communities and streets of their own area (the whole city: admins or
    planners without an area)."""
    if scope is None:
        if principal.scope:
            raise Forbidden("无权以全市为范围 (the whole city is outside your area)")
        return
    if isinstance(scope, list):
        _check_scope(principal, set(scope))


def _communities(collection: dict[str, Any]) -> set[str]:
    out = set()
    for f in collection.get("features") or []:
        props = (f or {}).get("properties") or {}
        out.add(str(props.get("community_code") or str(props.get("code") or "")[:12]))
    out.discard("")
    return out


def _grid_response(session, grid, response: Response) -> dict[str, Any]:
    fc = plans.plan_features(session, grid.plan_id)
    feature = next(f for f in fc["features"] if f["properties"]["id"] == grid.id)
    response.headers["ETag"] = _etag(grid.version)
    return feature


def validation_options(
    min_households: Annotated[int, Query(ge=0, description="每格最少户数 (min households)")] = 300,
    max_households: Annotated[int, Query(ge=1, description="每格最多户数 (max households)")] = 500,
    max_residents: Annotated[int, Query(ge=1, description="每格最多人数 (max residents)")] = 2500,
    sliver_area_m2: Annotated[float, Query(ge=0, description="碎片网格面积阈值 m² (sliver area)")] = 500.0,
) -> ValidationOptions:
    """Validation thresholds from the query string."""
    if min_households > max_households:
        raise InvalidInput("min_households 不能大于 max_households (min above max)")
    return ValidationOptions(min_households=min_households, max_households=max_households,
                             max_residents=max_residents, sliver_area_m2=sliver_area_m2)


OptionsDep = Annotated[ValidationOptions, Depends(validation_options)]


@router.get("", summary="网格方案列表 (list grid plans)")
def list_plans(session: SessionDep, principal: Planner) -> dict:
    """Every plan: drafts, the one in force and retired generations."""
    return {"plans": plans.list_plans(session)}


@router.post("", status_code=201, summary="由 GeoJSON 新建草案 (create a draft from GeoJSON)")
def create_plan(
    session: SessionDep,
    principal: Planner,
    collection: Annotated[dict[str, Any], Body(description="GeoJSON FeatureCollection of grids")],
    name: Annotated[str | None, Query(max_length=200, description="方案名称 (plan name)")] = None,
    crs: Annotated[str | None, Query(description="wgs84 | cgcs2000 | gcj02 | bd09")] = None,
    scope: Annotated[str | None, Query(max_length=2000, description=SCOPE_HELP)] = None,
) -> dict:
    """Create a draft from a FeatureCollection: the plan in force with the scope (by default the communities of
    the collection's grids) replaced by it; codes missing from it are assigned."""
    _check_scope(principal, _communities(collection))
    parsed = parse_scope_text(scope)
    _check_scope_codes(principal, parsed)
    plan = plans.create_plan(session, collection, name=name or collection.get("name") or "新网格方案",
                             source=f"api:{principal.subject}", crs=crs, scope=parsed)
    session.commit()
    return plans.plan_summary(session, plan)


class DraftRequest(BaseModel):
    """A draft copied from a plan (the one in force by default), optionally with a scope replaced."""

    name: str = Field("新网格方案", max_length=200)
    base_plan_id: int | None = Field(None, ge=1)
    replace_community: str | None = Field(None, pattern=CODE12.pattern)
    scope: list[Annotated[str, Field(pattern=r"^[0-9]{9}([0-9]{3})?$")]] | None = Field(
        None, max_length=500, description="要替换的社区（12 位）或街道（9 位）代码 (communities or streets replaced)")
    features: list[dict[str, Any]] | None = None
    crs: str | None = None


@router.post("/drafts", status_code=201, summary="复制现行方案为草案 (copy a plan into a draft)")
def create_draft(session: SessionDep, principal: Planner, body: DraftRequest) -> dict:
    """Copy a plan into a new draft; ``scope`` (or ``replace_community``) swaps those grids for ``features``;
    without a scope the draft is a whole copy whose scope is the whole city."""
    scope = body.scope or ([body.replace_community] if body.replace_community else None)
    _check_scope_codes(principal, scope)
    plan = plans.create_draft_from(session, body.base_plan_id, name=body.name, scope=scope,
                                   features=body.features, source=f"api:{principal.subject}", crs=body.crs)
    session.commit()
    return plans.plan_summary(session, plan)


@router.post("/import", status_code=201, summary="导入 GeoJSON/GeoPackage/Shapefile 新建草案 (import a file)")
def import_plan(
    session: SessionDep,
    principal: Planner,
    file: Annotated[UploadFile, File(description=".geojson, .gpkg or a zipped shapefile")],
    name: Annotated[str | None, Form(max_length=200)] = None,
    crs: Annotated[str | None, Form(description="声明 gcj02/bd09 或 EPSG 代码 (declare gcj02, bd09 or EPSG)")] = None,
    layer: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form(max_length=2000, description=SCOPE_HELP)] = None,
) -> dict:
    """Import a file as a new draft: the plan in force with the scope (by default the communities of the file's
    grids) replaced by the file's grids; its CRS is reprojected to WGS84."""
    data = file.file.read(plan_io.MAX_UPLOAD_BYTES + 1)
    collection = plan_io.read_upload(data, file.filename or "", crs=crs, layer=layer)
    _check_scope(principal, _communities(collection))
    parsed = parse_scope_text(scope)
    _check_scope_codes(principal, parsed)
    plan = plans.create_plan(session, collection, name=name or file.filename or "导入方案",
                             source=f"import:{file.filename}", scope=parsed)
    session.commit()
    return plans.plan_summary(session, plan)


@router.post("/validate", summary="校验未保存的 GeoJSON (validate GeoJSON without storing it)")
def validate_collection(
    session: SessionDep,
    principal: Planner,
    options: OptionsDep,
    collection: Annotated[dict[str, Any], Body(description="GeoJSON FeatureCollection of grids")],
    crs: Annotated[str | None, Query(description="wgs84 | cgcs2000 | gcj02 | bd09")] = None,
) -> dict:
    """The full validation report of a FeatureCollection (duplicate codes included)."""
    report = plans.validate_collection(session, collection, crs=crs, options=options)
    return report.as_dict() | {"geojson": report.as_geojson()}


class ProposalRequest(BaseModel):
    """Propose grids for one community; optionally save them as a draft replacing that community's grids."""

    community_code: str = Field(pattern=CODE12.pattern)
    min_households: int = Field(300, ge=1)
    max_households: int = Field(500, ge=1)
    create_draft: bool = False
    name: str | None = Field(None, max_length=200)


@router.post("/proposals", summary="为社区自动划分网格 (propose grids for a community)")
def propose(session: SessionDep, principal: Planner, body: ProposalRequest) -> dict:
    """Grids proposed from the community's buildings and streets, with the share within bounds and why not."""
    _check_scope(principal, {body.community_code})
    if body.min_households > body.max_households:
        raise InvalidInput("min_households 不能大于 max_households (min above max)")
    result = plans.propose(session, body.community_code, options=ProposalOptions(
        min_households=body.min_households, max_households=body.max_households))
    if body.create_draft:
        features = [{**f, "properties": {k: v for k, v in f["properties"].items()
                                         if k in ("code", "name", "kind", "community_code")}}
                    for f in result["features"]]
        plan = plans.create_draft_from(session, None, name=body.name or f"{body.community_code} 自动划分",
                                       replace_community=body.community_code, features=features,
                                       source=f"proposal:{principal.subject}")
        session.commit()
        result["plan"] = plans.plan_summary(session, plan)
    return result


@router.get("/{plan_id}", summary="读取方案及其网格 (a plan with its grids)")
def read_plan(
    session: SessionDep, principal: Planner, plan_id: int,
    community: Annotated[str | None, Query(pattern=CODE12.pattern, description="只看一个社区 (one community)")] = None,
) -> dict:
    """The plan's metadata and its grids as a FeatureCollection (each grid's version in its properties)."""
    plan = plans.get_plan(session, plan_id)
    return plans.plan_summary(session, plan, with_report=True) | {
        "grids": plans.plan_features(session, plan_id, community=community)}


@router.get("/{plan_id}/grids/{code}", summary="读取一个网格 (one grid, with its ETag)")
def read_grid(session: SessionDep, principal: Planner, plan_id: int, code: str, response: Response) -> dict:
    """One grid as a GeoJSON Feature; its ETag is the version to send back with an edit."""
    return _grid_response(session, plans.get_grid(session, plan_id, code), response)


@router.post("/{plan_id}/grids", status_code=201, summary="新增网格 (add a grid)")
def add_grid(
    session: SessionDep, principal: Planner, plan_id: int, response: Response,
    feature: Annotated[dict[str, Any], Body(description="GeoJSON Feature")],
    crs: Annotated[str | None, Query(description="wgs84 | cgcs2000 | gcj02 | bd09")] = None,
) -> dict:
    """Add one grid to a draft; its code is assigned if not given."""
    _check_scope(principal, _communities({"features": [feature]}) - {""})
    grid = plans.add_grid(session, plan_id, feature, crs=crs, source=f"api:{principal.subject}")
    session.commit()
    return _grid_response(session, grid, response)


@router.put("/{plan_id}/grids/{code}", summary="替换网格（需版本） (replace a grid, versioned)")
def replace_grid(
    session: SessionDep, principal: Planner, plan_id: int, code: str, response: Response,
    feature: Annotated[dict[str, Any], Body(description="GeoJSON Feature; properties.version or If-Match")],
    if_match: Annotated[str | None, Header()] = None,
    crs: Annotated[str | None, Query(description="wgs84 | cgcs2000 | gcj02 | bd09")] = None,
) -> dict:
    """Replace a grid's shape and attributes if the version sent is still current (else 409)."""
    _check_scope(principal, {code[:12]})
    expected = _expected_version(if_match, (feature.get("properties") or {}).get("version"))
    grid = plans.replace_grid(session, plan_id, code, feature, expected_version=expected, crs=crs)
    session.commit()
    return _grid_response(session, grid, response)


@router.delete("/{plan_id}/grids/{code}", status_code=204, summary="删除网格（需版本） (delete a grid, versioned)")
def delete_grid(
    session: SessionDep, principal: Planner, plan_id: int, code: str,
    if_match: Annotated[str | None, Header()] = None,
    version: Annotated[int | None, Query(ge=1, description="所见版本 (the version you saw)")] = None,
) -> Response:
    """Delete a grid from a draft if the version sent is still current (else 409)."""
    _check_scope(principal, {code[:12]})
    plans.delete_grid(session, plan_id, code, expected_version=_expected_version(if_match, version))
    session.commit()
    return Response(status_code=204)


@router.get("/{plan_id}/validation", summary="校验报告 (validation report)")
def validation(session: SessionDep, principal: Planner, plan_id: int, options: OptionsDep) -> dict:
    """Every problem of the plan in one pass, as JSON plus a GeoJSON layer for the map."""
    report = plans.validate(session, plan_id, options=options)
    return report.as_dict() | {"geojson": report.as_geojson()}


@router.get("/{plan_id}/impact", summary="影响预览 (impact preview against the plan in force)")
def impact(
    session: SessionDep, principal: Planner, plan_id: int,
    base_plan_id: Annotated[int | None, Query(ge=1, description="对比方案，默认现行 (compare with)")] = None,
) -> dict:
    """Grids new, removed and changed; one line on what changes outside the draft's scope; buildings, households,
    open incidents that would move; and the staff handover proposed (or as edited) for the retired grids."""
    return plan_impact.impact(session, plan_id, base_id=base_plan_id)


class HandoverItem(BaseModel):
    """One handover step: a current staff assignment, what to do with it and the draft grid it goes to."""

    assignment_id: int = Field(ge=1)
    kind: str = Field(description="move | follow | share | end")
    to: str | None = Field(None, pattern=CODE15.pattern, description="目标网格编码；end 不填 (target grid)")
    note: str | None = Field(None, max_length=200)


class HandoverRequest(BaseModel):
    """The whole handover to apply on publishing; ``items: null`` goes back to the default proposal."""

    items: list[HandoverItem] | None = Field(None, max_length=20_000)


@router.put("/{plan_id}/handover", summary="编辑人员交接安排 (edit the staff handover of a draft)")
def edit_handover(session: SessionDep, principal: Planner, plan_id: int, body: HandoverRequest) -> dict:
    """Keep the handover the planner edited with the draft (every problem listed at once, nothing kept if any);
    publishing applies it."""
    items = None if body.items is None else [i.model_dump() for i in body.items]
    _check_scope(principal, {i["to"][:12] for i in items or [] if i["to"]})
    saved = handover.save(session, plan_id, items)
    session.commit()
    return {"plan_id": plan_id, "edited": saved is not None, "items": saved}


class PublishRequest(BaseModel):
    """When the plan comes into force, whether to force it (with a reason), the handover, and re-dispatch."""

    effective_from: dt.date | None = None
    force: bool = False
    reason: str | None = Field(None, max_length=2000, description="强制发布的理由 (why, when forced)")
    handover: list[HandoverItem] | None = Field(None, max_length=20_000,
                                                description="交接安排，默认为预览中的安排 (default: the preview's)")
    redispatch: bool = Field(True, description="发布后重新分派未结事件 (re-dispatch open incidents)")


@router.post("/{plan_id}/publish", summary="发布方案 (publish: the new generation in force)")
def publish(session: SessionDep, principal: Planner, plan_id: int,
            body: Annotated[PublishRequest | None, Body()] = None) -> dict:
    """Make the draft the generation in force (the previous one is retired and kept): grids outside its scope
    stay, the staff handover is applied and open incidents are re-assigned and re-dispatched; the answer says
    what moved and to whom."""
    body = body or PublishRequest()
    plan = plans.get_plan(session, plan_id)
    _check_scope_codes(principal, plan.scope)
    options = plan_publish.PublishOptions(
        effective_from=body.effective_from, force=body.force, reason=body.reason,
        handover=None if body.handover is None else [i.model_dump() for i in body.handover],
        redispatch=body.redispatch)
    result = plan_publish.publish_plan(session, plan_id, options, actor=f"api:{principal.subject}")
    session.commit()
    return result


class ReassignRequest(BaseModel):
    """Preview (``dry_run``) or carry out the re-dispatch of open incidents to the plan in force."""

    dry_run: bool = False


@router.post("/{plan_id}/reassign", summary="按现行方案重新分派未结事件 (re-dispatch open incidents)")
def reassign(session: SessionDep, principal: Planner, plan_id: int,
             body: Annotated[ReassignRequest | None, Body()] = None) -> dict:
    """Re-assign open incidents to the grids of the plan in force and re-dispatch them; says what moved and to
    whom (with ``dry_run`` nothing is written)."""
    body = body or ReassignRequest()
    result = plan_publish.redispatch(session, plan_id, dry_run=body.dry_run)
    if not body.dry_run:
        session.commit()
    return result


@router.get("/{plan_id}/export", summary="导出方案 (export: geojson, gpkg, shp, csv)",
            response_class=Response)
def export(
    session: SessionDep, principal: Planner, plan_id: int,
    format: Annotated[str, Query(description="geojson | gpkg | shp | csv")] = "geojson",
) -> Response:
    """The plan as GeoJSON, GeoPackage, zipped Shapefile or CSV of codes (15- and 20-digit)."""
    content, media, filename = plan_io.export_plan(session, plan_id, format)
    return Response(content, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})

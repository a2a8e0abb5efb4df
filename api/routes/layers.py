"""Read endpoints: one GeoJSON FeatureCollection endpoint per public layer, made by one factory."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import BBoxDep, ReadSessionDep, SettingsDep
from layers.features import AREA_LEVELS, LAYERS, LayerSpec, read_areas, read_layer

router = APIRouter(prefix="/api/v1/layers", tags=["layers 图层"])



def _add_layer_route(spec: LayerSpec) -> None:
    def read(
        session: ReadSessionDep,
        settings: SettingsDep,
        bbox: BBoxDep,
        limit: Annotated[int | None, Query(ge=1, description="每页要素数 (features per page)")] = None,
        offset: Annotated[int, Query(ge=0, le=10_000_000, description="跳过的要素数 (features to skip)")] = 0,
        plan_id: Annotated[
            int | None, Query(ge=1, description="仅 grids：网格方案编号，默认现行方案 (grids only: plan id)")
        ] = None,
    ) -> dict:
        limit = min(limit or settings.api.default_limit, settings.api.max_limit)
        filters = {"plan_id": plan_id} if spec.name == "grids" else {}
        return read_layer(session, spec.name, bbox=bbox, limit=limit, offset=offset, filters=filters)

    read.__doc__ = spec.description
    router.add_api_route(
        f"/{spec.name}",
        read,
        methods=["GET"],
        summary=spec.title,
        description=spec.description,
        response_description="GeoJSON FeatureCollection",
        operation_id=f"layer_{spec.name.replace('-', '_')}",
    )


LEVEL_HELP = (f"层级 (level): {' | '.join(AREA_LEVELS)}；grid 为现行方案中 parent 社区的网格 "
              "(grid = the grids in force of the parent community)")


@router.get("/areas", summary="行政区划与网格层级 (the 区/街道/社区/网格 hierarchy)",
            response_description="GeoJSON FeatureCollection", operation_id="layer_areas")
def read_area_layer(
    session: ReadSessionDep,
    settings: SettingsDep,
    bbox: BBoxDep,
    level: Annotated[str | None, Query(max_length=16, description=LEVEL_HELP)] = None,
    parent: Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$",
                                        description="上级代码：6 位区县、9 位街道或 12 位社区 (parent code)")] = None,
    limit: Annotated[int | None, Query(ge=1, description="每页要素数 (features per page)")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="跳过的要素数 (features to skip)")] = 0,
) -> dict:
    """市、区县、乡镇街道、社区和村（12 位统计用区划代码及其年份），或某社区现行方案中的网格；``level`` 与
    ``parent`` 逐级浏览 (real codes; browse one level under a parent, down to the grids in force)."""
    limit = min(limit or settings.api.default_limit, settings.api.max_limit)
    return read_areas(session, level=level, parent=parent, bbox=bbox, limit=limit, offset=offset)


for _spec in LAYERS.values():
    if _spec.name != "areas":  # areas has its own route with the hierarchy filters
        _add_layer_route(_spec)


@router.get("", summary="图层列表 (list of layers)")
def list_layers() -> dict:
    """Every public layer with its title and its URL."""
    return {
        "layers": [
            {"name": s.name, "title": s.title, "description": s.description, "href": f"/api/v1/layers/{s.name}"}
            for s in LAYERS.values()
        ]
    }

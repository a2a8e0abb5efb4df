"""Read endpoints: one GeoJSON FeatureCollection endpoint per public layer, made by one factory."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import BBoxDep, ReadSessionDep, SettingsDep
from layers.features import LAYERS, LayerSpec, read_layer

router = APIRouter(prefix="/api/v1/layers", tags=["layers 图层"])

GEOJSON = "application/geo+json"


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


for _spec in LAYERS.values():
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

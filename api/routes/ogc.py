"""OGC API – Features (Part 1: Core, GeoJSON) over the public layers, so QGIS and GDAL (OAPIF) can load them.

Landing page ``/ogc``, ``/ogc/conformance``, ``/ogc/collections``, ``/ogc/collections/{id}``,
``/ogc/collections/{id}/items`` (``bbox``, ``limit``, ``offset``, ``next`` links) and
``/ogc/collections/{id}/items/{featureId}``. Coordinates are CRS84 (lon, lat).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.deps import BBoxDep, ReadSessionDep, SettingsDep
from api.geojson import GEOJSON
from gis.errors import NotFound
from layers.features import LAYERS, read_layer
from layers.ogc_features import layer_extent, read_feature

router = APIRouter(prefix="/ogc", tags=["ogc OGC API – Features"])

JSON = "application/json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _collection(request: Request, session, name: str) -> dict:
    spec = LAYERS.get(name)
    if spec is None:
        raise NotFound(f"没有名为 {name!r} 的图层集合 (no collection {name!r}); 可用 (available): {sorted(LAYERS)}")
    base = _base(request)
    out = {
        "id": name, "title": spec.title, "description": spec.description, "itemType": "feature",
        "crs": [CRS84],
        "links": [
            {"href": f"{base}/collections/{name}", "rel": "self", "type": JSON, "title": spec.title},
            {"href": f"{base}/collections/{name}/items", "rel": "items", "type": GEOJSON, "title": "要素 (items)"},
        ],
    }
    extent = layer_extent(session, name)
    if extent:
        out["extent"] = {"spatial": {"bbox": [extent], "crs": CRS84}}
    return out


@router.get("", summary="OGC API 首页 (landing page)")
def landing(request: Request) -> JSONResponse:
    """Landing page with links to the API definition, conformance and collections."""
    base = _base(request)
    root = str(request.base_url).rstrip("/")
    return JSONResponse({
        "title": "gridmap 社区网格化服务管理 — OGC API Features",
        "description": "网格、楼栋、设施、路网等公开图层 (public layers). Synthetic demo features say so in `source`.",
        "links": [
            {"href": base, "rel": "self", "type": JSON, "title": "本页 (this document)"},
            {"href": f"{root}/openapi.json", "rel": "service-desc",
             "type": "application/vnd.oai.openapi+json;version=3.0", "title": "API 定义 (API definition)"},
            {"href": f"{root}/docs", "rel": "service-doc", "type": "text/html", "title": "API 文档 (docs)"},
            {"href": f"{base}/conformance", "rel": "conformance", "type": JSON, "title": "一致性 (conformance)"},
            {"href": f"{base}/collections", "rel": "data", "type": JSON, "title": "图层集合 (collections)"},
        ],
    })


@router.get("/conformance", summary="一致性声明 (conformance classes)")
def conformance() -> JSONResponse:
    """The conformance classes implemented."""
    return JSONResponse({"conformsTo": CONFORMANCE})


@router.get("/collections", summary="图层集合 (collections)")
def collections(request: Request, session: ReadSessionDep) -> JSONResponse:
    """Every public layer as a collection."""
    base = _base(request)
    return JSONResponse({
        "links": [{"href": f"{base}/collections", "rel": "self", "type": JSON}],
        "collections": [_collection(request, session, name) for name in LAYERS],
    })


@router.get("/collections/{collection_id}", summary="一个图层集合 (one collection)")
def collection(request: Request, session: ReadSessionDep, collection_id: str) -> JSONResponse:
    """One collection's description and extent."""
    return JSONResponse(_collection(request, session, collection_id))


@router.get("/collections/{collection_id}/items", summary="要素 (features, paged)")
def items(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    bbox: BBoxDep,
    collection_id: str,
    limit: Annotated[int, Query(ge=1, le=10_000, description="每页要素数 (features per page)")] = 100,
    offset: Annotated[int, Query(ge=0, description="跳过的要素数 (features to skip)")] = 0,
) -> JSONResponse:
    """Features of a collection as GeoJSON, with ``numberMatched``, ``numberReturned`` and a ``next`` link."""
    if collection_id not in LAYERS:
        raise NotFound(f"没有名为 {collection_id!r} 的图层集合 (no collection {collection_id!r})")
    limit = min(limit, settings.api.max_limit)
    fc = read_layer(session, collection_id, bbox=bbox, limit=limit, offset=offset)
    base = f"{_base(request)}/collections/{collection_id}/items"
    extra = f"&bbox={','.join(str(v) for v in bbox)}" if bbox else ""
    links = [
        {"href": f"{base}?limit={limit}&offset={offset}{extra}", "rel": "self", "type": GEOJSON},
        {"href": f"{_base(request)}/collections/{collection_id}", "rel": "collection", "type": JSON},
    ]
    if offset + fc["numberReturned"] < fc["numberMatched"]:
        links.append({"href": f"{base}?limit={limit}&offset={offset + limit}{extra}", "rel": "next",
                      "type": GEOJSON})
    if offset > 0:
        links.append({"href": f"{base}?limit={limit}&offset={max(0, offset - limit)}{extra}", "rel": "prev",
                      "type": GEOJSON})
    fc.pop("name", None)
    fc["timeStamp"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    fc["links"] = links
    return JSONResponse(fc, media_type=GEOJSON)


@router.get("/collections/{collection_id}/items/{feature_id}", summary="一个要素 (one feature)")
def item(request: Request, session: ReadSessionDep, collection_id: str, feature_id: int) -> JSONResponse:
    """One feature by id."""
    feature = read_feature(session, collection_id, feature_id)
    base = f"{_base(request)}/collections/{collection_id}"
    feature["links"] = [
        {"href": f"{base}/items/{feature_id}", "rel": "self", "type": GEOJSON},
        {"href": base, "rel": "collection", "type": JSON},
    ]
    return JSONResponse(feature, media_type=GEOJSON)

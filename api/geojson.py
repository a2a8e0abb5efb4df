"""The GeoJSON media type and a response for GeoJSON that is already JSON text."""

from __future__ import annotations

from fastapi.responses import Response

GEOJSON = "application/geo+json"


class GeoJSONText(Response):
    """A GeoJSON document sent as the text it already is (no parse, no re-encode)."""

    media_type = GEOJSON


# OpenAPI for a route answering GeoJSONText: the body is a FeatureCollection
FEATURE_COLLECTION_DOC = {200: {"content": {GEOJSON: {"schema": {"type": "object", "properties": {
    "type": {"const": "FeatureCollection"}, "features": {"type": "array", "items": {"type": "object"}}}}}}}}

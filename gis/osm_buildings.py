"""Households and residents of OpenStreetMap buildings, estimated from footprint area × levels.

OSM knows footprints, sometimes ``building:levels`` or ``height``, never households. Coverage reports need
households, so an OSM building gets an **estimate**, always flagged ``estimated`` in its properties:

1. **Is it housing?** ``building`` in :data:`RESIDENTIAL` (apartments, residential, house, dormitory …) → yes.
   ``building=yes`` with no use tag (``amenity``, ``shop``, ``office``, ``tourism``, ``craft``, ``leisure``,
   ``healthcare``, ``industrial``, ``man_made``) and a footprint of at least :data:`MIN_ASSUMED_M2` →
   *assumed* housing (most untagged blocks of a Chinese city are); anything else → 0 households.
2. **Levels**: ``building:levels`` (the first number, clamped to 1–100); else ``height`` / 3 m; else the
   default of :data:`DEFAULT_LEVELS` for the building type (6 for apartments/residential: the walk-up of
   Chinese residential districts; 2 for houses; 4 for an untagged building).
3. **Households** = max(1, round(footprint m² × levels / :data:`GROSS_M2_PER_HOUSEHOLD`)), 90 m² of gross
   floor area per household (a ~70 m² flat plus its share of stairs, walls and corridors).
4. **Residents** = round(households × :data:`PERSONS_PER_HOUSEHOLD`), 2.62 persons per household (第七次全国
   人口普查, 2020 national average household size).

Footprint areas are measured in the local UTM zone.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd

RESIDENTIAL = frozenset({
    "apartments", "residential", "house", "detached", "semidetached_house", "terrace", "dormitory",
    "bungalow", "farm", "cabin", "static_caravan", "hut",
})
"""``building=*`` values that are housing."""

USE_KEYS: tuple[str, ...] = (
    "amenity", "shop", "office", "tourism", "craft", "leisure", "healthcare", "industrial", "man_made",
)
"""Tags that give an untagged (``building=yes``) building a non-residential use."""

DEFAULT_LEVELS: dict[str, int] = {
    "apartments": 6, "residential": 6, "dormitory": 5, "house": 2, "detached": 2, "semidetached_house": 2,
    "terrace": 2, "bungalow": 1, "farm": 2, "cabin": 1, "static_caravan": 1, "hut": 1,
}
"""Levels assumed when neither ``building:levels`` nor ``height`` is tagged."""

FALLBACK_LEVELS = 4
"""Levels assumed for any other building type (e.g. ``building=yes``)."""

GROSS_M2_PER_HOUSEHOLD = 90.0
PERSONS_PER_HOUSEHOLD = 2.62
MIN_ASSUMED_M2 = 60.0
METRES_PER_LEVEL = 3.0

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _first_number(value) -> float:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    found = _NUMBER.search(str(value))
    return float(found.group()) if found else np.nan


def footprint_area_m2(geoms: gpd.GeoSeries) -> np.ndarray:
    """Area in square metres of each WGS84 polygon, measured in the local UTM zone."""
    if len(geoms) == 0:
        return np.zeros(0)
    if geoms.crs is None:
        geoms = geoms.set_crs(4326)
    return geoms.to_crs(geoms.estimate_utm_crs()).area.to_numpy()


def estimate_households(buildings: pd.DataFrame, area_m2: np.ndarray) -> pd.DataFrame:
    """Apply the module's rule to OSM buildings.

    Parameters
    ----------
    buildings
        One row per building with OSM tag columns (``building``, ``building:levels``, ``height`` and the
        :data:`USE_KEYS`; missing columns count as untagged).
    area_m2
        Footprint areas in square metres, aligned with ``buildings``.

    Returns
    -------
    pandas.DataFrame
        Aligned with ``buildings``: ``floors`` (int), ``levels_source`` (``tag``/``height``/``default``),
        ``basis`` (``residential``/``assumed_residential``/``non_residential``), ``households`` and
        ``residents``.
    """
    n = len(buildings)

    def col(name: str) -> pd.Series:
        if name in buildings:
            return buildings[name].reset_index(drop=True)
        return pd.Series([None] * n, dtype=object)

    kind = col("building").fillna("yes").astype(str).str.strip().str.lower()
    has_use = np.zeros(n, dtype=bool)
    for key in USE_KEYS:
        values = col(key)
        has_use |= values.notna().to_numpy() & (values.astype(str).str.strip() != "").to_numpy()
    area = np.asarray(area_m2, dtype=float)
    residential = kind.isin(RESIDENTIAL).to_numpy()
    assumed = (kind == "yes").to_numpy() & ~has_use & (area >= MIN_ASSUMED_M2)

    tagged = col("building:levels").map(_first_number).to_numpy(dtype=float)
    height = col("height").map(_first_number).to_numpy(dtype=float) / METRES_PER_LEVEL
    default = kind.map(DEFAULT_LEVELS).fillna(FALLBACK_LEVELS).to_numpy(dtype=float)
    use_tag = np.isfinite(tagged) & (tagged >= 1)
    use_height = ~use_tag & np.isfinite(height) & (height >= 1)
    levels = np.where(use_tag, tagged, np.where(use_height, height, default))
    levels = np.clip(np.round(levels), 1, 100).astype(int)
    source = np.where(use_tag, "tag", np.where(use_height, "height", "default"))

    housing = residential | assumed
    gross_households = np.round(area * levels / GROSS_M2_PER_HOUSEHOLD)
    households = np.where(housing, np.maximum(1, gross_households), 0).astype(int)
    residents = np.round(households * PERSONS_PER_HOUSEHOLD).astype(int)
    basis = np.where(residential, "residential", np.where(assumed, "assumed_residential", "non_residential"))
    return pd.DataFrame({
        "floors": levels, "levels_source": source, "basis": basis,
        "households": households, "residents": residents,
    })


RULE_TEXT = (
    f"households = max(1, round(footprint_m2 × levels / {GROSS_M2_PER_HOUSEHOLD:g})) for housing; "
    f"residents = round(households × {PERSONS_PER_HOUSEHOLD}); see gis/osm_buildings.py"
)
"""One-line statement of the rule, stored with every estimated building."""

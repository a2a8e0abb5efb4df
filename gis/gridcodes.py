"""Grid codes: the 15-digit unit-grid code and the 20-digit CJ/T 349-2010 export form.

A 15-digit grid code is the community's 12-digit 统计用区划代码 (6 county + 3 township/street + 3
community/village) followed by a 3-digit sequence. Sequences run west → east, then north → south inside the
community (reading order, by rows). A grid that does not change between two generations keeps its code; new or
changed grids take numbers after the highest one the community has used, so that a code never names two
different areas in the history of a community.

The 20-digit professional-grid form (CJ/T 349-2010) is 6 object-class + 6 administrative + 3 street +
3 community + 2 sequence digits; it is an export format only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import shapely

from gis.errors import InvalidInput

CODE15 = re.compile(r"^[0-9]{15}$")
CODE12 = re.compile(r"^[0-9]{12}$")
# an account's area: empty (the whole city) or a county (6), township/street (9), community (12) or grid (15) code
AREA_SCOPE = re.compile(r"^(\d{6}|\d{9}|\d{12}|\d{15})?$")

# Default object-class digits of the CJ/T 349-2010 form for a comprehensive management grid; callers may pass
# the class their city uses.
DEFAULT_OBJECT_CLASS = "010100"

# Two grids are "the same grid" across generations when their intersection over union reaches this.
SAME_GRID_IOU = 0.995


def check_community_code(code: str) -> str:
    """Return ``code`` if it is a 12-digit community/village code, else raise :class:`InvalidInput`."""
    if not isinstance(code, str) or not CODE12.match(code):
        raise InvalidInput(
            f"社区代码应为 12 位数字：{code!r} (a community code has 12 digits)", detail={"code": code}
        )
    return code


def check_grid_code(code: str) -> str:
    """Return ``code`` if it is a 15-digit grid code, else raise :class:`InvalidInput`."""
    if not isinstance(code, str) or not CODE15.match(code):
        raise InvalidInput(
            f"网格编码应为 15 位数字：{code!r} (a grid code has 15 digits)", detail={"code": code}
        )
    return code


def make_code(community_code: str, sequence: int) -> str:
    """The 15-digit code of grid number ``sequence`` (1–999) of a community."""
    check_community_code(community_code)
    if not 1 <= int(sequence) <= 999:
        raise InvalidInput(
            f"网格序号须在 1–999 之间：{sequence} (a community has at most 999 grid numbers)",
            detail={"sequence": int(sequence)},
        )
    return f"{community_code}{int(sequence):03d}"


def reading_order(geoms: Sequence | np.ndarray, *, row_tolerance: float | None = None) -> np.ndarray:
    """Indices of ``geoms`` sorted west → east within rows, rows north → south.

    Parameters
    ----------
    geoms
        Polygons in any planar or geographic CRS where x grows east and y grows north.
    row_tolerance
        Centroids whose y differ by less than this belong to the same row; by default half the median
        square root of the areas (half a typical grid's height).

    Returns
    -------
    numpy.ndarray
        The permutation that puts the grids in numbering order.
    """
    arr = np.asarray(geoms, dtype=object)
    if arr.size == 0:
        return np.zeros(0, dtype=int)
    pts = shapely.point_on_surface(arr)
    cx, cy = shapely.get_x(pts), shapely.get_y(pts)
    if row_tolerance is None:
        row_tolerance = 0.5 * float(np.median(np.sqrt(shapely.area(arr)))) or 1e-9
    by_y = np.argsort(-cy, kind="stable")
    rows = np.empty(arr.size, dtype=int)
    row, top = 0, cy[by_y[0]]
    for (
        i
    ) in by_y:  # one pass over sorted centroids: a new row starts when we fall below the current row's top
        if top - cy[i] > row_tolerance:
            row += 1
            top = cy[i]
        rows[i] = row
    return np.lexsort((cx, rows))


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = shapely.area(shapely.intersection(a, b))
    union = shapely.area(a) + shapely.area(b) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def assign_codes(
    community_code: str,
    geoms: Sequence | np.ndarray,
    *,
    previous_codes: Sequence[str] = (),
    previous_geoms: Sequence | np.ndarray = (),
    used_sequences: Sequence[int] = (),
    min_iou: float = SAME_GRID_IOU,
) -> list[str]:
    """Give every grid of one community its 15-digit code.

    Parameters
    ----------
    community_code
        The community's 12-digit code.
    geoms
        The community's grids (valid polygons, one CRS).
    previous_codes, previous_geoms
        The same community's grids in the generation in force (same CRS): a grid that matches one of them
        (intersection over union ≥ ``min_iou``) keeps its code.
    used_sequences
        Sequence numbers the community has already used in earlier generations (never reused for a new grid).
    min_iou
        How close two polygons must be to count as the same grid.

    Returns
    -------
    list of str
        Codes in the order of ``geoms``. Kept codes first; the rest are numbered in reading order after the
        highest number used so far.
    """
    check_community_code(community_code)
    arr = np.asarray(geoms, dtype=object)
    codes: list[str | None] = [None] * arr.size
    prev = np.asarray(previous_geoms, dtype=object)
    taken: set[str] = set()
    if prev.size and arr.size:
        tree = shapely.STRtree(prev)
        new_idx, old_idx = tree.query(arr, predicate="intersects")
        ious = _iou(arr[new_idx], prev[old_idx]) if new_idx.size else np.zeros(0)
        for k in np.argsort(-ious, kind="stable"):
            if ious[k] < min_iou:
                break
            i, j = int(new_idx[k]), int(old_idx[k])
            code = previous_codes[j]
            if codes[i] is None and code not in taken and code.startswith(community_code):
                codes[i] = code
                taken.add(code)
    used = {int(c[12:]) for c in previous_codes if c.startswith(community_code)} | {
        int(s) for s in used_sequences
    }
    next_seq = max(used, default=0) + 1
    for i in reading_order(arr):
        if codes[i] is None:
            codes[i] = make_code(community_code, next_seq)
            next_seq += 1
    return [c for c in codes if c is not None]


def to_cjt349(code15: str, *, object_class: str = DEFAULT_OBJECT_CLASS) -> str:
    """The 20-digit CJ/T 349-2010 form of a 15-digit grid code.

    ``object_class`` (6 digits) + county (6) + street (3) + community (3) + the sequence's last two digits.
    A sequence above 99 has no 20-digit form and raises :class:`InvalidInput`.
    """
    check_grid_code(code15)
    if not re.match(r"^[0-9]{6}$", object_class):
        raise InvalidInput(f"对象分类代码应为 6 位数字：{object_class!r} (object class has 6 digits)")
    seq = int(code15[12:])
    if seq > 99:
        raise InvalidInput(
            f"网格序号 {seq} 超过 99，无法写成 20 位 CJ/T 349-2010 编码 (sequence > 99 has no 20-digit form)",
            detail={"code": code15},
        )
    return f"{object_class}{code15[:12]}{seq:02d}"


def from_cjt349(code20: str) -> str:
    """The 15-digit code of a 20-digit CJ/T 349-2010 code (the inverse of :func:`to_cjt349`)."""
    if not isinstance(code20, str) or not re.match(r"^[0-9]{20}$", code20):
        raise InvalidInput(f"CJ/T 349-2010 编码应为 20 位数字：{code20!r} (20 digits expected)")
    return f"{code20[6:18]}{int(code20[18:]):03d}"

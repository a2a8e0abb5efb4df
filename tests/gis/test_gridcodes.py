"""Grid codes: reading order, stability across generations, the 20-digit form."""

from __future__ import annotations

import pytest
from shapely.geometry import box

from gis.errors import InvalidInput
from gis.gridcodes import assign_codes, from_cjt349, make_code, reading_order, to_cjt349

C = "620302004002"


def _row_grid():
    # 2 rows × 3 columns, given in scrambled order; row y are jittered a little as real grids are.
    return [box(2, 0, 3, 1), box(0, 1.05, 1, 2.05), box(1, 0, 2, 1.1), box(2, 1, 3, 2), box(0, 0, 1, 0.95),
            box(1, 1, 2, 2)]


def test_reading_order_is_west_to_east_then_north_to_south():
    geoms = _row_grid()
    order = reading_order(geoms)
    assert [geoms[i].bounds[:2] for i in order] == [(0, 1.05), (1, 1), (2, 1), (0, 0), (1, 0), (2, 0)]


def test_fresh_codes_follow_reading_order():
    geoms = _row_grid()
    codes = assign_codes(C, geoms)
    assert codes[1] == C + "001" and codes[5] == C + "002" and codes[3] == C + "003"
    assert codes[4] == C + "004" and codes[2] == C + "005" and codes[0] == C + "006"
    assert len(set(codes)) == 6 and all(len(c) == 15 for c in codes)


def test_unchanged_grids_keep_their_codes_and_new_ones_never_reuse_a_number():
    old = _row_grid()
    old_codes = assign_codes(C, old)
    # the next generation: grid 0 is split in two, the others unchanged (and listed in another order)
    new = [old[5], old[4], box(2, 0, 2.5, 1), box(2.5, 0, 3, 1), old[3], old[2], old[1]]
    codes = assign_codes(C, new, previous_codes=old_codes, previous_geoms=old)
    kept = dict(zip(map(lambda g: g.wkt, old), old_codes))
    for g, c in zip(new, codes):
        if g.wkt in kept:
            assert c == kept[g.wkt]
    assert codes[2] == C + "007" and codes[3] == C + "008"  # after the highest number used (006 retired)


def test_cjt349_round_trip_and_limits():
    code = make_code(C, 7)
    twenty = to_cjt349(code)
    assert len(twenty) == 20 and twenty.endswith(C + "07") and from_cjt349(twenty) == code
    with pytest.raises(InvalidInput):
        to_cjt349(make_code(C, 120))
    with pytest.raises(InvalidInput):
        make_code("62030200400", 1)
    with pytest.raises(InvalidInput):
        make_code(C, 1000)

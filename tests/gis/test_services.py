"""三单 and 微心愿 rules: allowed moves and the ranking of suggested party members."""

import numpy as np
import pytest

from gis.errors import Conflict
from gis.services import ORDER_MOVES, WISH_MOVES, check_move, rank_takers


@pytest.mark.parametrize(
    "current,target,ok",
    [
        ("placed", "dispatched", True),
        ("dispatched", "taken", True),
        ("taken", "fulfilled", True),
        ("fulfilled", "closed", True),
        ("dispatched", "placed", True),  # refused by the party member: back to the community
        ("taken", "placed", True),  # given up after accepting: back to the community
        ("taken", "dispatched", False),  # never straight to another member: the community dispatches again
        ("placed", "taken", False),
        ("placed", "closed", False),
        ("closed", "placed", False),
        ("cancelled", "dispatched", False),
    ],
)
def test_order_moves(current, target, ok):
    if ok:
        check_move(current, target, ORDER_MOVES)
    else:
        with pytest.raises(Conflict) as err:
            check_move(current, target, ORDER_MOVES)
        assert err.value.detail["from"] == current


def test_wish_moves():
    check_move("posted", "claimed", WISH_MOVES)
    check_move("claimed", "fulfilled", WISH_MOVES)
    with pytest.raises(Conflict):
        check_move("posted", "fulfilled", WISH_MOVES)


def test_same_grid_first_then_walk_then_load():
    same = np.array([False, True, False, True, False])
    walk = np.array([100.0, 900.0, 100.0, 300.0, np.inf])
    load = np.array([3, 0, 1, 5, 0])
    assert rank_takers(same_grid=same, walk_m=walk, open_load=load).tolist() == [3, 1, 2, 0, 4]

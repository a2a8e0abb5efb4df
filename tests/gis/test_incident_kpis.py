"""KPIs that cannot flatter: every share over all incidents reported in the period, open/overdue/escalated beside."""

from __future__ import annotations

import pytest

from gis.errors import InvalidInput
from gis.incident_kpis import COUNTS, KPI_TARGET, LEVEL_RANK, check_by, kpi_row


def counts(**kw) -> dict[str, int]:
    return {k: kw.get(k, 0) for k in COUNTS}


def test_the_street_of_the_issue_is_38_percent_not_100():
    """13 of 34 closed (all at grid level), 13 overdue: 13/34 = 38 %, below the target — "closed at low level ÷
    closed" would have shown 100 % and met it."""
    row = kpi_row(counts(total=34, closed=13, open=21, overdue_open=13, closed_at_grid=13, closed_low_level=13,
                         on_time=13), median_handling_h=10.123)
    assert row["low_level_rate"] == round(13 / 34, 4) and row["meets_target"] is False
    assert (row["open"], row["overdue_open"], row["on_time_rate"], row["median_handling_h"]) == (21, 13, 1.0, 10.12)
    assert row["grid_rate"] == round(13 / 34, 4) and row["open_rate"] == round(21 / 34, 4)


def test_target_and_empty_groups():
    assert kpi_row(counts(total=10, closed=9, closed_low_level=8))["meets_target"] is True  # 80 % exactly
    assert kpi_row(counts(total=10, closed=10, closed_low_level=7))["meets_target"] is False
    none = kpi_row(counts())
    assert (none["low_level_rate"], none["meets_target"], none["on_time_rate"]) == (None, None, None)
    nothing_closed = kpi_row(counts(total=3, open=3))
    assert (nothing_closed["low_level_rate"], nothing_closed["meets_target"]) == (0.0, False)
    assert KPI_TARGET == 0.8 and LEVEL_RANK == {"grid": 0, "community": 1, "street": 2, "district": 3}


def test_by_is_checked():
    assert check_by("street") == "street"
    with pytest.raises(InvalidInput):
        check_by("planet")

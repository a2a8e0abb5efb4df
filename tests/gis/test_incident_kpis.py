"""KPIs that cannot flatter: every share over all incidents reported in the period, open/overdue/escalated beside."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from gis.errors import InvalidInput
from gis.incident_kpis import COLUMNS, KPI_TARGET, kpi_table, overall

T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
H = dt.timedelta(hours=1)


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_kpi_table_numbers():
    rows = [  # grid, community, street, category, state, level, start level, created, due, closed
        ("G1", "C1", "S1", "sanitation", "closed", "grid", "grid", T0, T0 + 24 * H, T0 + 10 * H),
        ("G1", "C1", "S1", "sanitation", "closed", "community", "grid", T0, T0 + 24 * H, T0 + 30 * H),
        ("G1", "C1", "S1", "road_damage", "closed", "street", "grid", T0, T0 + 72 * H, T0 + 5 * H),
        ("G2", "C1", "S1", "market", "dispatched", "grid", "grid", T0, T0 + 72 * H, None),
        ("G2", "C2", "S1", "market", "handling", "grid", "grid", T0 + 800 * H, T0 + 872 * H, None),
    ]
    df = frame(rows)
    now = T0 + 100 * H
    g = {r["grid"]: r for r in kpi_table(df, "grid", now=now)}
    assert (g["G1"]["total"], g["G1"]["closed"], g["G1"]["closed_low_level"], g["G1"]["on_time"]) == (3, 3, 2, 2)
    assert g["G1"]["low_level_rate"] == 0.6667 and g["G1"]["median_handling_h"] == 10.0
    assert (g["G1"]["closed_at_grid"], g["G1"]["closed_at_community"], g["G1"]["grid_rate"]) == (1, 1, 0.3333)
    assert (g["G1"]["escalated"], g["G1"]["above_community"]) == (2, 1)
    assert g["G1"]["meets_target"] is False
    # G2 closed nothing: 0 % solved at grid/community level — not "no figure", and not meeting the target
    assert (g["G2"]["open"], g["G2"]["overdue_open"], g["G2"]["on_time_rate"]) == (2, 1, None)
    assert (g["G2"]["low_level_rate"], g["G2"]["meets_target"]) == (0.0, False)
    months = {r["month"]: r["total"] for r in kpi_table(df, "month", now=now)}
    assert months == {"2026-03": 4, "2026-04": 1}
    assert kpi_table(df.iloc[:0], "grid", now=now) == []
    with pytest.raises(InvalidInput):
        kpi_table(df, "planet", now=now)


def test_the_street_of_the_issue_is_38_percent_not_100():
    """13 of 34 closed (all at grid level), 13 overdue: 13/34 = 38 %, below the target — "closed at low level ÷
    closed" would have shown 100 % and met it."""
    late, fine = T0 - 48 * H, T0 + 48 * H
    rows = ([("G1", "C1", "S1", "sanitation", "closed", "grid", "grid", T0 - 72 * H, T0, T0 - H)] * 13
            + [("G1", "C1", "S1", "sanitation", "handling", "grid", "grid", T0 - 72 * H, late, None)] * 13
            + [("G1", "C1", "S1", "sanitation", "dispatched", "grid", "grid", T0 - H, fine, None)] * 8)
    [row] = kpi_table(frame(rows), "street", now=T0)
    assert (row["street"], row["total"], row["closed"], row["open"], row["overdue_open"]) == ("S1", 34, 13, 21, 13)
    assert row["low_level_rate"] == round(13 / 34, 4) and row["meets_target"] is False
    assert row["on_time_rate"] == 1.0  # the closed ones were on time; that does not lift the share


def test_rows_without_an_area_keep_a_key_of_none_and_overall_counts_everything():
    rows = [(None, None, None, "other", "reported", "grid", "grid", T0, T0 + 24 * H, None),
            ("G1", "C1", "S1", "other", "closed", "grid", "grid", T0, T0 + 24 * H, T0 + H)]
    out = kpi_table(frame(rows), "street", now=T0)
    assert [r["street"] for r in out] == [None, "S1"]
    o = overall(frame(rows), now=T0)
    assert (o["total"], o["closed_low_level"], o["low_level_rate"], o["meets_target"]) == (2, 1, 0.5, False)
    assert KPI_TARGET == 0.8
    # a community-fallback incident (reported at community level) that is still there was not escalated
    fallback = [(None, "C9", "S9", "other", "registered", "community", "community", T0, T0 + 24 * H, None)]
    assert kpi_table(frame(fallback), "community", now=T0)[0]["escalated"] == 0

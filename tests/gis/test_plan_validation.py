"""The validation report finds each defect of a hand-made plan, and nothing else."""

from __future__ import annotations

import pytest
import shapely

from gis import plan_validation
from gis.plan_validation import ProblemKind, ValidationOptions, validate_plan
from tests.gis.plan_fixtures import COMMUNITY, DEFECTS, code, make_plan


def _validate(defects, **kw):
    plan = make_plan(defects)
    return validate_plan(**plan, metric_crs="EPSG:4543", **kw)


def test_clean_plan_has_no_problem():
    report = _validate(())
    assert report.problems == [], [p.message for p in report.problems]
    assert report.households[code(1)] == 400
    assert report.as_dict()["ok"] is True


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_defect_alone_is_found_and_nothing_else(defect):
    report = _validate((defect,))
    assert [p.kind for p in report.problems] == [defect], [p.message for p in report.problems]


def test_all_defects_at_once_one_problem_each():
    report = _validate(DEFECTS)
    assert sorted(p.kind for p in report.problems) == sorted(DEFECTS), [p.message for p in report.problems]
    by = {p.kind: p for p in report.problems}
    assert by["overlap"].area_m2 == pytest.approx(3000, rel=0.01)
    assert {by["overlap"].grid, by["overlap"].detail["other"]} == {code(2), code(3)}
    assert by["gap"].area_m2 == pytest.approx(3000, rel=0.01) and by["gap"].community == COMMUNITY
    assert by["outside_community"].grid == code(4)
    assert by["outside_community"].area_m2 == pytest.approx(3000, rel=0.01)
    assert by["sliver"].grid == code(11) and by["sliver"].area_m2 == pytest.approx(400, rel=0.01)
    assert by["invalid_geometry"].grid == code(5)
    assert "Self-intersection" in by["invalid_geometry"].detail["reason"] or by["invalid_geometry"].detail["reason"]
    repaired = shapely.geometry.shape(by["invalid_geometry"].detail["repaired"])
    assert repaired.is_valid and repaired.geom_type == "MultiPolygon"
    assert by["building_cut"].detail["grids"] and set(by["building_cut"].detail["grids"]) == {code(9), code(10)}
    assert by["households_out_of_bounds"].grid == code(8) and by["households_out_of_bounds"].count == 200
    assert by["residents_over_limit"].grid == code(9) and by["residents_over_limit"].count == 2600
    assert by["no_grid_worker"].grid == code(7)
    assert by["exclusive_outside"].grid == code(22)
    assert by["duplicate_code"].grid == code(1) and by["duplicate_code"].count == 2
    # every problem is located inside the city, and the report is JSON- and map-ready
    for p in report.problems:
        assert p.location is None or (102.0 < p.location[0] < 102.4 and 38.3 < p.location[1] < 38.7)
    assert len(report.as_geojson()["features"]) == len(DEFECTS)
    assert {p["kind"] for p in report.blocking and [x.as_dict() for x in report.blocking]} == {
        "invalid_geometry", "overlap", "duplicate_code"}


def test_thresholds_are_configurable():
    report = _validate((), options=ValidationOptions(min_households=450, max_households=600, sliver_area_m2=10))
    kinds = {p.kind for p in report.problems}
    assert kinds == {ProblemKind.HOUSEHOLDS_OUT_OF_BOUNDS.value}


def test_without_community_polygon_gaps_are_holes_of_the_union():
    plan = make_plan(("gap",))
    plan["communities"] = None
    report = validate_plan(**plan, metric_crs="EPSG:4543")
    # the 10 m strip is open to nothing else? it is enclosed by grids 5, 6, 7 and 2 → a hole
    assert [p.kind for p in report.problems] == ["gap"]


def _checks(plan: dict, prepared):
    """Each check of the driver, called on its own: {kind: problems it finds}."""
    shapes = plan_validation.community_shapes(prepared, plan["communities"])
    buildings = plan_validation.BuildingsUnderCheck.of(prepared, plan["building_geoms"], plan["building_households"],
                                          plan["building_residents"], None)
    households, residents = plan_validation.grid_counts(prepared, buildings, None, None)
    counts = plan_validation.check_counts(prepared, households, residents)
    return {
        "duplicate_code": plan_validation.check_duplicate_codes(prepared),
        "outside_community": plan_validation.check_outside_community(prepared, shapes),
        "overlap": plan_validation.check_overlaps(prepared),
        "gap": plan_validation.check_gaps(prepared, shapes),
        "sliver": plan_validation.check_slivers(prepared),
        "building_cut": plan_validation.check_cut_buildings(prepared, buildings),
        "households_out_of_bounds": [p for p in counts if p.kind == "households_out_of_bounds"],
        "residents_over_limit": [p for p in counts if p.kind == "residents_over_limit"],
        "no_grid_worker": plan_validation.check_grid_workers(prepared, plan["staffed_codes"]),
        "exclusive_outside": plan_validation.check_exclusive_inside(prepared),
    }


@pytest.mark.parametrize("defect", DEFECTS)
def test_each_check_alone_finds_its_defect_and_only_its_own(defect):
    plan = make_plan((defect,))
    prepared, invalid = plan_validation.prepare_plan(plan["codes"], plan["geoms"], kinds=plan["kinds"],
                                        community_codes=plan["community_codes"],
                                        options=ValidationOptions(), metric_crs="EPSG:4543")
    found = {"invalid_geometry": invalid, **_checks(plan, prepared)}
    assert {kind for kind, problems in found.items() if problems} == {defect}
    assert [p.kind for p in found[defect]] == [defect]

"""The planning workflow on PostGIS: draft, stale edit → 409, validate, impact, publish (previous retired)."""

from __future__ import annotations

import datetime as dt

import pytest
import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import box

from gis.errors import InvalidGeometry, InvalidInput, NotFound, PlanConflict
from layers import models as m
from layers import plan_impact, plans
from layers.features import current_plan_id
from tests.gis.plan_fixtures import DEFECTS, PROJ, X0, Y0, code
from tests.layers.plan_db_fixtures import as_collection, load_world, publish_base


def _metric_box(x0, y0, x1, y1):
    return shapely.geometry.mapping(PROJ.inverse(
        __import__("numpy").asarray([box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)], dtype=object))[0])


@pytest.fixture
def session(module_sessionmaker):
    """A rolled-back session on this module's own database: the session database holds the Jinchang demo, whose
    real community codes and plan in force these hand-made plans would collide with."""
    s = module_sessionmaker()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def world(session):
    return load_world(session)


def test_create_read_and_counts_from_buildings(session, world):
    plan = plans.create_plan(session, as_collection(world["plan"]), name="草案", source="test")
    assert plan.status == "draft" and plan.generation is None
    fc = plans.plan_features(session, plan.id)
    assert len(fc["features"]) == 12
    g1 = next(f for f in fc["features"] if f["id"] == code(1) and f["properties"]["kind"] == "comprehensive")
    assert g1["properties"]["households"] == 400 and g1["properties"]["version"] == 1


def test_codes_are_assigned_and_stay_stable_for_unchanged_grids(session, world):
    base = publish_base(session, world)
    # a new draft without codes: every grid identical to the one in force keeps its code
    fc = as_collection(world["plan"], with_codes=False)
    draft = plans.create_plan(session, fc, name="无编码草案", source="test")
    codes = {f["id"] for f in plans.plan_features(session, draft.id)["features"]}
    assert codes == set(world["plan"]["codes"])
    assert base.generation >= 1


def test_stale_edit_is_refused_and_changes_nothing(session, world):
    plan = plans.create_plan(session, as_collection(world["plan"]), name="草案", source="test")
    feature = {"type": "Feature", "geometry": _metric_box(0, 300, 290, 600), "properties": {"name": "改"}}
    g = plans.replace_grid(session, plan.id, code(2), feature, expected_version=1)
    assert g.version == 2
    before = session.scalar(m.Grid.__table__.select().with_only_columns(
        m.Grid.geom.ST_AsText()).where(m.Grid.id == g.id))
    with pytest.raises(PlanConflict) as exc:
        plans.replace_grid(session, plan.id, code(2), {**feature, "geometry": _metric_box(0, 0, 10, 10)},
                           expected_version=1)
    assert exc.value.detail["current_version"] == 2
    after = session.scalar(m.Grid.__table__.select().with_only_columns(
        m.Grid.geom.ST_AsText()).where(m.Grid.id == g.id))
    assert before == after
    with pytest.raises(PlanConflict):
        plans.delete_grid(session, plan.id, code(2), expected_version=1)
    plans.delete_grid(session, plan.id, code(2), expected_version=2)
    with pytest.raises(NotFound):
        plans.get_grid(session, plan.id, code(2))


def test_bad_input_is_refused_with_reasons(session, world):
    with pytest.raises(InvalidInput) as exc:
        plans.create_plan(session, {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [102.2, 38.5]}, "properties": {}},
            {"type": "Feature", "geometry": _metric_box(0, 0, 10, 10), "properties": {"code": "123"}},
        ]}, name="坏", source="test")
    assert len(exc.value.detail["problems"]) == 2
    with pytest.raises(InvalidGeometry):
        plans.to_multipolygon({"type": "LineString", "coordinates": [[102.2, 38.5], [102.3, 38.5]]})


def test_validation_of_the_defective_plan_finds_each_defect(session):
    world = load_world(session, DEFECTS)
    fc = as_collection(world["plan"])
    # a file can hold duplicate codes: validated before storing, every defect is found once
    report = plans.validate_collection(session, fc)
    kinds = sorted(p.kind for p in report.problems)
    assert kinds == sorted(DEFECTS), [p.message for p in report.problems]
    # a stored plan cannot: creating it is refused with the duplicate named
    with pytest.raises(InvalidInput) as exc:
        plans.create_plan(session, fc, name="缺陷方案", source="test")
    assert exc.value.detail["problems"] == [{"kind": "duplicate_code", "code": code(1)}]
    fc["features"] = fc["features"][:-2] + fc["features"][-1:]  # drop the duplicate
    plan = plans.create_plan(session, fc, name="缺陷方案", source="test")
    report = plans.validate(session, plan.id)
    assert sorted(p.kind for p in report.problems) == sorted(set(DEFECTS) - {"duplicate_code"})
    with pytest.raises(PlanConflict):
        plans.publish(session, plan.id)


def test_gcj02_input_is_converted(session, world):
    from gis.coords import from_wgs84
    geom = shapely.geometry.shape(_metric_box(0, 300, 300, 600))
    gcj = shapely.transform(geom, lambda xy: __import__("numpy").column_stack(from_wgs84(xy[:, 0], xy[:, 1], "gcj02")))
    mp = plans.to_multipolygon(shapely.geometry.mapping(gcj), crs="gcj02")
    assert shapely.hausdorff_distance(mp, shapely.MultiPolygon([geom])) < 1e-7


def test_impact_and_publish_retire_the_previous_generation(session, world):
    base = publish_base(session, world)
    assert current_plan_id(session) == base.id
    incident = m.Incident(category="环境卫生", geom=from_shape(shapely.Point(
        PROJ.inverse(__import__("numpy").asarray([shapely.Point(X0 + 150, Y0 + 450)], dtype=object))[0]), srid=4326),
        original_lon=0, original_lat=0, original_crs="wgs84", plan_id=base.id, grid_code=code(1), source="test",
        grid_id=plans.get_grid(session, base.id, code(1)).id)
    session.add(incident)
    session.flush()

    draft = plans.create_draft_from(session, base.id, name="调整")
    # grid 2 grows west over grid 1's building; grid 1 shrinks accordingly
    g1 = plans.get_grid(session, draft.id, code(1))
    plans.replace_grid(session, draft.id, code(1), {"type": "Feature", "geometry": _metric_box(0, 300, 100, 600),
                                                     "properties": {}}, expected_version=g1.version)
    g2 = plans.get_grid(session, draft.id, code(2))
    plans.replace_grid(session, draft.id, code(2), {"type": "Feature", "geometry": _metric_box(100, 300, 600, 600),
                                                     "properties": {}}, expected_version=g2.version)
    plans.delete_grid(session, draft.id, code(7), expected_version=1)
    result = plan_impact.impact(session, draft.id)
    assert result["base_plan_id"] == base.id
    assert {c["code"] for c in result["grids"]["changed"]} == {code(1), code(2)}
    gained = {c["code"]: c for c in result["grids"]["changed"]}
    assert gained[code(2)]["area_gained_m2"] == pytest.approx(60000, rel=0.01)
    assert gained[code(1)]["area_lost_m2"] == pytest.approx(60000, rel=0.01)
    assert [g["code"] for g in result["grids"]["removed"]] == [code(7)]
    moved = {(b["from"], b["to"]) for b in result["buildings"]["items"]}
    assert moved == {(code(1), code(2)), (code(7), None)}
    assert result["buildings"]["households"] == 800
    assert result["incidents"]["items"][0]["incident_id"] == incident.id
    assert result["incidents"]["items"][0]["to"] == code(2)
    assert any(s["from"] == code(7) and s["to"] is None for s in result["staff"]["items"])

    published = plans.publish(session, draft.id, effective_from=dt.date(2026, 1, 1), force=True)
    session.refresh(base)
    assert published.generation == base.generation + 1 and published.status == "published"
    assert base.status == "retired" and base.effective_to == dt.date(2026, 1, 1)
    assert current_plan_id(session) == published.id
    session.refresh(incident)
    assert incident.plan_id == base.id and incident.grid_code == code(1)  # history keeps its generation
    with pytest.raises(PlanConflict):
        plans.replace_grid(session, base.id, code(1), {"type": "Feature", "geometry": _metric_box(0, 0, 1, 1),
                                                        "properties": {}}, expected_version=1)

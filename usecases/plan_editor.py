"""The planners' drawing page (规划员绘图页): a plan's summary, its grids with their versions and its validation
report — of one community when asked — and the buildings to draw under them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from layers import map_data, plans
from maps.common import MapContext
from maps.plan_editor import EditorData


def _only_community(report: dict[str, Any], community: str) -> dict[str, Any]:
    """A validation report (``as_dict()`` plus ``geojson``) cut down to one community's problems."""
    keep = [i for i, p in enumerate(report["problems"]) if p["community"] == community]
    counts = dict.fromkeys(report["counts"], 0)
    for i in keep:
        counts[report["problems"][i]["kind"]] += 1
    features = report["geojson"]["features"]
    return {**report, "problems": [report["problems"][i] for i in keep], "counts": counts, "ok": not keep,
            "geojson": {"type": "FeatureCollection", "features": [features[i] for i in keep]}}


def editor_state(session: Session, plan_id: int, community: str | None) -> tuple[dict, dict, dict]:
    """Plan summary, grids (WGS84, full precision) and validation report (one community's problems if asked)."""
    plan = plans.plan_summary(session, plans.get_plan(session, plan_id), with_report=True)
    grids = plans.plan_features(session, plan_id, community=community, precision=15)
    report = plans.validate(session, plan_id)
    found = report.as_dict() | {"geojson": report.as_geojson()}
    return plan, grids, _only_community(found, community) if community else found


def editor_data(session: Session, ctx: MapContext, plan_id: int, *, community: str | None,
                api_token: str) -> EditorData:
    """Everything the drawing page shows; ``api_token`` is the page's own token for the plan API."""
    n = map_data.count(session, "buildings")
    plan, grids, report = editor_state(session, plan_id, community)
    return EditorData(
        plan=plan,
        grids=grids,
        report=report,
        buildings=None if ctx.use_tiles(n) else map_data.buildings(session),
        building_count=n,
        api_url=f"/api/v1/plans/{plan_id}",
        state_url=f"/maps/plans/{plan_id}/edit/state" + (f"?community={community}" if community else ""),
        community=community,
        sources=map_data.sources(session, "buildings"),
        api_token=api_token,
    )

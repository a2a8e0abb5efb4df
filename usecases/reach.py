"""What can I reach on foot from here — the one computation behind ``GET /api/v1/circles/reachable``,
``gridmap circles reach`` and the public map's "from here" popup (``GET /maps/public/reach``).

Minutes become metres at the one configured walking speed (:class:`layers.settings.WalkSettings`). The popup's
5/10/15-minute answers are each exactly what ``/api/v1/circles/reachable?minutes=N`` answers: the facilities are
walked to once, for the largest budget, and each budget is then answered by the same selection
(:func:`layers.service_circles.reach_answer`) the API uses.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from gis.domain import walk_metres
from layers.settings import WalkSettings

POPUP_MINUTES = (5.0, 10.0, 15.0)


def reachable(session: Session, lon: float, lat: float, *, minutes: float, walk: WalkSettings,
              speed_kmh: float | None = None, type_codes: Sequence[str] | None = None, network: str | None = None,
              include_area: bool = False) -> dict:
    """Facilities within ``minutes`` on foot of a WGS84 point, nearest first; ``speed_kmh`` overrides the
    configured speed for this answer; ``include_area`` adds the point's own walking service area."""
    from layers import service_circles  # numba, scipy: loaded on first use

    speed = speed_kmh or walk.speed_kmh
    budget = walk_metres(minutes, speed)
    out = service_circles.reachable_from(session, lon, lat, budget_m=budget, type_codes=type_codes, network=network,
                            speed_kmh=speed)
    out["minutes"] = minutes
    out["speed_kmh"] = speed
    if include_area:
        out["area"] = service_circles.point_service_area(session, lon, lat, budget, network=network)
    return out


def _nearest_per_type(answers: list[dict]) -> list[dict]:
    """Per facility type: the nearest facility reached and the smallest budget that reaches it."""
    seen: dict[str, dict] = {}
    for ans in answers:
        for f in ans["facilities"]:
            if f["type_code"] not in seen:
                seen[f["type_code"]] = {"type_code": f["type_code"], "type_zh": f["type_zh"], "name": f["name"],
                                        "facility_id": f["facility_id"], "distance_m": f["distance_m"],
                                        "minutes": f["minutes"], "within": ans["minutes"]}
    return sorted(seen.values(), key=lambda t: t["distance_m"])


def from_here(session: Session, lon: float, lat: float, *, walk: WalkSettings,
              minutes: Sequence[float] = POPUP_MINUTES) -> dict:
    """The public map's popup: for each of ``minutes`` the answer ``reachable`` gives for it, plus the
    nearest facility of each type reached within the largest (``types``)."""
    from layers import service_circles  # numba, scipy: loaded on first use

    budgets = [walk_metres(m, walk.speed_kmh) for m in minutes]
    cand = service_circles.reach_candidates(session, lon, lat, max_budget_m=max(budgets))
    answers = []
    for m, budget in zip(minutes, budgets, strict=True):
        answer = service_circles.reach_answer(cand, budget, speed_kmh=walk.speed_kmh)
        answers.append({**answer, "minutes": m, "speed_kmh": walk.speed_kmh})
    return {"lon": lon, "lat": lat, "speed_kmh": walk.speed_kmh, "network": cand.network, "answers": answers,
            "types": _nearest_per_type(sorted(answers, key=lambda a: a["minutes"]))}

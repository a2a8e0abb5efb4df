"""Lists of scoped rows as staff see them: 微心愿, 双报到 registrations, 准入 flags and topic suggestions, only
those inside the caller's area.

Each list filters in SQL (:func:`usecases.access.area_condition`, like the orders of :mod:`usecases.orders`):
nothing outside the caller's area is loaded, and a ``limit`` counts only rows the caller may see. The routers
audit the reads of personal data; nothing here knows HTTP.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from gis.domain import area_prefix
from layers import deliberation, matters, volunteers, wishes
from layers.matters_models import MatterFlag
from layers.services_models import Wish
from layers.volunteers_models import Registration
from usecases.access import Viewer, area_condition


def wishes_for(session: Session, viewer: Viewer) -> list[Wish]:
    """The wishes of the viewer's grids, newest first (judged by the wish's grid)."""
    return wishes.list_wishes(session, where=area_condition(viewer, Wish.grid_code))


def registrations_for(session: Session, viewer: Viewer, *, unit: str | None = None) -> list[Registration]:
    """The 双报到 registrations with the viewer's communities, optionally of a code prefix ``unit``."""
    return volunteers.list_registrations(session, unit=unit,
                                         where=area_condition(viewer, Registration.community_code))


def flags_for(session: Session, viewer: Viewer, *, unit: str | None = None, state: str | None = None,
              limit: int = 500) -> list[dict[str, Any]]:
    """The viewer's communities' flags (incidents and orders outside the 准入 list), newest first."""
    return matters.flags(session, unit=unit, state=state, limit=limit,
                         where=area_condition(viewer, MatterFlag.community_code))


def topic_suggestions_for(session: Session, viewer: Viewer, *, days: int, radius_m: float,
                          min_incidents: int) -> list[dict[str, Any]]:
    """Clusters of recurring incidents in the viewer's area (only its incidents are clustered)."""
    if not viewer.everywhere and not viewer.scope:
        return []
    unit = None if viewer.everywhere else area_prefix(viewer.scope)
    return deliberation.incident_clusters(session, days=days, radius_m=radius_m, min_incidents=min_incidents,
                                          unit=unit)

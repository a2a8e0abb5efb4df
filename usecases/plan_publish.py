"""Publish a grid plan with its staff handover and the re-dispatch of open incidents — one use, one place.

Called by ``POST /api/v1/plans/{id}/publish`` and ``gridmap plan publish``. In one transaction (the caller
commits): the handover is taken (the planner's edited one, or the default proposal against the plan in force),
the draft becomes the next generation (:func:`layers.plans.publish`: scope, reason and validation checks), the
handover is applied from the publishing day, and open incidents are re-assigned to the new grids and
re-dispatched (or, with ``redispatch=False``, only previewed). What happened is kept with the generation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from gis.domain import PlanStatus
from gis.errors import PlanConflict
from gis.plan_validation import ValidationOptions
from layers import handover, plan_impact, plans
from layers.features import current_plan_id
from layers.reassign import reassign

REPORT_ITEMS = 200  # moved incidents and handover items kept in the stored report (the answer has them all)


@dataclass(frozen=True)
class PublishOptions:
    """How to publish: from when, whether to force (and why), the handover to apply, whether to re-dispatch."""

    effective_from: dt.date | None = None
    force: bool = False
    reason: str | None = None
    handover: list[dict[str, Any]] | None = None
    redispatch: bool = True
    validation: ValidationOptions | None = None


def _handover_items(session: Session, plan_id: int, given: list[dict[str, Any]] | None
                    ) -> tuple[list[dict[str, Any]], set[str]]:
    """The handover to apply (given in the request, kept with the draft, or the default) and the retired codes."""
    sides = plan_impact.plan_sides(session, plan_id)
    retired = set(sides.base["codes"]) - set(sides.draft["codes"])
    given = given if given is not None else sides.plan.handover
    if given is not None:  # checked again: the draft may have changed since the handover was edited
        return handover.check_items(session, sides.plan, given), retired
    buildings = plan_impact.building_owners(session, sides)
    return handover.proposal(session, sides, buildings)["items"], retired


def _stored(report: dict[str, Any]) -> dict[str, Any]:
    """The report as kept with the generation: counts and the first items."""
    out = dict(report)
    out["handover"] = {**report["handover"], "items": report["handover"]["items"][:REPORT_ITEMS]}
    out["incidents"] = {**report["incidents"], "items": report["incidents"]["items"][:REPORT_ITEMS]}
    return out


def publish_plan(session: Session, plan_id: int, options: PublishOptions | None = None, *,
                 actor: str = "api", progress=None) -> dict[str, Any]:
    """Publish a draft with its handover and re-dispatch; returns the plan's summary with ``handover`` (what was
    applied) and ``incidents`` (what moved, and to whom)."""
    options = options or PublishOptions()
    plan = plans.get_plan(session, plan_id)
    if plan.status != PlanStatus.DRAFT.value:
        raise PlanConflict(f"方案 {plan_id} 不是草案，不能发布 (only a draft can be published)",
                           detail={"plan_id": plan_id, "status": plan.status})
    items, retired = _handover_items(session, plan_id, options.handover)
    previous = current_plan_id(session)
    plans.publish(session, plan_id, effective_from=options.effective_from, force=options.force,
                  reason=options.reason, options=options.validation)
    day = plan.effective_from
    applied = handover.apply(session, plan, items, retired=retired, day=day)
    moved = reassign(session, plan_id=plan_id, dry_run=not options.redispatch, progress=progress)
    report = {
        "published_by": actor, "previous_plan_id": previous, "effective_from": day.isoformat(),
        "reason": plan.publish_reason, "scope": plan.scope,
        "handover": applied, "incidents": moved, "redispatched": options.redispatch,
    }
    plan.publish_report = _stored(report)
    plan.handover = None
    session.flush()
    return plans.plan_summary(session, plan) | report


def redispatch(session: Session, plan_id: int, *, dry_run: bool = False, progress=None) -> dict[str, Any]:
    """Re-assign and re-dispatch open incidents to a published plan in force (``POST …/reassign``)."""
    plan = plans.get_plan(session, plan_id)
    if plan.id != current_plan_id(session):
        raise PlanConflict(f"方案 {plan_id} 不是现行方案，不能据此重新分派事件 (only the plan in force)",
                           detail={"plan_id": plan_id, "status": plan.status})
    return reassign(session, plan_id=plan_id, dry_run=dry_run, progress=progress)

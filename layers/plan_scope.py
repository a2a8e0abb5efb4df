"""A plan's scope: the communities or streets a draft replaces, and what it would change outside them.

A draft declares its scope (12-digit community/village codes or 9-digit street codes; ``None`` is the whole
city). It is the plan in force with that scope replaced: grids outside the scope are copies of the plan it was
made from. Publishing never retires a grid outside the scope: if the planner changed, removed or added grids
outside it, publishing is refused unless forced with a written reason; if they are untouched and another plan
was published meanwhile, they are refreshed from the plan now in force (:func:`follow_plan_in_force`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from gis.domain import AreaLevel
from gis.errors import InvalidInput
from gis.plan_impact import grid_changes
from layers import models
from layers.features import current_plan_id

WHOLE_CITY = ("all", "*", "city", "全市")
FROM_FEATURES = "features"
_CODE = re.compile(r"^[0-9]{9}([0-9]{3})?$")


# ---------------------------------------------------------------------------------------------- scope codes
def parse_scope_text(value: str | Sequence[str] | None) -> list[str] | str | None:
    """``"all"`` → None (the whole city); ``"a,b"`` or a list → the codes; empty → :data:`FROM_FEATURES`."""
    if value is None:
        return FROM_FEATURES
    parts = [p.strip() for p in (value.replace("，", ",").split(",") if isinstance(value, str) else value)]
    parts = [p for p in parts if p]
    if not parts:
        return FROM_FEATURES
    if len(parts) == 1 and parts[0].lower() in WHOLE_CITY:
        return None
    return parts


def normalise_scope(session: Session, codes: Iterable[str]) -> list[str]:
    """Check scope codes against the known areas; a street's 12-digit code (…000) becomes its 9-digit prefix.

    Every unknown or malformed code is reported at once (:class:`InvalidInput`)."""
    codes = [str(c).strip() for c in codes]
    bad = [c for c in codes if not _CODE.match(c)]
    if bad:
        raise InvalidInput(f"范围代码须为 9 位街道或 12 位社区代码：{', '.join(bad[:10])} "
                           "(scope codes are 9-digit streets or 12-digit communities)", detail={"codes": bad})
    full = {c if len(c) == 12 else c + "000" for c in codes}
    known = dict(session.execute(select(models.AdminArea.code, models.AdminArea.level).where(models.AdminArea.code.in_(full)))
                 .all())
    unknown = sorted(c for c in codes if (c if len(c) == 12 else c + "000") not in known)
    if unknown:
        raise InvalidInput(f"未知的街道或社区代码：{', '.join(unknown[:10])} (unknown street or community codes)",
                           detail={"codes": unknown})
    out = set()
    for c in codes:
        c12 = c if len(c) == 12 else c + "000"
        out.add(c12[:9] if known[c12] in (AreaLevel.TOWNSHIP.value,) else c12)
    return sorted(out)


def in_scope(codes: Sequence[str], scope: Sequence[str] | None) -> np.ndarray:
    """For each grid (or community) code, whether it lies in the scope (always, for the whole city)."""
    if scope is None:
        return np.ones(len(codes), dtype=bool)
    prefixes = tuple(scope)
    return np.asarray([str(c).startswith(prefixes) for c in codes], dtype=bool)


def communities_of(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The communities that parsed grid rows belong to: a file's scope when it declares none."""
    return sorted({r["community_code"] for r in rows})


def check_rows_in_scope(rows: Sequence[dict[str, Any]], scope: Sequence[str] | None) -> None:
    """Refuse grids of a file or a draft request that lie outside its declared scope (all listed at once)."""
    inside = in_scope([r["community_code"] for r in rows], scope)
    outside = [{"feature": i, "code": r.get("code"), "community_code": r["community_code"]}
               for i, (r, ok) in enumerate(zip(rows, inside, strict=True)) if not ok]
    if outside:
        raise InvalidInput(
            f"{len(outside)} 个网格不在声明的范围 {', '.join(scope or [])} 内 "
            f"({len(outside)} grids lie outside the declared scope)", detail={"problems": outside})


def describe(scope: Sequence[str] | None) -> str:
    """A scope in words: "全市 (whole city)" or the codes."""
    return "全市 (whole city)" if scope is None else "、".join(scope)


# -------------------------------------------------------------------------------------- outside the scope
@dataclass
class OutsideScope:
    """What a draft changes outside its scope against the plan in force, and whether it simply follows it."""

    scope: list[str] | None
    removed: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    stale: int = 0  # grids outside the scope refreshed from the plan in force at publishing

    @property
    def clean(self) -> bool:
        """True when nothing outside the scope changes."""
        return not (self.removed or self.new or self.changed)

    def summary(self) -> str:
        """One line, Chinese first."""
        if self.scope is None:
            return "范围为全市：所有网格均在范围内 (the scope is the whole city)"
        if self.clean:
            extra = f"；{self.stale} 个网格随现行方案更新" if self.stale else ""
            return f"范围外：无变化{extra} (outside the scope: nothing changes)"
        parts = [f"撤销 {len(self.removed)}" if self.removed else "", f"新增 {len(self.new)}" if self.new else "",
                 f"调整 {len(self.changed)}" if self.changed else ""]
        return (f"范围外：{'，'.join(p for p in parts if p)} 个网格，须强制发布并说明理由 "
                f"(outside the scope: {len(self.removed)} removed, {len(self.new)} new, {len(self.changed)} changed; "
                "publishing needs force and a written reason)")

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the impact preview and the publish report."""
        return {"scope": self.scope, "summary": self.summary(), "clean": self.clean, "removed": self.removed,
                "new": self.new, "changed": self.changed, "follows_plan_in_force": self.stale}


def _outside_rows(session: Session, plan_id: int | None, scope: Sequence[str] | None) -> dict[str, bytes]:
    """``{code: WKB}`` of a plan's grids outside the scope."""
    if plan_id is None or scope is None:
        return {}
    rows = session.execute(select(models.Grid.code, func.ST_AsBinary(models.Grid.geom)).where(models.Grid.plan_id == plan_id)).all()
    keep = in_scope([r[0] for r in rows], scope)
    return {r[0]: bytes(r[1]) for r, inside in zip(rows, keep, strict=True) if not inside}


def _diff(before: dict[str, bytes], after: dict[str, bytes]) -> tuple[list[str], list[str], list[str]]:
    """Removed, new and changed codes (same bytes → unchanged without any geometry work)."""
    import shapely

    removed = sorted(set(before) - set(after))
    new = sorted(set(after) - set(before))
    differ = sorted(c for c in set(before) & set(after) if before[c] != after[c])
    if not differ:
        return removed, new, []
    geoms = [shapely.from_wkb(np.asarray([d[c] for c in differ], dtype=object)) for d in (before, after)]
    changes = grid_changes(differ, geoms[0], differ, geoms[1])
    return removed, new, [c["code"] for c in changes["changed"]]


def outside_scope(session: Session, plan: models.GridPlan) -> OutsideScope:
    """Compare the draft's grids outside its scope with the plan it was made from and with the plan in force.

    Changes the planner made outside the scope (against the base plan) are reported as removed/new/changed against
    the plan in force; untouched grids that differ only because another plan was published since are ``stale``."""
    scope = plan.scope
    current = current_plan_id(session)
    result = OutsideScope(scope=scope)
    if scope is None or current is None or current == plan.id:
        return result
    draft = _outside_rows(session, plan.id, scope)
    now = _outside_rows(session, current, scope)
    base_id = plan.base_plan_id or current
    base = now if base_id == current else _outside_rows(session, base_id, scope)
    own = _diff(base, draft)
    if not any(own):  # untouched: publishing takes the plan in force's grids outside the scope
        result.stale = sum(map(len, _diff(now, draft)))
        return result
    result.removed, result.new, result.changed = _diff(now, draft)
    return result


def follow_plan_in_force(session: Session, plan: models.GridPlan, outside: OutsideScope) -> int:
    """Replace a draft's untouched grids outside its scope with those of the plan in force; returns how many
    grids were rewritten (0 when nothing was stale)."""
    current = current_plan_id(session)
    if not outside.stale or not outside.clean or current is None or plan.scope is None:
        return 0
    prefixes = [p + "%" for p in plan.scope]
    params = {"plan": plan.id, "current": current, "prefixes": prefixes}
    session.execute(text("DELETE FROM grids WHERE plan_id = :plan AND NOT (code LIKE ANY(:prefixes))"), params)
    copied = session.execute(text("""
        INSERT INTO grids (plan_id, code, name, kind, exclusive_type, community_code, community_edition,
                           households, residents, version, geom, source, properties)
        SELECT :plan, code, name, kind, exclusive_type, community_code, community_edition, households, residents,
               1, geom, source, properties
        FROM grids WHERE plan_id = :current AND NOT (code LIKE ANY(:prefixes))"""), params).rowcount
    plan.base_plan_id = current
    session.flush()
    return int(copied)

"""Who is asking, as the application layer sees it, and the SQL condition "inside this caller's area".

The API turns its signed-in caller into a :class:`Viewer`; every use that lists or reads scoped rows (orders,
wishes, incidents…) filters with :func:`area_condition` in the query itself, so nothing outside the caller's area
is ever loaded, counted or returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, false, or_, true

from gis.domain import UserRole, area_prefix, scope_covers
from gis.errors import Forbidden


@dataclass(frozen=True)
class Viewer:
    """A caller: roles, area scope (``""`` = everywhere, ``None`` = nowhere) and the person they are, if any.

    ``person_id`` links an account to the :class:`layers.models.Person` it acts as (a party member who takes
    orders); ``None`` for accounts that are no one in the roster.
    """

    roles: frozenset[str] = field(default_factory=frozenset)
    scope: str | None = None
    person_id: int | None = None

    @property
    def everywhere(self) -> bool:
        """True for admins and accounts scoped to everything."""
        return UserRole.ADMIN.value in self.roles or self.scope == ""


def area_condition(viewer: Viewer, *codes: ColumnElement) -> ColumnElement[bool]:
    """SQL: the row lies in the viewer's area, judged by the first of ``codes`` (grid, then community…) that
    is not NULL. A district scope is a 6-digit prefix, a street 9, a community 12, a grid 15 (本层级/下辖)."""
    if viewer.everywhere:
        return true()
    if not viewer.scope:
        return false()
    prefix = area_prefix(viewer.scope)
    return or_(*(
        and_(*(earlier.is_(None) for earlier in codes[:i]), code.startswith(prefix, autoescape=True))
        for i, code in enumerate(codes)
    ))


def unit_in_area(viewer: Viewer, unit: str | None, *, refusal: str | None = None) -> str | None:
    """The area a list or report covers, as a code prefix: ``unit`` when it lies in the viewer's area, the
    viewer's own area when none is asked for, and ``None`` (everywhere) only for viewers who see everywhere.

    Raises
    ------
    Forbidden
        ``unit`` lies outside the viewer's area (``refusal`` says so, if given), or the viewer's area is nowhere.
    """
    if viewer.everywhere:
        return unit
    if viewer.scope is None:
        raise Forbidden("此账号没有辖区，请管理员设置 (this account has no area; ask an administrator)")
    if unit is None:
        return area_prefix(viewer.scope)
    if not scope_covers(viewer.scope, unit):
        raise Forbidden(refusal or f"无权查看 {unit} (outside your area {viewer.scope})")
    return unit

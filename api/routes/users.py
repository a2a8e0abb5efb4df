"""账号管理 (accounts, admins only): list, disable/enable, change roles, scope or password, delete.

Every change bumps the account's token version, so the tokens it holds stop working on their next request; each
change is written to the audit log. The same operations exist on the command line (``gridmap user …``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from api.audit import AuditDep
from api.auth import Principal, require_roles
from api.deps import SessionDep
from gis.domain import StaffRole, UserRole
from gis.gridcodes import AREA_SCOPE
from layers import accounts
from layers.accounts_models import User

router = APIRouter(prefix="/api/v1/users", tags=["users 账号管理"])

Admin = Annotated[Principal, Depends(require_roles(UserRole.ADMIN))]
Username = Annotated[str, Path(pattern=accounts.USERNAME_RE.pattern, description="用户名 (username)")]
ROLE_NAMES = [r for r in UserRole.values() if r != UserRole.PUBLIC.value]


class UserOut(BaseModel):
    """An account as admins see it (never its password hash)."""

    username: str
    display_name: str | None
    roles: list[str]
    staff_roles: list[str]
    scope: str | None = Field(description="区划或网格编码，空为全部 (area or grid code; empty = everywhere)")
    person_id: int | None
    active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class RolesIn(BaseModel):
    """New roles (and optionally grid staff roles) for an account."""

    roles: list[str] = Field(min_length=1, max_length=len(ROLE_NAMES), description=", ".join(ROLE_NAMES))
    staff_roles: list[str] | None = Field(None, max_length=len(StaffRole.values()),
                                          description="网格岗位；省略则不变 (grid staff roles; omitted = unchanged)")


class ScopeIn(BaseModel):
    """The account's new area: a 6/9/12-digit area or 15-digit grid code, ``""`` for everywhere."""

    scope: str = Field(pattern=AREA_SCOPE.pattern,
                       description="网格员和党员账号不能为空 (never empty for grid staff and party members)")


class PasswordIn(BaseModel):
    """A new password (at least 10 characters)."""

    password: str = Field(min_length=accounts.MIN_PASSWORD, max_length=200)


def _out(user: User) -> UserOut:
    return UserOut(username=user.username, display_name=user.display_name, roles=list(user.roles or ()),
                   staff_roles=list(user.staff_roles or ()), scope=user.scope, person_id=user.person_id,
                   active=user.active, created_at=user.created_at, last_login_at=user.last_login_at)


@router.get("", response_model=list[UserOut], summary="账号列表 (every account)")
def list_users(session: SessionDep, admin: Admin) -> list[UserOut]:
    """Every account with its roles, scope and whether it is active."""
    return [_out(u) for u in accounts.list_users(session)]


def _changed(session, audit, user: User, what: str, detail: dict) -> UserOut:
    session.commit()
    audit("change", "user", user.username, {"what": what, **detail})
    return _out(user)


@router.post("/{username}/disable", response_model=UserOut, summary="停用账号 (disable an account)")
def disable(session: SessionDep, admin: Admin, audit: AuditDep, username: Username) -> UserOut:
    """The account can no longer sign in; its tokens and API keys stop working at once."""
    return _changed(session, audit, accounts.set_active(session, username, False), "disable", {})


@router.post("/{username}/enable", response_model=UserOut, summary="启用账号 (enable an account)")
def enable(session: SessionDep, admin: Admin, audit: AuditDep, username: Username) -> UserOut:
    """The account may sign in again (tokens from before it was disabled stay invalid)."""
    return _changed(session, audit, accounts.set_active(session, username, True), "enable", {})


@router.put("/{username}/roles", response_model=UserOut, summary="修改角色 (change an account's roles)")
def set_roles(session: SessionDep, admin: Admin, audit: AuditDep, username: Username, body: RolesIn) -> UserOut:
    """Replace the roles; the account's existing tokens stop working at once."""
    user = accounts.set_roles(session, username, body.roles, body.staff_roles)
    return _changed(session, audit, user, "roles", {"roles": list(user.roles), "staff_roles": list(user.staff_roles)})


@router.put("/{username}/scope", response_model=UserOut, summary="修改辖区 (change an account's scope)")
def set_scope(session: SessionDep, admin: Admin, audit: AuditDep, username: Username, body: ScopeIn) -> UserOut:
    """Move the account to another area; its existing tokens stop working at once."""
    return _changed(session, audit, accounts.set_scope(session, username, body.scope), "scope",
                    {"scope": body.scope})


@router.put("/{username}/password", response_model=UserOut, summary="重设密码 (set a new password)")
def set_password(session: SessionDep, admin: Admin, audit: AuditDep, username: Username,
                 body: PasswordIn) -> UserOut:
    """Give the account a new password; its existing tokens stop working at once."""
    return _changed(session, audit, accounts.set_password(session, username, body.password), "password", {})


@router.delete("/{username}", status_code=204, summary="删除账号 (delete an account)")
def delete(session: SessionDep, admin: Admin, audit: AuditDep, username: Username) -> None:
    """Delete the account and its API keys; its tokens stop working at once. The audit log keeps its name."""
    accounts.delete_user(session, username)
    session.commit()
    audit("delete", "user", username, {})

"""Accounts, API keys and the audit log: create users with argon2 password hashes, check a password, issue and
resolve API keys (only their SHA-256 is stored), write audit entries.

Nothing here knows about HTTP; ``api/auth.py`` turns a :class:`User` into the caller's ``Principal``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import any_, func, literal, select, update
from sqlalchemy.orm import Session

from gis.domain import SCOPED_ROLES, StaffRole, UserRole
from gis.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from gis.gridcodes import AREA_SCOPE
from layers.accounts_models import ApiKey, AuditEntry, User
from layers.models import Person

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so that a wrong name costs as long as a wrong password
    (made on first use: an argon2 hash takes ~0.1 s, too long for every process start)."""
    return _hasher.hash("gridmap-no-such-user")

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
MIN_PASSWORD = 10
KEY_PREFIX = "gm_"


@dataclass(frozen=True)
class Account:
    """What the API needs to know about a signed-in account."""

    username: str
    roles: frozenset[str]
    scope: str | None
    staff_roles: frozenset[str]
    person_id: int | None = None
    token_version: int = 1


def _account(user: User) -> Account:
    return Account(user.username, frozenset(user.roles or ()), user.scope, frozenset(user.staff_roles or ()),
                   user.person_id, user.token_version)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def _check_roles(roles: Iterable[str], staff_roles: Iterable[str]) -> tuple[list[str], list[str]]:
    roles = sorted(set(roles))
    staff_roles = sorted(set(staff_roles))
    if not roles:
        raise InvalidInput("至少需要一个角色 (give at least one role)")
    bad = [r for r in roles if r not in UserRole.values() or r == UserRole.PUBLIC.value]
    if bad:
        raise InvalidInput(f"未知角色 {bad}；可用：{', '.join(UserRole.values()[:-1])} (unknown roles {bad})")
    bad = [r for r in staff_roles if r not in StaffRole.values()]
    if bad:
        raise InvalidInput(
            f"未知网格岗位 {bad}；可用：{', '.join(StaffRole.values())} (unknown staff roles {bad})"
        )
    return roles, staff_roles


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(
            f"密码至少 {MIN_PASSWORD} 位 (password must have at least {MIN_PASSWORD} characters)"
        )


def _check_scope(roles: Iterable[str], scope: str | None) -> None:
    if scope is not None and not AREA_SCOPE.match(scope):
        raise InvalidInput(
            "范围须为 6/9/12 位区划编码或 15 位网格编码 (scope: a 6/9/12-digit area or 15-digit grid code)"
        )
    scoped = sorted(SCOPED_ROLES.intersection(roles))
    if scoped and not scope:
        names = "、".join(UserRole(r).zh for r in scoped)
        raise InvalidInput(
            f"{names}账号必须指定范围（区划或网格编码）(roles {', '.join(scoped)} need a scope: an area or grid "
            "code)", detail={"roles": scoped},
        )


def create_user(
    session: Session,
    username: str,
    password: str,
    *,
    roles: Iterable[str],
    scope: str | None = "",
    staff_roles: Iterable[str] = (),
    display_name: str | None = None,
    person_id: int | None = None,
) -> User:
    """Add an account; ``scope`` is an area or grid code (``""`` = everywhere, for admins and the centre);
    ``person_id`` links it to the person in the roster it acts as (a party member).

    Raises
    ------
    InvalidInput
        Bad username, short password, unknown role, malformed scope.
    Conflict
        The username is taken.
    """
    if not USERNAME_RE.match(username or ""):
        raise InvalidInput("用户名须为 3–64 位字母、数字或 _.@- (username: 3–64 letters, digits or _.@-)")
    _check_password(password)
    roles, staff_roles = _check_roles(roles, staff_roles)
    _check_scope(roles, scope)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"用户名 {username} 已存在 (username {username} is taken)")
    user = User(
        username=username,
        password_hash=hash_password(password),
        roles=roles,
        staff_roles=staff_roles,
        scope=scope,
        display_name=display_name,
        person_id=_person(session, person_id),
        active=True,
    )
    session.add(user)
    session.flush()
    return user


def _person(session: Session, person_id: int | None) -> int | None:
    if person_id is not None and session.get(Person, person_id) is None:
        raise InvalidInput(f"没有人员 {person_id} (no person {person_id} in the roster)")
    return person_id


def authenticate(session: Session, username: str, password: str) -> Account:
    """The account if ``username``/``password`` match an active user; else :class:`NotAuthenticated`."""
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
        ok = user is not None and user.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        raise NotAuthenticated("用户名或密码错误 (wrong username or password)")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = func.now()
    return _account(user)


STALE = ("登录已失效（账号已停用、删除或权限已变更），请重新登录 (this sign-in is no longer valid: the account was "
         "disabled, deleted or changed; sign in again)")


def account_for_token(session: Session, username: str, version: int) -> Account:
    """The account a token was signed for, if it still exists, is active and has not changed since (its
    ``token_version`` equals ``version``); else :class:`NotAuthenticated`. One indexed read per request."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or user.token_version != version:
        raise NotAuthenticated(STALE)
    return _account(user)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username).with_for_update())
    if user is None:
        raise NotFound(f"没有账号 {username} (no account {username})")
    return user


def _end_tokens(user: User) -> None:
    user.token_version = User.token_version + 1


def _keep_an_admin(session: Session, user: User) -> None:
    """Refuse to take away the last active admin (nobody could manage accounts from the API after)."""
    if UserRole.ADMIN.value not in (user.roles or ()) or not user.active:
        return
    others = session.scalar(select(func.count()).select_from(User).where(
        literal(UserRole.ADMIN.value) == any_(User.roles), User.active.is_(True), User.id != user.id))
    if not others:
        raise Conflict("这是最后一个启用的管理员账号，不能停用、删除或撤销其管理员角色 (this is the last active "
                       "admin: it cannot be disabled, deleted or lose the admin role)")


def set_active(session: Session, username: str, active: bool) -> User:
    """Enable or disable an account; disabling ends its tokens and API keys' use at once."""
    user = _user(session, username)
    if not active:
        _keep_an_admin(session, user)
    user.active = active
    _end_tokens(user)
    session.flush()
    return user


def set_roles(session: Session, username: str, roles: Iterable[str], staff_roles: Iterable[str] | None = None,
              ) -> User:
    """Replace the account's roles (and grid staff roles when given); ends its existing tokens."""
    user = _user(session, username)
    roles, staff = _check_roles(roles, user.staff_roles if staff_roles is None else staff_roles)
    _check_scope(roles, user.scope)
    if UserRole.ADMIN.value not in roles:
        _keep_an_admin(session, user)
    user.roles, user.staff_roles = roles, staff
    _end_tokens(user)
    session.flush()
    return user


def set_scope(session: Session, username: str, scope: str) -> User:
    """Move the account to another area (``""`` = everywhere, refused for scoped roles); ends its tokens."""
    user = _user(session, username)
    _check_scope(user.roles or (), scope)
    user.scope = scope
    _end_tokens(user)
    session.flush()
    return user


def set_password(session: Session, username: str, password: str) -> User:
    """Give the account a new password (argon2id); ends its existing tokens."""
    _check_password(password)
    user = _user(session, username)
    user.password_hash = hash_password(password)
    _end_tokens(user)
    session.flush()
    return user


def delete_user(session: Session, username: str) -> None:
    """Delete the account and its API keys (its tokens die with it). Audit entries keep the username."""
    user = _user(session, username)
    _keep_an_admin(session, user)
    session.delete(user)
    session.flush()


def list_users(session: Session) -> list[User]:
    """Every account, by username."""
    return list(session.scalars(select(User).order_by(User.username)))


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, username: str, name: str) -> str:
    """Issue an API key for ``username``'s account; the plain key is returned once and never stored."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise InvalidInput(f"没有用户 {username} (no user {username})")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    session.add(ApiKey(prefix=prefix, key_hash=_key_hash(key), name=name, user_id=user.id, active=True))
    session.flush()
    return key


def resolve_api_key(session: Session, key: str) -> Account:
    """The account an active API key belongs to; else :class:`NotAuthenticated`."""
    row = session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.key_hash == _key_hash(key))
    ).first()
    if row is None or not row.ApiKey.active or not row.User.active:
        raise NotAuthenticated("API 密钥无效或已停用 (invalid or revoked API key)")
    session.execute(update(ApiKey).where(ApiKey.id == row.ApiKey.id).values(last_used_at=func.now()))
    return _account(row.User)


def revoke_api_key(session: Session, prefix: str) -> bool:
    """Deactivate the key with ``prefix``; True if there was one."""
    res = session.execute(update(ApiKey).where(ApiKey.prefix == prefix).values(active=False))
    return bool(res.rowcount)


def write_audit(
    session: Session,
    *,
    subject: str,
    roles: Iterable[str],
    action: str,
    object_type: str,
    object_id: str | int | None,
    detail: dict | None = None,
    request_path: str | None = None,
    at: dt.datetime | None = None,
) -> AuditEntry:
    """Add one audit entry (the caller commits)."""
    entry = AuditEntry(
        subject=subject,
        roles=",".join(sorted(roles)),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        detail=detail or {},
        request_path=request_path,
    )
    if at is not None:
        entry.at = at
    session.add(entry)
    session.flush()
    return entry

"""Who is calling: signed bearer tokens, the ``CurrentUser``/``OptionalUser`` dependencies, role checks.

A token is ``base64url(payload).base64url(hmac_sha256(secret, payload))`` with payload
``{"sub", "roles", "scope", "staff_roles", "exp"}``. Tokens are short-lived (``GRIDMAP_TOKEN_TTL_S``).
Accounts, passwords, API keys and the sign-in endpoint are built on top of this module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from gis.domain import UserRole, scope_covers
from gis.errors import Forbidden, NotAuthenticated
from usecases.access import Viewer

DEFAULT_TTL_S = 30 * 60

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="对接系统的 API 密钥 (API key of a system, e.g. an Open311 client)")


@dataclass(frozen=True)
class Principal:
    """The caller: an account with roles and an area scope (``""`` = everything), or the anonymous public."""

    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)
    scope: str | None = None
    staff_roles: frozenset[str] = field(default_factory=frozenset)
    person_id: int | None = None

    @property
    def is_public(self) -> bool:
        """True for an anonymous caller."""
        return not self.roles or self.roles == {UserRole.PUBLIC.value}

    def has_any(self, *roles: str | UserRole) -> bool:
        """True if the caller holds one of ``roles`` (admins hold every role)."""
        wanted = {str(r) for r in roles}
        return UserRole.ADMIN.value in self.roles or bool(self.roles & wanted)

    def covers(self, code: str | None) -> bool:
        """True if the caller's scope includes the area or grid ``code``."""
        return UserRole.ADMIN.value in self.roles or scope_covers(self.scope, code)

    @property
    def viewer(self) -> Viewer:
        """The caller as the application layer sees it (roles, scope, the person it acts as)."""
        return Viewer(roles=self.roles, scope=self.scope, person_id=self.person_id)


ANONYMOUS = Principal(subject="anonymous", roles=frozenset({UserRole.PUBLIC.value}))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    principal: Principal, secret: str, *, ttl_s: int = DEFAULT_TTL_S, now: float | None = None
) -> str:
    """Sign a token for ``principal`` valid for ``ttl_s`` seconds."""
    payload = {
        "sub": principal.subject,
        "roles": sorted(principal.roles),
        "scope": principal.scope,
        "staff_roles": sorted(principal.staff_roles),
        "person_id": principal.person_id,
        "exp": int((now or time.time()) + ttl_s),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    sig = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}"


def read_token(token: str, secret: str, *, now: float | None = None) -> Principal:
    """Check a token's signature and expiry and return its principal.

    Raises
    ------
    NotAuthenticated
        If the token is malformed, forged or expired.
    """
    try:
        body, sig = token.split(".", 1)
        expected = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(sig, expected):
            raise ValueError("bad signature")
        payload = json.loads(_unb64(body))
    except (ValueError, json.JSONDecodeError) as exc:
        raise NotAuthenticated("登录凭证无效，请重新登录 (invalid token; sign in again)") from exc
    if payload.get("exp", 0) < (now or time.time()):
        raise NotAuthenticated("登录已过期，请重新登录 (token expired; sign in again)")
    return Principal(
        subject=str(payload["sub"]),
        roles=frozenset(payload.get("roles", [])),
        scope=payload.get("scope"),
        staff_roles=frozenset(payload.get("staff_roles", [])),
        person_id=payload.get("person_id"),
    )


def _principal_for_api_key(request: Request, key: str) -> Principal:
    from layers.accounts import resolve_api_key  # the DB layer, only when a key is sent

    with request.app.state.sessionmaker() as session:
        account = resolve_api_key(session, key)
        session.commit()
    return Principal(subject=account.username, roles=account.roles, scope=account.scope,
                     staff_roles=account.staff_roles, person_id=account.person_id)


def optional_user(
    request: Request,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)] = None,
) -> Principal:
    """The caller if a valid token or API key was sent, else the anonymous public; a bad one is refused."""
    if token:
        return read_token(token, request.app.state.settings.api.secret_key)
    if api_key:
        return _principal_for_api_key(request, api_key)
    return ANONYMOUS


def current_user(principal: Annotated[Principal, Depends(optional_user)]) -> Principal:
    """The signed-in caller; callers without credentials get 401 (a signed-in public account passes here and
    gets 403 from :func:`require_roles`)."""
    if principal == ANONYMOUS or not principal.roles:
        raise NotAuthenticated("需要登录 (sign-in required)")
    return principal


def require_roles(*roles: str | UserRole):
    """A dependency that lets through only callers holding one of ``roles`` (401 if anonymous, else 403)."""

    def check(principal: Annotated[Principal, Depends(current_user)]) -> Principal:
        if not principal.has_any(*roles):
            names = "、".join(UserRole(str(r)).zh for r in roles)
            raise Forbidden(f"此操作需要以下角色之一：{names} (this needs one of the roles: "
                            f"{', '.join(str(r) for r in roles)})")
        return principal

    return check


OptionalUser = Annotated[Principal, Depends(optional_user)]
CurrentUser = Annotated[Principal, Depends(current_user)]

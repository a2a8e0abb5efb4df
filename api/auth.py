"""Who is calling: signed bearer tokens (JWT, HS256, PyJWT), the ``CurrentUser``/``OptionalUser`` dependencies,
role checks.

A token carries only ``{"sub", "ver", "iat", "exp"}``: the account's username and its token version. Every request
reads the account (:func:`layers.accounts.account_for_token`): a token of an account that was deleted, disabled, or
whose roles, scope or password changed since (its version was bumped) is refused at once, and the roles and scope
the request acts with are the account's current ones. The signing secret must pass
:func:`api.settings.secret_problem` (≥ 32 bytes, not a placeholder) in every environment: with a placeholder no
token can be signed or verified. Tokens are short-lived (``GRIDMAP_TOKEN_TTL_S``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.settings import DEFAULT_TOKEN_TTL_S, secret_problem
from gis.domain import UserRole, scope_covers
from gis.errors import Forbidden, NotAuthenticated, ServiceUnavailable
from usecases.access import Viewer

ALGORITHM = "HS256"
INVALID = "登录凭证无效，请重新登录 (invalid token; sign in again)"

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
    token_version: int = 1

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


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says: whose it is and which version of the account it was signed for."""

    subject: str
    version: int


def issue_token(
    principal: Principal, secret: str, *, ttl_s: int = DEFAULT_TOKEN_TTL_S, now: float | None = None
) -> str:
    """Sign a token for ``principal``'s account (its username and token version), valid for ``ttl_s`` seconds.

    Raises
    ------
    ServiceUnavailable
        The secret is unset, a placeholder or too short: this service cannot sign tokens.
    """
    problem = secret_problem(secret)
    if problem:
        raise ServiceUnavailable(f"无法签发登录令牌：{problem}；请运行 scripts/bootstrap.sh setup 或设置 "
                                 "GRIDMAP_SECRET_KEY (cannot sign tokens; run the set-up or set the secret)")
    issued = int(now if now is not None else time.time())
    claims = {"sub": principal.subject, "ver": principal.token_version, "iat": issued, "exp": issued + ttl_s}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(token: str, secret: str, *, now: float | None = None) -> TokenClaims:
    """Check a token's signature and expiry (nothing else) and return its claims.

    Raises
    ------
    NotAuthenticated
        If the token is malformed, forged, expired, or the secret cannot verify anything (a placeholder).
    """
    if secret_problem(secret):
        raise NotAuthenticated(INVALID)
    options = {"require": ["sub", "ver", "exp"], "verify_exp": now is None}
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options=options)
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("登录已过期，请重新登录 (token expired; sign in again)") from exc
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise NotAuthenticated(INVALID) from exc
    if now is not None and claims["exp"] < now:
        raise NotAuthenticated("登录已过期，请重新登录 (token expired; sign in again)")
    if not isinstance(claims["sub"], str) or not isinstance(claims["ver"], int):
        raise NotAuthenticated(INVALID)
    return TokenClaims(subject=claims["sub"], version=claims["ver"])


def _principal(account) -> Principal:
    return Principal(subject=account.username, roles=account.roles, scope=account.scope,
                     staff_roles=account.staff_roles, person_id=account.person_id,
                     token_version=account.token_version)


def principal_for_token(request: Request, token: str, session: Session | None = None) -> Principal:
    """The account behind a bearer token, as it is now (401 if the token or the account is no longer good).
    Reads it in ``session`` when given (the request's own: no second connection), else in a new one."""
    from layers.accounts import account_for_token  # the DB layer, only when a token is sent

    claims = read_token(token, request.app.state.settings.api.secret_key)
    if session is not None:
        return _principal(account_for_token(session, claims.subject, claims.version))
    with request.app.state.sessionmaker() as own:
        return _principal(account_for_token(own, claims.subject, claims.version))


def _principal_for_api_key(request: Request, key: str) -> Principal:
    from layers.accounts import resolve_api_key  # the DB layer, only when a key is sent

    with request.app.state.sessionmaker() as session:
        account = resolve_api_key(session, key)
        session.commit()
    return _principal(account)


def verified_caller(request: Request) -> Principal | None:
    """The account a request's bearer token or ``X-API-Key`` proves, or ``None`` when it sends neither or one
    that does not verify (for the rate limit's key: an unchecked header never names a client)."""
    header = request.headers.get("authorization", "")
    try:
        if header[:7].lower() == "bearer " and header[7:].strip():
            return principal_for_token(request, header[7:].strip())
        key = request.headers.get("x-api-key")
        return _principal_for_api_key(request, key) if key else None
    except NotAuthenticated:
        return None


def optional_user(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)] = None,
) -> Principal:
    """The caller if a valid token or API key was sent, else the anonymous public; a bad one is refused.
    The account is read in the request's own session (FastAPI gives the route the same one)."""
    return caller(request, session, token, api_key)


def caller(request: Request, session: Session, token: str | None, api_key: str | None) -> Principal:
    """:func:`optional_user` for a route that opens its own session (a hot route that runs in one thread-pool
    hop): the caller of ``token`` or ``api_key``, else the anonymous public."""
    if token:
        return principal_for_token(request, token, session)
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

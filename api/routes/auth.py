"""Sign-in: the OAuth2 password flow hands out short-lived signed tokens; ``/auth/me`` says who you are."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api.auth import CurrentUser, Principal, issue_token
from api.deps import SessionDep, SettingsDep
from layers import accounts

router = APIRouter(tags=["auth 登录"])


class TokenOut(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str = Field(description="放在 Authorization: Bearer 头中 (send as Authorization: Bearer …)")
    token_type: str = "bearer"
    expires_in: int = Field(description="有效秒数 (seconds until it expires)")


class MeOut(BaseModel):
    """The signed-in account as the service sees it."""

    username: str
    roles: list[str]
    scope: str | None
    staff_roles: list[str]


@router.post(
    "/api/v1/auth/token",
    response_model=TokenOut,
    summary="登录取得令牌 (sign in: OAuth2 password flow)",
    description="用用户名和密码换取短期访问令牌（表单编码）。"
    " Exchange username and password (form-encoded) for a short-lived bearer token.",
    responses={401: {"description": "用户名或密码错误 (wrong username or password)"}},
)
def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep
) -> TokenOut:
    """Check the password (argon2) and sign a token for the account's roles and scope."""
    account = accounts.authenticate(session, form.username, form.password)
    session.commit()
    principal = Principal(subject=account.username, token_version=account.token_version)
    ttl = settings.api.token_ttl_s
    return TokenOut(access_token=issue_token(principal, settings.api.secret_key, ttl_s=ttl), expires_in=ttl)


@router.get(
    "/api/v1/auth/me",
    response_model=MeOut,
    summary="当前账号 (who am I)",
    description="返回令牌或 API 密钥对应的账号、角色与范围。 The account, roles and scope of the caller.",
    responses={401: {"description": "未登录 (not signed in)"}},
)
def me(principal: CurrentUser) -> MeOut:
    """The caller's account."""
    return MeOut(
        username=principal.subject,
        roles=sorted(principal.roles),
        scope=principal.scope,
        staff_roles=sorted(principal.staff_roles),
    )

"""Accounts for API tests: :func:`bearer` makes (or updates) a real account row and returns a header with a token
signed for it, so every test request goes through the same account checks as a real sign-in (no argon2 hash is
computed: these accounts cannot sign in with a password)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from api.auth import Principal, issue_token
from layers.accounts_models import User

UNUSABLE_PASSWORD = "!test-account-no-password"


def account(session, username: str, roles: Iterable[str], scope: str | None = "", *,
            staff_roles: Iterable[str] = (), person_id: int | None = None) -> User:
    """The account ``username`` with exactly these roles, scope and person (created or updated; flushed)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, password_hash=UNUSABLE_PASSWORD, active=True)
        session.add(user)
    user.roles, user.scope = sorted(roles), scope
    user.staff_roles, user.person_id = sorted(staff_roles), person_id
    session.flush()
    return user


def bearer(factory, secret: str, username: str, roles: Iterable[str], scope: str | None = "", *,
           staff_roles: Iterable[str] = (), person_id: int | None = None) -> dict[str, str]:
    """``{"Authorization": "Bearer …"}`` for the account ``username`` (made or updated in the database that
    ``factory`` opens sessions on)."""
    with factory() as session:
        user = account(session, username, roles, scope, staff_roles=staff_roles, person_id=person_id)
        principal = Principal(subject=user.username, roles=frozenset(user.roles), scope=user.scope,
                              staff_roles=frozenset(user.staff_roles), person_id=user.person_id)
        session.commit()
    return {"Authorization": f"Bearer {issue_token(principal, secret)}"}

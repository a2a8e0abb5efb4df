"""Accounts for API tests: :func:`bearer` makes a real account row and returns a header with a token signed for
it, so every test request goes through the same account checks as a real sign-in (no argon2 hash is computed:
these accounts cannot sign in with a password).

Tokens name an account and its version; the roles and scope a request acts with are read from the database. So
one username is one account: :func:`bearer` refuses to silently give an existing name other roles (that would
change what earlier tokens of that name may do) — name the account after what it is, or leave the name out.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from api.auth import Principal, issue_token
from layers.accounts_models import User

TEST_SECRET = "gridmap-test-secret-0123456789-abcdefghij"  # ≥ 32 bytes, like every real secret
UNUSABLE_PASSWORD = "!test-account-no-password"


def default_name(roles: Iterable[str], scope: str | None) -> str:
    """A username that says what the account is: ``t-dispatcher-620302`` (``all`` = everywhere)."""
    return f"t-{'-'.join(sorted(roles))}-{'none' if scope is None else scope or 'all'}"


def account(session, username: str, roles: Iterable[str], scope: str | None = "", *,
            staff_roles: Iterable[str] = (), person_id: int | None = None) -> User:
    """The account ``username`` with these roles, scope and person (created if missing; flushed)."""
    wanted = (sorted(roles), scope, sorted(staff_roles), person_id)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(username=username, password_hash=UNUSABLE_PASSWORD, active=True, token_version=1,
                    roles=wanted[0], scope=scope, staff_roles=wanted[2], person_id=person_id)
        session.add(user)
        session.flush()
    have = (sorted(user.roles), user.scope, sorted(user.staff_roles), user.person_id)
    assert have == wanted, f"test account {username!r} exists as {have}, not {wanted}: use another name"
    return user


def token(factory, username: str | None, roles: Iterable[str], scope: str | None = "", *,
          staff_roles: Iterable[str] = (), person_id: int | None = None, secret: str = TEST_SECRET,
          ttl_s: int = 1800) -> str:
    """A token for the account ``username`` (made in the database ``factory`` opens sessions on)."""
    roles = list(roles)
    with factory() as session:
        user = account(session, username or default_name(roles, scope), roles, scope, staff_roles=staff_roles,
                       person_id=person_id)
        principal = Principal(subject=user.username, token_version=user.token_version)
        session.commit()
    return issue_token(principal, secret, ttl_s=ttl_s)


def bearer(factory, username: str | None, roles: Iterable[str], scope: str | None = "", **kw) -> dict[str, str]:
    """``{"Authorization": "Bearer …"}`` for the account of :func:`token`."""
    return {"Authorization": f"Bearer {token(factory, username, roles, scope, **kw)}"}


def declared_bearer(username: str | None, roles: Iterable[str], scope: str | None = "", **kw) -> dict[str, str]:
    """``{"Authorization": "Bearer …"}`` for the account of :func:`declare`."""
    return {"Authorization": f"Bearer {declare(username, roles, scope, **kw)}"}


# Accounts declared when a test module is imported (module-level headers, parametrize values) or inside a test:
# :func:`accounts_in` makes every declared account in a database and, while it is open, each one declared after.
_DECLARED: dict[str, tuple] = {}
_LIVE: list = []


def declare(username: str | None, roles: Iterable[str], scope: str | None = "", *,
            staff_roles: Iterable[str] = (), person_id: int | None = None, secret: str = TEST_SECRET) -> str:
    """A token for an account that :func:`create_declared` will make (version 1), usable before it exists."""
    roles = sorted(roles)
    username = username or default_name(roles, scope) + (f"-p{person_id}" if person_id else "")
    spec = (roles, scope, sorted(staff_roles), person_id)
    if _DECLARED.setdefault(username, spec) != spec:  # another module's account of that name: a name of its own
        username = f"{username}~{'-'.join(roles)}-{scope}-{person_id or ''}"
        _DECLARED.setdefault(username, spec)
    for factory in list(_LIVE):
        try:
            create_declared(factory)
        except OperationalError:  # that module's database is gone: forget it
            _LIVE.remove(factory)
    return issue_token(Principal(subject=username, token_version=1), secret, ttl_s=86_400)


def keep_accounts_in(factory) -> None:
    """From now on every declared account exists in the database ``factory`` opens sessions on (until that
    database is dropped): for fixtures that load a module's data once (``tests.incident_fixtures.load``)."""
    create_declared(factory)
    _LIVE.append(factory)


@contextmanager
def accounts_in(factory):
    """Within this block, every declared account exists in the database ``factory`` opens sessions on."""
    create_declared(factory)
    _LIVE.append(factory)
    try:
        yield
    finally:
        _LIVE.remove(factory)


def create_declared(factory) -> None:
    """Make every declared account in the database ``factory`` opens sessions on (existing ones are kept)."""
    with factory() as session:
        for username, (roles, scope, staff_roles, person_id) in _DECLARED.items():
            try:
                with session.begin_nested():
                    account(session, username, roles, scope, staff_roles=staff_roles, person_id=person_id)
            except IntegrityError:  # declared by another module for a person this database does not have
                continue
        session.commit()

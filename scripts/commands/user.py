"""``gridmap user create-admin|add`` and ``gridmap apikey create|revoke``: accounts from the command line."""

from __future__ import annotations

import getpass
import os
import sys

from gis.domain import StaffRole, UserRole
from gis.errors import GridmapError


def register(sub) -> None:
    """Add ``user create-admin|add`` and ``apikey create|revoke``."""
    p = sub.add_parser("user", help="账号管理 (accounts)")
    usub = p.add_subparsers(dest="user_command", metavar="ACTION")

    admin = usub.add_parser("create-admin", help="创建首个管理员 (create the first admin)")
    admin.add_argument("username", help="用户名 (username)")
    admin.add_argument(
        "--password-env",
        default="GRIDMAP_ADMIN_PASSWORD",
        help="从此环境变量读取密码，未设置则提示输入 (read the password from this variable, else prompt)",
    )
    admin.set_defaults(func=_create_admin)

    add = usub.add_parser("add", help="新增账号 (add an account)")
    add.add_argument("username", help="用户名 (username)")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        choices=UserRole.values()[:-1],
        help="角色，可重复 (role, repeatable)",
    )
    add.add_argument(
        "--scope", default="", help="区划或网格编码，空为全部 (area or grid code; empty = everywhere)"
    )
    add.add_argument(
        "--staff-role",
        action="append",
        default=[],
        choices=StaffRole.values(),
        help="网格岗位，可重复 (grid staff role, repeatable)",
    )
    add.add_argument("--name", help="显示名 (display name)")
    add.add_argument(
        "--person",
        type=int,
        metavar="PERSON_ID",
        help="账号对应的人员编号（党员接单用）(the roster person this account acts as, e.g. a party member)",
    )
    add.add_argument(
        "--password-env",
        default="GRIDMAP_USER_PASSWORD",
        help="从此环境变量读取密码，未设置则提示输入 (read the password from this variable, else prompt)",
    )
    add.set_defaults(func=_add)
    p.set_defaults(func=lambda args: p.print_help() or 2)

    k = sub.add_parser("apikey", help="对接系统 API 密钥 (API keys for systems)")
    ksub = k.add_subparsers(dest="apikey_command", metavar="ACTION")
    create = ksub.add_parser(
        "create", help="为账号签发密钥，只显示一次 (issue a key for an account; shown once)"
    )
    create.add_argument("username", help="密钥所属账号 (the account the key acts as)")
    create.add_argument("--name", required=True, help="用途说明，如 open311 (what the key is for)")
    create.set_defaults(func=_apikey_create)
    revoke = ksub.add_parser("revoke", help="停用密钥 (revoke a key by its prefix)")
    revoke.add_argument("prefix", help="密钥前缀（gm_ 之后 8 位）(the 8 characters after gm_)")
    revoke.set_defaults(func=_apikey_revoke)
    k.set_defaults(func=lambda args: k.print_help() or 2)


def _session():
    from layers.db import make_engine, make_sessionmaker
    from layers.settings import DatabaseSettings

    return make_sessionmaker(make_engine(DatabaseSettings(), pool_size=1, max_overflow=0))()


def _password(env: str) -> str:
    pw = os.environ.get(env)
    if pw:
        return pw
    pw = getpass.getpass("密码 (password): ")
    if pw != getpass.getpass("再输一次 (again): "):
        raise SystemExit("两次密码不一致 (passwords differ)")
    return pw


def _create(username, password, **kw) -> int:
    from layers.accounts import create_user

    try:
        with _session() as s:
            user = create_user(s, username, password, **kw)
            s.commit()
            print(
                f"已创建账号 {user.username}（角色 {', '.join(user.roles)}，范围 {user.scope or '全部'}）"
                f" (account created)"
            )
    except GridmapError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    return 0


def _create_admin(args) -> int:
    from sqlalchemy import select

    from layers.accounts_models import User

    with _session() as s:
        admins = s.scalar(select(User.id).where(User.roles.any(UserRole.ADMIN.value)).limit(1))
    if admins is not None:
        print(
            "已有管理员；请用 gridmap user add (an admin exists already; use `gridmap user add`)",
            file=sys.stderr,
        )
        return 1
    return _create(args.username, _password(args.password_env), roles=[UserRole.ADMIN.value], scope="")


def _add(args) -> int:
    return _create(
        args.username,
        _password(args.password_env),
        roles=args.role,
        scope=args.scope,
        staff_roles=args.staff_role,
        display_name=args.name,
        person_id=args.person,
    )


def _apikey_create(args) -> int:
    from layers.accounts import create_api_key

    try:
        with _session() as s:
            key = create_api_key(s, args.username, args.name)
            s.commit()
    except GridmapError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(key)
    print("请妥善保存，此密钥不会再次显示 (store it now; it is not shown again)", file=sys.stderr)
    return 0


def _apikey_revoke(args) -> int:
    from layers.accounts import revoke_api_key

    with _session() as s:
        ok = revoke_api_key(s, args.prefix)
        s.commit()
    print("已停用 (revoked)" if ok else "没有此密钥 (no such key)")
    return 0 if ok else 1

"""``gridmap user create-admin|add|list|disable|enable|set-role|set-scope|set-password|delete`` and ``gridmap apikey
create|revoke``: accounts from the command line.

Every change to an existing account (disable, roles, scope, password, delete) ends the tokens it holds at once and is
written to the audit log as ``cli:<operating-system user>``.
"""

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
        "--scope",
        default="",
        help="区划或网格编码，空为全部；网格员和党员必须指定 (area or grid code; empty = everywhere, refused for "
        "grid_staff and party_member)",
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
    _register_changes(usub)
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


def _register_changes(usub) -> None:
    """``list``, ``disable``, ``enable``, ``set-role``, ``set-scope``, ``set-password``, ``delete``."""
    usub.add_parser("list", help="列出账号 (list accounts)").set_defaults(func=_list)
    for name, func, text in [
        ("disable", _disable, "停用账号，其令牌与密钥立即失效 (disable; its tokens and keys stop working at once)"),
        ("enable", _enable, "重新启用账号 (enable again)"),
        ("delete", _delete, "删除账号及其密钥 (delete the account and its API keys)"),
    ]:
        cmd = usub.add_parser(name, help=text)
        cmd.add_argument("username", help="用户名 (username)")
        cmd.set_defaults(func=func)
    role = usub.add_parser("set-role", help="修改角色，旧令牌立即失效 (replace the roles; old tokens stop working)")
    role.add_argument("username", help="用户名 (username)")
    role.add_argument("--role", action="append", required=True, choices=UserRole.values()[:-1],
                      help="角色，可重复 (role, repeatable)")
    role.add_argument("--staff-role", action="append", choices=StaffRole.values(),
                      help="网格岗位，可重复；省略则不变 (grid staff role, repeatable; omitted = unchanged)")
    role.set_defaults(func=_set_role)
    scope = usub.add_parser("set-scope", help="修改辖区，旧令牌立即失效 (move to another area; old tokens stop working)")
    scope.add_argument("username", help="用户名 (username)")
    where = scope.add_mutually_exclusive_group(required=True)
    where.add_argument("scope", nargs="?", help="区划或网格编码 (area or grid code)")
    where.add_argument("--everywhere", action="store_true", help="全部范围 (everywhere; not for grid staff)")
    scope.set_defaults(func=_set_scope)
    pw = usub.add_parser("set-password", help="重设密码，旧令牌立即失效 (new password; old tokens stop working)")
    pw.add_argument("username", help="用户名 (username)")
    pw.add_argument("--password-env", default="GRIDMAP_USER_PASSWORD",
                    help="从此环境变量读取密码，未设置则提示输入 (read the password from this variable, else prompt)")
    pw.set_defaults(func=_set_password)


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


def _change(username: str, what: str, change, done: str) -> int:
    """Run ``change(session)`` on one account (a dict it returns is the audit detail), audit it as the
    operating-system user, print ``done``."""
    from layers.accounts import write_audit

    try:
        with _session() as s:
            answer = change(s)
            detail = answer if isinstance(answer, dict) else {}
            write_audit(s, subject=f"cli:{getpass.getuser()}", roles=["admin"], action="change",
                        object_type="user", object_id=username, detail={"what": what, **detail},
                        request_path=f"gridmap user {what}")
            s.commit()
    except GridmapError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(done)
    return 0


def _list(args) -> int:
    from layers.accounts import list_users

    with _session() as s:
        for u in list_users(s):
            state = "启用" if u.active else "停用"
            print(f"{u.username}\t{','.join(u.roles)}\t{u.scope or '全部'}\t{state}")
    return 0


def _disable(args) -> int:
    from layers.accounts import set_active

    return _change(args.username, "disable", lambda s: set_active(s, args.username, False),
                   f"已停用 {args.username}，其令牌与密钥已失效 (disabled; its tokens and keys no longer work)")


def _enable(args) -> int:
    from layers.accounts import set_active

    return _change(args.username, "enable", lambda s: set_active(s, args.username, True),
                   f"已启用 {args.username} (enabled)")


def _delete(args) -> int:
    from layers.accounts import delete_user

    return _change(args.username, "delete", lambda s: delete_user(s, args.username),
                   f"已删除 {args.username} (deleted)")


def _set_role(args) -> int:
    from layers.accounts import set_roles

    def change(s):
        user = set_roles(s, args.username, args.role, args.staff_role)
        return {"roles": list(user.roles), "staff_roles": list(user.staff_roles)}

    return _change(args.username, "roles", change,
                   f"{args.username} 的角色已改为 {', '.join(sorted(set(args.role)))}，旧令牌已失效 (roles changed)")


def _set_scope(args) -> int:
    from layers.accounts import set_scope

    scope = "" if args.everywhere else args.scope
    return _change(args.username, "scope", lambda s: set_scope(s, args.username, scope) and {"scope": scope},
                   f"{args.username} 的辖区已改为 {scope or '全部'}，旧令牌已失效 (scope changed)")


def _set_password(args) -> int:
    from layers.accounts import set_password

    password = _password(args.password_env)
    return _change(args.username, "password", lambda s: set_password(s, args.username, password),
                   f"{args.username} 的密码已重设，旧令牌已失效 (password changed)")

"""``gridmap`` — the command line. Each module in ``scripts/commands`` adds its own sub-commands.

Run ``gridmap --help`` for the list and ``gridmap COMMAND --help`` for each command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from gis.errors import GridmapError
from scripts import commands


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every command module's sub-commands registered."""
    parser = argparse.ArgumentParser(
        prog="gridmap",
        description="gridmap 社区网格化服务管理：数据库、演示数据、服务与批处理 (database, demo data, service, bulk jobs).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="更多日志 (more logging)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gridmap`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:  # httpx logs every request at INFO: hundreds of lines from the benchmarks' clients
        logging.getLogger("httpx").setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except GridmapError as exc:  # a domain error is the user's to fix: say what, no traceback
        print(f"错误 (error): {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

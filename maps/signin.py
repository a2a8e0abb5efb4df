"""工作人员登录页 (the staff sign-in page of the maps): ``maps/templates/signin.html`` with its module
``maps/static/js/pages/signin.js``."""

from __future__ import annotations

from html import escape
from pathlib import Path

from maps.common import import_map_element

TEMPLATE = Path(__file__).with_name("templates") / "signin.html"


def signin_html(next_url: str, *, own_base: str = "/static/maps", nonce: str | None = None) -> str:
    """The sign-in page; after signing in the browser goes to ``next_url`` (the caller checks it is ours)."""
    return (TEMPLATE.read_text(encoding="utf-8")
            .replace("__IMPORT_MAP__", import_map_element(own_base, nonce))
            .replace("__OWN_BASE__", own_base.rstrip("/"))
            .replace("__NEXT__", escape(next_url, quote=True)))

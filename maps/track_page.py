"""进度查询页 (``/maps/track/{token}``): ``maps/templates/track.html`` with its module
``maps/static/js/pages/track.js``, which reads ``/api/v1/track/{token}`` and offers the rating when it is done."""

from __future__ import annotations

from html import escape
from pathlib import Path

from maps.common import import_map_element

TEMPLATE = Path(__file__).with_name("templates") / "track.html"


def track_html(token: str, *, own_base: str = "/static/maps", nonce: str | None = None) -> str:
    """The tracking page of ``token`` (as typed; the page's module asks the API, which says if it is none)."""
    return (TEMPLATE.read_text(encoding="utf-8")
            .replace("__IMPORT_MAP__", import_map_element(own_base, nonce))
            .replace("__OWN_BASE__", own_base.rstrip("/"))
            .replace("__TOKEN__", escape(token, quote=True)))

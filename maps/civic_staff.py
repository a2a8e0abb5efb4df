"""社区工作台 (``/maps/civic``): the staff page of the civic parts — log a household visit with its follow-ups and
see the grid's coverage, move a topic through the six steps with its meeting, vote and tasks, sign volunteers up,
take attendance and redeem points. ``maps/templates/civic_staff.html`` with ``maps/static/js/pages/civic_staff.js``;
its settings travel in one ``data-config`` attribute (no inline script), the page calls the JSON API."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from maps.common import import_map_element

TEMPLATE = Path(__file__).with_name("templates") / "civic_staff.html"


def civic_staff_html(config: dict[str, Any], *, own_base: str = "/static/maps", nonce: str | None = None) -> str:
    """The staff page for ``config`` (token, user, the grids and communities of the user's area, the lists); its
    one inline element, the import map, carries the response's CSP ``nonce``."""
    data = escape(json.dumps(config, ensure_ascii=False, default=str, separators=(",", ":")), quote=True)
    return (TEMPLATE.read_text(encoding="utf-8")
            .replace("__IMPORT_MAP__", import_map_element(own_base, nonce))
            .replace("__OWN_BASE__", own_base.rstrip("/"))
            .replace("__CONFIG__", data))

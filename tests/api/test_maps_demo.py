"""The maps over the Jinchang demo (session database): every page renders with the demo's real counts and
without personal data."""

from __future__ import annotations

import json
import re

from sqlalchemy import text

from tests.accounts_fixtures import bearer


def _layers(html: str) -> dict[str, dict]:
    return {(spec := json.loads(m.group(1)))["name"]: spec
            for m in re.finditer(r"gridmap\.layer\((\{.*?\})\);\n", html)}


def test_demo_public_map(client, session):
    r = client.get("/maps/public")
    assert r.status_code == 200
    layers = _layers(r.text)
    n_fac = session.scalar(text("SELECT count(*) FROM facilities"))
    n_grids = session.scalar(text(
        "SELECT count(*) FROM grids WHERE plan_id = (SELECT id FROM grid_plans WHERE status = 'published' "
        "ORDER BY generation DESC LIMIT 1)"))
    assert sum(len(v["data"]["features"]) for v in layers.values() if v.get("style") == "facility") == n_fac
    assert len(layers["网格与公示牌 grids"]["data"]["features"]) == n_grids
    villages = next(v for k, v in layers.items() if k.startswith("村"))
    assert villages["data"]["features"] and all(0 <= f["properties"]["have"] <= 7
                                                for f in villages["data"]["features"])
    assert len(r.content) < 2_000_000
    private = [p for (p,) in session.execute(text("SELECT phone FROM people WHERE phone IS NOT NULL LIMIT 200"))]
    assert private and not any(p in r.text for p in private)
    code = layers["网格与公示牌 grids"]["data"]["features"][0]["properties"]["code"]
    board = client.get(f"/maps/public/boards/{code}.json").text
    assert not any(p in board for p in private)


def test_demo_grid_and_coverage_maps(client, session):
    r = client.get("/maps/grids")
    assert r.status_code == 200
    layers = _layers(r.text)
    n_b = session.scalar(text("SELECT count(*) FROM buildings"))
    b = next(v for k, v in layers.items() if k.startswith("楼栋"))
    assert (b["kind"] == "tiles") == (n_b > 3000)
    assert len(r.content) < 2_000_000
    c = client.get("/maps/coverage", params={"type": "clinic"})
    assert c.status_code == 200 and "建议选址" in c.text


def test_demo_dispatch_map(client):
    r = client.get("/maps/incidents", headers=bearer(client.app.state.sessionmaker, None, {"dispatcher"}, ""))
    assert r.status_code == 200 and "事件状态" in r.text

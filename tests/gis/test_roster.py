"""The roster audit on small hand-made tables: every vacancy found, nothing else."""

import pandas as pd

from gis.roster import audit_roster, required_roles, summarise

GRIDS = pd.DataFrame(
    {
        "code": ["620302004002001", "620302004002002", "620302004003001"],
        "kind": ["comprehensive", "comprehensive", "exclusive"],
        "has_market": [False, True, False],
    }
)
FULL = ["grid_head", "grid_worker", "legal_adviser", "health_worker", "community_police"]


def _assign(rows):
    return pd.DataFrame(rows, columns=["role", "grid_code", "building_id", "stairwell_id"])


def test_required_roles_follow_the_rules():
    assert [r.value for r in required_roles("comprehensive", has_market=False)] == FULL
    assert {"urban_inspector", "market_inspector"} <= {r.value for r in required_roles("comprehensive", has_market=True)}
    assert [r.value for r in required_roles("exclusive", has_market=True)] == ["grid_head", "grid_worker"]


def test_audit_finds_each_vacancy_and_nothing_else():
    rows = [(r, "620302004002001", None, None) for r in FULL]
    rows += [(r, "620302004002002", None, None) for r in FULL if r != "legal_adviser"]
    rows += [("urban_inspector", "620302004002002", None, None)]  # market inspector missing
    rows += [("grid_head", "620302004003001", None, None), ("grid_worker", "620302004003001", None, None)]
    rows += [("building_head", None, 1, None), ("stairwell_head", None, None, 11)]
    buildings = pd.DataFrame({"id": [1, 2], "grid_code": ["620302004002001", "620302004002002"], "name": ["1号楼", "2号楼"]})
    stairwells = pd.DataFrame({"id": [11, 12, 21], "building_id": [1, 1, 2], "number": [1, 2, 1]})
    out = audit_roster(GRIDS, _assign(rows), buildings, stairwells)
    found = set(zip(out["grid_code"], out["kind"], out["role"], out["building_id"].fillna(0).astype(int), out["stairwell_id"].fillna(0).astype(int)))
    assert found == {
        ("620302004002002", "role", "legal_adviser", 0, 0),
        ("620302004002002", "role", "market_inspector", 0, 0),
        ("620302004002002", "building", "building_head", 2, 0),
        ("620302004002001", "stairwell", "stairwell_head", 1, 12),
        ("620302004002002", "stairwell", "stairwell_head", 2, 21),
    }


def test_one_person_in_several_grids_fills_each():
    rows = [(r, g, None, None) for g in GRIDS["code"][:2] for r in FULL + ["urban_inspector", "market_inspector"]]
    rows += [("grid_head", "620302004003001", None, None), ("grid_worker", "620302004003001", None, None)]
    empty = pd.DataFrame(columns=["id", "grid_code", "name"])
    out = audit_roster(GRIDS, _assign(rows), empty, pd.DataFrame(columns=["id", "building_id", "number"]))
    assert out.empty


def test_summary_by_community_and_street_keeps_units_without_vacancies():
    vac = pd.DataFrame(
        {"grid_code": ["620302004002002", "620302004002002"], "kind": ["role", "building"],
         "role": ["x", "y"], "role_zh": ["", ""], "building_id": [None, 2], "stairwell_id": [None, None],
         "detail": ["", ""]}
    )
    by_community = summarise(vac, GRIDS, by="community").set_index("unit")
    assert by_community.loc["620302004002", "total_vacancies"] == 2
    assert by_community.loc["620302004003", "total_vacancies"] == 0
    by_street = summarise(vac, GRIDS, by="street").set_index("unit")
    assert by_street.loc["620302004", "grids"] == 3

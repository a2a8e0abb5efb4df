"""Synthetic escalation receivers for the demo: who takes an escalated incident at each level (synthetic people).

- every community: a 社区值班 (duty officer) who takes every category;
- every 街道 (street office): its 综治中心 (comprehensive governance centre), every category;
- every 区 (county): one department per family of categories (城管执法局 for sanitation and street order, 公安分局
  for traffic and security, 司法局 for disputes and legal advice …) and the 区政府总值班室 for the rest.

Real deployments replace these with their own roster (``gridmap incidents receivers --import FILE.csv``).
"""

from __future__ import annotations

import numpy as np

from gis.synthetic import GIVEN, SURNAMES

# (duty, unit, categories taken; empty = every category) of a district's departments.
DISTRICT_DEPARTMENTS: list[tuple[str, str, tuple[str, ...]]] = [
    ("区城管执法局值班", "{county}城市管理综合执法局", ("sanitation", "city_appearance", "illegal_building",
                                                   "construction", "advertising", "street_order")),
    ("区住建局值班", "{county}住房和城乡建设局", ("road_damage", "cable_mess")),
    ("公安分局指挥室", "{county}公安分局", ("traffic", "public_security")),
    ("区司法局值班", "{county}司法局", ("dispute", "legal")),
    ("区卫健局值班", "{county}卫生健康局", ("health",)),
    ("区市场监管局值班", "{county}市场监督管理局", ("market",)),
    ("区应急管理局值班", "{county}应急管理局", ("emergency",)),
    ("区政府总值班室", "{county}人民政府总值班室", ()),
]


def _name(rng: np.random.Generator) -> str:
    return SURNAMES[int(rng.integers(len(SURNAMES)))] + "".join(
        GIVEN[int(i)] for i in rng.integers(len(GIVEN), size=int(rng.integers(1, 3))))


def receiver_rows(communities: list[tuple[str, str]], streets: list[tuple[str, str]],
                  counties: list[tuple[str, str]], *, seed: int = 7) -> list[dict]:
    """One row per receiver: ``level, area_code, duty, unit, categories, name, public_phone`` for the given
    ``(code, name)`` communities, streets (街道, 12-digit codes ending in 000) and counties."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []

    def add(level: str, code: str, duty: str, unit: str, categories: tuple[str, ...] = ()) -> None:
        rows.append({"level": level, "area_code": code, "duty": duty, "unit": unit, "categories": list(categories),
                     "name": _name(rng), "public_phone": f"0935-8{int(rng.integers(10**5, 10**6))}"})

    for code, name in communities:
        add("community", code, "社区值班", f"{name}居委会")
    for code, name in streets:
        add("street", code, "街道综治中心", f"{name}综治中心")
    for code, name in counties:
        for duty, unit, cats in DISTRICT_DEPARTMENTS:
            add("district", code, duty, unit.format(county=name), cats)
    return rows

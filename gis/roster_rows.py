"""Rows of a roster as a 社区 keeps it (a spreadsheet: 姓名, 手机, 岗位, 网格编码, 楼栋, 单元 …), checked on their own.

Pure: headers are recognised in Chinese or English, each row becomes a :class:`RosterRow` or a list of problems
(column and what to do), and rows that contradict each other in one file (two 网格长 for one grid) are found.
What needs the database (does the grid exist, which building is meant) is checked in :mod:`layers.staff`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gis.domain import StaffRole
from gis.gridcodes import CODE15

# header as written in the file → field
HEADERS: dict[str, str] = {
    "姓名": "name", "name": "name", "人员": "name",
    "手机": "phone", "手机号": "phone", "电话": "phone", "联系电话": "phone", "phone": "phone",
    "公示电话": "public_phone", "公开电话": "public_phone", "public_phone": "public_phone",
    "岗位": "role", "职务": "role", "角色": "role", "role": "role",
    "网格编码": "grid_code", "网格": "grid_code", "网格代码": "grid_code", "grid_code": "grid_code", "grid": "grid_code",
    "楼栋": "building", "楼栋名称": "building", "楼栋地址": "building", "building": "building",
    "单元": "stairwell", "楼口": "stairwell", "单元号": "stairwell", "stairwell": "stairwell",
    "开始日期": "valid_from", "任职开始": "valid_from", "valid_from": "valid_from",
    "结束日期": "valid_to", "任职结束": "valid_to", "valid_to": "valid_to",
}
REQUIRED = ("name", "phone", "role")
ROLE_NAMES: dict[str, StaffRole] = {r.zh: r for r in StaffRole} | {r.value: r for r in StaffRole}
# One holder at a time: a grid has one 网格长 and one 网格员, a building one 楼栋长, a stairwell one 楼口长.
SINGLE_PER_GRID = frozenset({StaffRole.GRID_HEAD, StaffRole.GRID_WORKER})
PLACE_ROLES = frozenset({StaffRole.BUILDING_HEAD, StaffRole.STAIRWELL_HEAD})
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
LANDLINE = re.compile(r"^0[0-9]{2,3}-?[0-9]{7,8}(-[0-9]{1,6})?$")


@dataclass(frozen=True)
class RosterRow:
    """One checked row: a person in a role for a grid, a building (楼栋长) or a stairwell (楼口长)."""

    line: int
    name: str
    phone: str
    role: StaffRole
    grid_code: str | None
    building: str | None
    stairwell: int | None
    public_phone: str | None
    valid_from: dt.date | None
    valid_to: dt.date | None


def normalise_phone(value: Any) -> str | None:
    """A phone as digits (and one dash for landlines); None if it is not a Chinese mobile or landline number."""
    text = re.sub(r"[\s()（）]", "", str(value or "")).removeprefix("+86").removeprefix("86-")
    if text.endswith(".0"):  # a number typed into a spreadsheet cell
        text = text[:-2]
    return text if MOBILE.match(text) or LANDLINE.match(text) else None


def parse_date(value: Any) -> dt.date | None:
    """``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYY.MM.DD`` or a spreadsheet date; empty → None; else ValueError."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip().split(" ")[0].replace("/", "-").replace(".", "-")
    return dt.date.fromisoformat("-".join(p.zfill(2) for p in text.split("-")))


def map_headers(headers: Iterable[Any]) -> tuple[dict[int, str], list[str]]:
    """``({column index: field}, missing required fields)``; unknown columns are ignored."""
    found = {}
    for i, h in enumerate(headers):
        key = HEADERS.get(str(h or "").strip()) or HEADERS.get(str(h or "").strip().lower())
        if key and key not in found.values():
            found[i] = key
    return found, [f for f in REQUIRED if f not in found.values()]


def _cell(values: Mapping[str, Any], key: str) -> str:
    value = values.get(key)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _stairwell(text: str) -> int:
    number = re.sub(r"[单元号楼口]", "", text)
    value = int(float(number))
    if value < 1 or value > 99:
        raise ValueError(text)
    return value


def _target_problems(role: StaffRole, grid: str, building: str, stairwell: str) -> list[tuple[str, str]]:
    problems = []
    if grid and not CODE15.match(grid):
        problems.append(("grid_code", f"网格编码须为 15 位数字：{grid!r} (a grid code has 15 digits)"))
    if role in PLACE_ROLES and not building:
        problems.append(("building", f"{role.zh}须填写楼栋 (a {role.value} needs its building)"))
    if role is StaffRole.STAIRWELL_HEAD and not stairwell:
        problems.append(("stairwell", "楼口长须填写单元号 (a stairwell head needs the stairwell number)"))
    if role not in PLACE_ROLES and not grid:
        problems.append(("grid_code", f"{role.zh}须填写网格编码 (a {role.value} needs a grid code)"))
    return problems


def check_row(line: int, values: Mapping[str, Any]) -> tuple[RosterRow | None, list[dict[str, Any]]]:
    """One row's fields (by field name) → the row, or every problem it has (each with line and column)."""
    problems: list[tuple[str, str]] = []
    name, phone_text, role_text = _cell(values, "name"), _cell(values, "phone"), _cell(values, "role")
    grid, building, stairwell = _cell(values, "grid_code"), _cell(values, "building"), _cell(values, "stairwell")
    if not name or len(name) > 100:
        problems.append(("name", "姓名为空或过长 (name is empty or too long)"))
    phone = normalise_phone(phone_text)
    if phone is None:
        problems.append(("phone", f"电话号码无效：{phone_text!r}，应为 11 位手机号或带区号的座机 (bad phone number)"))
    public_text = _cell(values, "public_phone")
    public = normalise_phone(public_text) if public_text else None
    if public_text and public is None:
        problems.append(("public_phone", f"公示电话无效：{public_text!r} (bad public phone number)"))
    role = ROLE_NAMES.get(role_text)
    if role is None:
        problems.append(("role", f"未知岗位 {role_text!r}；可用 {'、'.join(r.zh for r in StaffRole)} (unknown role)"))
    else:
        problems += _target_problems(role, grid, building, stairwell)
    number = None
    if stairwell:
        try:
            number = _stairwell(stairwell)
        except ValueError:
            problems.append(("stairwell", f"单元号无效：{stairwell!r} (bad stairwell number)"))
    dates = {}
    for key in ("valid_from", "valid_to"):
        try:
            dates[key] = parse_date(values.get(key))
        except (ValueError, TypeError):
            problems.append((key, f"日期无效：{values.get(key)!r}，应为 YYYY-MM-DD (bad date)"))
    if dates.get("valid_from") and dates.get("valid_to") and dates["valid_to"] < dates["valid_from"]:
        problems.append(("valid_to", "结束日期早于开始日期 (valid_to is before valid_from)"))
    if problems:
        return None, [{"line": line, "column": c, "problem": p} for c, p in problems]
    return RosterRow(line=line, name=name, phone=phone, role=role, grid_code=grid or None,
                     building=building or None, stairwell=number, public_phone=public,
                     valid_from=dates.get("valid_from"), valid_to=dates.get("valid_to")), []


def place_key(row: RosterRow) -> tuple | None:
    """What a single-holder role is unique for (grid, building or stairwell); None for shared roles."""
    if row.role in SINGLE_PER_GRID:
        return (row.role.value, row.grid_code)
    if row.role is StaffRole.BUILDING_HEAD:
        return (row.role.value, row.grid_code, row.building)
    if row.role is StaffRole.STAIRWELL_HEAD:
        return (row.role.value, row.grid_code, row.building, row.stairwell)
    return None


def duplicate_problems(rows: Iterable[RosterRow]) -> list[dict[str, Any]]:
    """Rows of one file that repeat a person's role, or give a single-holder role to two people."""
    by_place: dict[tuple, list[RosterRow]] = defaultdict(list)
    by_person: dict[tuple, list[RosterRow]] = defaultdict(list)
    for row in rows:
        key = place_key(row)
        if key is not None:
            by_place[key].append(row)
        by_person[(row.name, row.phone, row.role, row.grid_code, row.building, row.stairwell)].append(row)
    problems = []
    for group in by_place.values():
        people = {(r.name, r.phone) for r in group}
        if len(people) > 1:
            lines = [r.line for r in group]
            for r in group[1:]:
                problems.append({"line": r.line, "column": "role", "problem":
                                 f"{r.role.zh}重复：第 {', '.join(map(str, lines))} 行为同一位置指定了不同的人 "
                                 f"(duplicate {r.role.value} for one place)"})
    for group in by_person.values():
        for r in group[1:]:
            problems.append({"line": r.line, "column": "name", "problem":
                             f"与第 {group[0].line} 行重复 (repeats line {group[0].line})"})
    return problems

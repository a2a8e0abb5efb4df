"""Managing the roster in PostGIS: add, move and end staff assignments, and import a 社区's roster file.

One rule set for the API, the CLI and imports: a row is checked by :func:`gis.roster_rows.check_row`, then against
the plan in force here (:func:`resolve_row`: the grid exists, the building and stairwell are found, a single-holder
role is not already held by someone else). An import writes nothing unless every row passes; its report lists
every problem of the file at once, plus market grids still missing their two extra roles.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from gis.domain import StaffRole
from gis.errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from gis.gridcodes import CODE15
from gis.roster import MARKET_ROLES
from gis.roster_rows import SINGLE_PER_GRID, RosterRow, check_row, duplicate_problems, map_headers
from layers import models
from layers.features import current_plan_id
from layers.roster import grids_with_market_flag

MAX_FILE_BYTES = 5_000_000
MAX_ROWS = 20_000


@dataclass(frozen=True)
class Target:
    """Where an assignment attaches: a grid (always, when known), a building, a stairwell."""

    grid_code: str | None
    community_code: str | None
    building_id: int | None = None
    stairwell_id: int | None = None


def _valid_on(day: dt.date):
    a = models.StaffAssignment
    return and_(or_(a.valid_from.is_(None), a.valid_from <= day), or_(a.valid_to.is_(None), a.valid_to >= day))


def _plan_id(session: Session) -> int:
    plan_id = current_plan_id(session)
    if plan_id is None:
        raise NotFound("还没有已发布的网格方案 (no grid plan has been published yet)")
    return plan_id


# ------------------------------------------------------------------------------------------ resolving a row
def _find_building(session: Session, plan_id: int, text: str, grid_code: str | None) -> tuple[list[int], str | None]:
    """Buildings matching an id, a name or an address (inside the grid when one is given)."""
    b = models.Building
    match = b.id == int(text) if text.isdigit() else or_(b.name == text, b.address == text)
    q = select(b.id).where(match)
    if grid_code is not None:
        grid = select(models.Grid.geom).where(models.Grid.plan_id == plan_id, models.Grid.code == grid_code).scalar_subquery()
        q = q.where(func.ST_Covers(grid, func.ST_PointOnSurface(b.geom)))
    ids = session.scalars(q.order_by(b.id).limit(3)).all()
    return list(ids), grid_code


def _grid_of_building(session: Session, plan_id: int, building_id: int) -> str | None:
    return session.scalar(
        select(models.Grid.code).join(models.Building, func.ST_Covers(models.Grid.geom, func.ST_PointOnSurface(models.Building.geom)))
        .where(models.Grid.plan_id == plan_id, models.Building.id == building_id)
        .order_by((models.Grid.kind == "exclusive").desc(), models.Grid.code).limit(1))


def _place(session: Session, plan_id: int, row: RosterRow) -> tuple[Target | None, str | None]:
    """The building (and stairwell) a 楼栋长/楼口长 row names, or a problem."""
    ids, _ = _find_building(session, plan_id, row.building, row.grid_code)
    if not ids:
        where = f"网格 {row.grid_code} 内" if row.grid_code else ""
        return None, f"{where}找不到楼栋 {row.building!r}（填楼栋名称、地址或编号） (no such building)"
    if len(ids) > 1:
        return None, f"楼栋 {row.building!r} 不唯一，请填写网格编码或楼栋编号 (ambiguous building: give the grid)"
    grid = row.grid_code or _grid_of_building(session, plan_id, ids[0])
    stairwell = None
    if row.role is StaffRole.STAIRWELL_HEAD:
        stairwell = session.scalar(select(models.Stairwell.id).where(models.Stairwell.building_id == ids[0],
                                                                models.Stairwell.number == row.stairwell))
        if stairwell is None:
            return None, f"楼栋 {row.building!r} 没有 {row.stairwell} 单元 (no such stairwell)"
    return Target(grid, grid[:12] if grid else None, ids[0], stairwell), None


def _holders(session: Session, role: StaffRole, target: Target, day: dt.date) -> list[tuple[int, int, str]]:
    """Current ``(assignment id, person id, name)`` of a role at the target."""
    a = models.StaffAssignment
    if target.stairwell_id is not None:
        where = a.stairwell_id == target.stairwell_id
    elif target.building_id is not None:
        where = a.building_id == target.building_id
    else:
        where = and_(a.grid_code == target.grid_code, a.building_id.is_(None), a.stairwell_id.is_(None))
    return [tuple(r) for r in session.execute(
        select(a.id, a.person_id, models.Person.name).join(models.Person, models.Person.id == a.person_id)
        .where(where, a.role == role.value, _valid_on(day))).all()]


def _person_id(session: Session, name: str, phone: str) -> int | None:
    return session.scalar(select(models.Person.id).where(models.Person.name == name, models.Person.phone == phone).limit(1))


@dataclass(frozen=True)
class Resolution:
    """A checked row against the plan in force and the roster: where it goes, or why not."""

    target: Target | None
    problem: str | None = None
    held: bool = False  # the problem is that someone else holds the role (a conflict, not bad input)
    already: bool = False  # the same person already holds it: nothing to add

    def raise_problem(self) -> None:
        """Raise the problem as the API should answer it (409 when the role is held, else 422)."""
        if self.problem:
            raise (Conflict if self.held else InvalidInput)(self.problem)


def resolve_row(session: Session, plan_id: int, row: RosterRow, *, today: dt.date,
                person_id: int | None = None) -> Resolution:
    """Where a checked row goes in the plan in force, whether its person already holds it, or its problem."""
    if row.grid_code is not None and session.scalar(select(func.count()).select_from(models.Grid).where(
            models.Grid.plan_id == plan_id, models.Grid.code == row.grid_code)) == 0:
        return Resolution(None, f"现行方案中没有网格 {row.grid_code} (no grid {row.grid_code} in the plan in force)")
    if row.building:
        target, problem = _place(session, plan_id, row)
        if problem:
            return Resolution(None, problem)
    else:
        target = Target(row.grid_code, row.grid_code[:12] if row.grid_code else None)
    person = person_id if person_id is not None else _person_id(session, row.name, row.phone)
    holders = _holders(session, row.role, target, row.valid_from or today)
    if person is not None and any(p == person for _, p, _ in holders):
        return Resolution(target, already=True)
    if (row.role in SINGLE_PER_GRID or row.building is not None) and holders:
        aid, _, name = holders[0]
        return Resolution(None, f"该位置已有{row.role.zh} {name}（任职记录 {aid}），请先结束其任职或改用调整 "
                                f"(the role is held by {name}, assignment {aid}: end it first)", held=True)
    return Resolution(target)


# --------------------------------------------------------------------------------------------- writing
def _person(session: Session, row: RosterRow, source: str) -> int:
    found = _person_id(session, row.name, row.phone)
    if found is not None:
        if row.public_phone:
            session.get(models.Person, found).public_phone = row.public_phone
        return found
    person = models.Person(name=row.name, phone=row.phone, public_phone=row.public_phone, source=source)
    session.add(person)
    session.flush()
    return person.id


def _insert(session: Session, row: RosterRow, target: Target, *, source: str, today: dt.date) -> models.StaffAssignment:
    assignment = models.StaffAssignment(
        person_id=_person(session, row, source), role=row.role.value, grid_code=target.grid_code,
        community_code=target.community_code, building_id=target.building_id, stairwell_id=target.stairwell_id,
        valid_from=row.valid_from or today, valid_to=row.valid_to, source=source)
    session.add(assignment)
    session.flush()
    return assignment


def _view(a: models.StaffAssignment, person: models.Person) -> dict[str, Any]:
    role = StaffRole(a.role)
    return {"id": a.id, "person_id": person.id, "name": person.name, "public_phone": person.public_phone,
            "role": role.value, "role_zh": role.zh, "grid_code": a.grid_code, "building_id": a.building_id,
            "stairwell_id": a.stairwell_id, "valid_from": a.valid_from, "valid_to": a.valid_to, "source": a.source}


def assignment_view(session: Session, assignment: models.StaffAssignment) -> dict[str, Any]:
    """An assignment as the API shows it: the person's name and published phone only."""
    return _view(assignment, session.get(models.Person, assignment.person_id))


Allowed = Callable[[str], bool]  # may the caller manage this grid or community code?


def _outside(target: Target, allowed: Allowed | None) -> str | None:
    code = target.grid_code or target.community_code
    if allowed is None or (code and allowed(code)):
        return None
    return f"{code or '该楼栋'} 不在你的辖区内 (outside your area)"


def assign(session: Session, values: dict[str, Any], *, source: str, today: dt.date | None = None,
           allowed: Allowed | None = None) -> dict[str, Any]:
    """Add one assignment (fields as in a roster file: name, phone, role, grid_code, building, stairwell, …)."""
    today = today or dt.date.today()
    row, problems = check_row(1, values)
    if problems:
        raise InvalidInput(f"任职信息有 {len(problems)} 处问题 ({len(problems)} problems)", detail={"problems": problems})
    found = resolve_row(session, _plan_id(session), row, today=today)
    found.raise_problem()
    if _outside(found.target, allowed):
        raise Forbidden(_outside(found.target, allowed))
    if found.already:
        raise Conflict(f"{row.name} 已任该岗位 (already holds this role)")
    return assignment_view(session, _insert(session, row, found.target, source=source, today=today))


def get_assignment(session: Session, assignment_id: int, *, allowed: Allowed | None = None) -> models.StaffAssignment:
    """An assignment, or :class:`NotFound` (also when it lies outside the caller's area: ids are not a hint)."""
    found = session.get(models.StaffAssignment, assignment_id)
    code = found.grid_code or found.community_code if found is not None else None
    if found is None or (allowed is not None and not (code and allowed(code))):
        raise NotFound(f"没有任职记录 {assignment_id} (no staff assignment {assignment_id})")
    return found


def end_assignment(session: Session, assignment_id: int, *, on: dt.date | None = None,
                   allowed: Allowed | None = None) -> dict[str, Any]:
    """End an assignment: ``on`` is its last day (today by default)."""
    found = get_assignment(session, assignment_id, allowed=allowed)
    on = on or dt.date.today()
    if found.valid_from and on < found.valid_from - dt.timedelta(days=1):
        raise InvalidInput("结束日期早于开始日期 (the end is before the start)")
    if found.valid_to is not None and found.valid_to < on:
        raise Conflict(f"任职记录 {assignment_id} 已于 {found.valid_to} 结束 (already ended)")
    found.valid_to = on
    session.flush()
    return assignment_view(session, found)


def move_assignment(session: Session, assignment_id: int, *, grid_code: str, on: dt.date | None = None,
                    source: str, allowed: Allowed | None = None) -> dict[str, Any]:
    """Move a person's grid-level role to another grid from ``on``: the old one ends the day before."""
    found = get_assignment(session, assignment_id, allowed=allowed)
    if found.building_id is not None or found.stairwell_id is not None:
        raise InvalidInput("楼栋长/楼口长随楼栋，不能调整到网格 (building and stairwell heads stay with their building)")
    if not CODE15.match(grid_code or ""):
        raise InvalidInput(f"网格编码须为 15 位数字：{grid_code!r} (a grid code has 15 digits)")
    on = on or dt.date.today()
    person = session.get(models.Person, found.person_id)
    planned_end = found.valid_to
    row = RosterRow(line=1, name=person.name, phone=person.phone or "", role=StaffRole(found.role),
                    grid_code=grid_code, building=None, stairwell=None, public_phone=None, valid_from=on,
                    valid_to=planned_end)
    resolution = resolve_row(session, _plan_id(session), row, today=on, person_id=person.id)
    resolution.raise_problem()
    if _outside(resolution.target, allowed):
        raise Forbidden(_outside(resolution.target, allowed))
    if resolution.already:
        raise Conflict(f"{person.name} 已在网格 {grid_code} 任{row.role.zh} (already holds it there)")
    end_assignment(session, assignment_id, on=on - dt.timedelta(days=1))
    new = models.StaffAssignment(person_id=person.id, role=found.role, grid_code=grid_code, community_code=grid_code[:12],
                            valid_from=on, valid_to=planned_end if planned_end and planned_end >= on else None,
                            source=source)
    session.add(new)
    session.flush()
    return assignment_view(session, new)


def list_assignments(session: Session, *, unit: str | None = None, on: dt.date | None = None,
                     limit: int = 5000) -> list[dict[str, Any]]:
    """Assignments valid on ``on`` (today) whose grid or community starts with ``unit`` (one query)."""
    a = models.StaffAssignment
    q = select(a, models.Person).join(models.Person, models.Person.id == a.person_id).where(_valid_on(on or dt.date.today()))
    if unit and len(unit) > 12:
        q = q.where(a.grid_code == unit)
    elif unit:  # heads of buildings loaded without a grid are known by their community
        q = q.where(or_(a.grid_code.startswith(unit), and_(a.grid_code.is_(None), a.community_code.startswith(unit))))
    return [_view(x, person) for x, person in session.execute(q.order_by(a.grid_code, a.role, a.id).limit(limit))]


# ---------------------------------------------------------------------------------------------- importing
def read_table(data: bytes, filename: str) -> tuple[list[Any], list[list[Any]]]:
    """Headers and rows of a CSV (UTF-8 or GBK) or XLSX file (its first sheet)."""
    if len(data) > MAX_FILE_BYTES:
        raise PayloadTooLarge(f"文件超过 {MAX_FILE_BYTES // 1_000_000} MB (file too large)")
    suffix = Path(filename or "").suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(data)
    if suffix != ".csv":
        raise InvalidInput(f"花名册须为 .csv 或 .xlsx 文件，收到 {filename!r} (a roster is a .csv or .xlsx file)")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise InvalidInput("无法识别文件编码 (cannot decode the file)")
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    return (rows[0], rows[1:]) if rows else ([], [])


def _read_xlsx(data: bytes) -> tuple[list[Any], list[list[Any]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - the caller's file is unreadable: say so, without internals
        raise InvalidInput(f"无法读取 Excel 文件：{type(exc).__name__} (cannot read the workbook)") from exc
    rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)
            if any(c not in (None, "") for c in r)]
    book.close()
    return (rows[0], rows[1:]) if rows else ([], [])


def check_file(session: Session, headers: list[Any], rows: list[list[Any]], *, today: dt.date,
               allowed: Allowed | None = None) -> tuple[list[tuple[RosterRow, Target, bool]], list[dict[str, Any]]]:
    """Every row checked on its own, against each other and against the plan in force and the roster."""
    columns, missing = map_headers(headers)
    if missing:
        raise InvalidInput(f"缺少列：{', '.join(missing)}（姓名、手机、岗位） (missing columns)",
                           detail={"problems": [{"line": 1, "column": c, "problem": "缺少此列 (missing)"}
                                                for c in missing]})
    if len(rows) > MAX_ROWS:
        raise InvalidInput(f"行数超过 {MAX_ROWS} (too many rows)")
    plan_id = _plan_id(session)
    checked, problems = [], []
    for k, values in enumerate(rows, start=2):
        row, found = check_row(k, {field: values[i] if i < len(values) else None for i, field in columns.items()})
        problems += found
        if row is not None:
            checked.append(row)
    problems += duplicate_problems(checked)
    resolved = []
    for row in checked:
        found = resolve_row(session, plan_id, row, today=today)
        if found.problem:
            column = "role" if found.held else ("building" if row.building else "grid_code")
            problems.append({"line": row.line, "column": column, "problem": found.problem})
        elif _outside(found.target, allowed):
            problems.append({"line": row.line, "column": "grid_code", "problem": _outside(found.target, allowed)})
        else:
            resolved.append((row, found.target, found.already))
    return resolved, sorted(problems, key=lambda p: (p["line"], p["column"]))


def market_gaps(session: Session, grid_codes: set[str], *, today: dt.date) -> list[dict[str, Any]]:
    """Market grids among ``grid_codes`` still without a 城管执法员 or 市场监管员."""
    if not grid_codes:
        return []
    flags = grids_with_market_flag(session)
    market = flags[flags["code"].isin(grid_codes) & (flags["has_market"] | (flags["exclusive_type"] == "market"))]
    out = []
    for code in sorted(market["code"]):
        for role in MARKET_ROLES:
            if not _holders(session, role, Target(code, code[:12]), today):
                out.append({"grid_code": code, "role": role.value, "role_zh": role.zh,
                            "problem": f"市场网格 {code} 缺{role.zh} (a market grid needs a {role.value})"})
    return out


def import_roster(session: Session, data: bytes, filename: str, *, dry_run: bool = False, source: str,
                  today: dt.date | None = None, allowed: Allowed | None = None) -> dict[str, Any]:
    """Import a roster file: all rows or none. The report lists every problem of the file (then nothing is
    written and :class:`InvalidInput` carries it), what was added and left as it was, and market grids still
    missing their two extra roles."""
    today = today or dt.date.today()
    headers, rows = read_table(data, filename)
    resolved, problems = check_file(session, headers, rows, today=today, allowed=allowed)
    report = {"file": filename, "rows": len(rows), "problems": problems, "dry_run": dry_run,
              "added": sum(1 for _, _, there in resolved if not there),
              "unchanged": sum(1 for _, _, there in resolved if there)}
    if problems:
        raise InvalidInput(f"花名册有 {len(problems)} 处问题，未导入任何一行 ({len(problems)} problems; nothing "
                           "was imported)", detail=report)
    if not dry_run:
        for row, target, there in resolved:
            if not there:
                _insert(session, row, target, source=source, today=today)
    grids = {t.grid_code for _, t, _ in resolved if t.grid_code}
    return report | {"market_gaps": market_gaps(session, grids, today=today)}

"""Residents' forms on the public map: 随手拍 (report a problem, with an optional photo link), 点单 (order a
service) and 微心愿 (post a small wish). The place comes from the map (a click, "my location" or a found name),
never from a code. Each form is checked in one pass and every problem is said in plain Chinese under its field
(``InvalidInput.detail["fields"]``); what is accepted gets a short tracking token and its page,
``/maps/track/{token}``.

Abuse: the API's shared public rate limit, a honeypot field people never see (:data:`HONEYPOT`), and bounded
sizes (:data:`LIMITS`).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from gis.errors import InvalidCoordinates, InvalidInput, UnknownCRS
from gis.services import SERVICE_CATEGORIES, TrackKind
from layers import incidents, services, tracking, wishes

HONEYPOT = "homepage"
LIMITS = {"description": 500, "title": 60, "name": 40, "phone": 20, "photo_url": 500}
PHONE = re.compile(r"^\+?[0-9][0-9 \-]{4,18}$")
URL = re.compile(r"^https?://[^\s<>\"']+$", re.IGNORECASE)
CRS_NAMES = ("wgs84", "gcj02")
PLACE_PROBLEM = "请在地图上点选位置，或用“我的位置”、搜索地名 (choose the place on the map)"


class _Form:
    """One form's fields, checked one by one; every problem is kept under its field's name."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data if isinstance(data, dict) else {}
        self.problems: dict[str, str] = {}

    def text(self, name: str, label: str, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is not None and not isinstance(value, str):
            self.problems[name] = f"{label}须为文字"
            return None
        value = (value or "").strip()
        if "\x00" in value:
            self.problems[name] = f"{label}含有无法保存的字符，请删除后重试"
        elif required and not value:
            self.problems[name] = f"请填写{label}"
        elif len(value) > LIMITS[name]:
            self.problems[name] = f"{label}最多 {LIMITS[name]} 个字，现在 {len(value)} 个"
        return value or None

    def matching(self, name: str, label: str, pattern: re.Pattern, example: str) -> str | None:
        value = self.text(name, label)
        if value and name not in self.problems and not pattern.match(value):
            self.problems[name] = f"{label}格式不对，例如 {example}"
        return value

    def choice(self, name: str, label: str, choices: dict[str, str]) -> str | None:
        value = self.data.get(name)
        if not isinstance(value, str) or value not in choices:
            self.problems[name] = f"请选择{label}"
            return None
        return value

    def place(self) -> tuple[float, float, str] | None:
        lon, lat, crs = self.data.get("lon"), self.data.get("lat"), self.data.get("crs") or "wgs84"
        try:
            lon, lat = float(lon), float(lat)
        except (TypeError, ValueError):
            self.problems["place"] = PLACE_PROBLEM
            return None
        if crs not in CRS_NAMES or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            self.problems["place"] = PLACE_PROBLEM
            return None
        return lon, lat, crs

    def check(self) -> None:
        """Refuse a filled honeypot, then every problem found (nothing is stored)."""
        if self.data.get(HONEYPOT):
            raise InvalidInput("提交未被接受：请不要填写隐藏的“主页”一栏 (the hidden field must stay empty)",
                               detail={"fields": {HONEYPOT: "此栏须留空"}})
        if self.problems:
            raise InvalidInput("请按提示修改后再提交：" + "；".join(self.problems.values()) + " (please correct the form)",
                               detail={"fields": dict(self.problems)})


def _placed(call, *args, **kwargs):
    """Run a layer call that locates the form's place; a place the service refuses is a ``place`` problem."""
    try:
        return call(*args, **kwargs)
    except (InvalidCoordinates, UnknownCRS) as exc:
        raise InvalidInput(f"这个位置无法使用：{exc.message}", detail={"fields": {"place": PLACE_PROBLEM}}) from exc


def _answer(kind: TrackKind, token: str, message: str) -> dict:
    return {"kind": kind.value, "kind_zh": kind.zh, "token": token, "track_url": f"/maps/track/{token}",
            "message": f"{message}。请记下查询码 {token}，可随时查看进度 (keep this code to follow it)"}


def form_choices() -> dict:
    """What the forms offer: the report categories and the services one can order."""
    return {"report": [[c.code, c.zh] for c in incidents.categories().values()],
            "order": [[c.code, c.zh] for c in SERVICE_CATEGORIES.values()],
            "limits": LIMITS, "honeypot": HONEYPOT}


def submit_report(session: Session, data: dict[str, Any]) -> dict:
    """随手拍: an incident report from the map, dispatched like every other (``channel="public_map"``)."""
    form = _Form(data)
    cats = {c.code: c.zh for c in incidents.categories().values()}
    body = {"category": form.choice("category", "问题类别", cats), "description": form.text("description", "问题描述",
                                                                                           required=True),
            "media_url": form.matching("photo_url", "照片链接", URL, "https://…/photo.jpg"),
            "reporter_name": form.text("name", "称呼"),
            "reporter_phone": form.matching("phone", "联系电话", PHONE, "13900000000")}
    place = form.place()
    form.check()
    body.update(lon=place[0], lat=place[1], crs=place[2])
    result, _replayed, incident_id = _placed(incidents.create_incident, session, body, channel="public_map",
                                             actor="resident:public_map")
    token = tracking.issue(session, TrackKind.REPORT, incident_id)
    grid = (result.get("grid") or {}).get("name")
    return _answer(TrackKind.REPORT, token, f"已受理，由{grid}处置" if grid else "已受理")


def submit_order(session: Session, data: dict[str, Any]) -> dict:
    """点单: a service ordered from the map; the community dispatches it to a party member."""
    form = _Form(data)
    category = form.choice("category", "服务类别", {c.code: c.zh for c in SERVICE_CATEGORIES.values()})
    description = form.text("description", "需要什么帮助", required=True)
    name, phone = form.text("name", "称呼"), form.matching("phone", "联系电话", PHONE, "13900000000")
    place = form.place()
    form.check()
    order = _placed(services.place_order, session, lon=place[0], lat=place[1], crs=place[2], category=category,
                    description=description, resident_name=name, resident_phone=phone, source="public_map")
    return _answer(TrackKind.ORDER, order.resident_token, "已下单，社区将派党员上门服务")


def submit_wish(session: Session, data: dict[str, Any]) -> dict:
    """微心愿: a small wish posted in the grid at the chosen place."""
    form = _Form(data)
    title = form.text("title", "心愿", required=True)
    description = form.text("description", "心愿说明")
    name, phone = form.text("name", "称呼"), form.matching("phone", "联系电话", PHONE, "13900000000")
    place = form.place()
    form.check()
    wish = _placed(wishes.post_wish, session, place=place, title=title, description=description,
                   resident_name=name, resident_phone=phone, source="public_map")
    token = tracking.token_of(session, TrackKind.WISH, wish.id)
    return _answer(TrackKind.WISH, token, "心愿已发布，等待党员或爱心单位认领")

"""Open311 GeoReport v2 at ``/open311/v2/``: discovery, services, service definitions, requests (GET with the
spec's filters, POST with ``api_key``), one request, tokens — in JSON and XML, errors as the spec gives them
(``[{"code": 400, "description": "..."}]`` / ``<errors><error>…``).

Service codes are our incident categories. ``status`` is ``open`` or ``closed``; ``status_notes`` carries our
state and level (上报/立案/…/结案, 网格/社区/街道/区). Answers are public: never the reporter's name, phone or
e-mail; sensitive categories show the grid's centroid and no description. ``api_key`` is an account's API key (the
same keys as ``X-API-Key``) or a signed token, of an account with the ``system``, ``dispatcher`` or ``admin``
role, or one of the keys in ``GRIDMAP_OPEN311_API_KEYS`` (comma-separated). An ``Idempotency-Key`` header is honoured on POST. Extension:
``crs`` (wgs84 | cgcs2000 | gcj02 | bd09) on POST; ``lat``/``long`` are WGS84 otherwise.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import xml.etree.ElementTree as ET
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.auth import _principal_for_api_key, read_token
from api.errors import status_for
from gis import incidents as R
from gis.domain import UserRole
from gis.errors import GridmapError, NotAuthenticated, NotFound
from layers import incidents as inc

router = APIRouter(prefix="/open311/v2", tags=["open311 GeoReport v2"])

SPEC = "http://wiki.open311.org/GeoReport_v2"
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
DEFAULT_WINDOW_DAYS = 90
MAX_REQUESTS = 1000
KEY_ROLES = (UserRole.SYSTEM.value, UserRole.DISPATCHER.value, UserRole.ADMIN.value)
_BOTH = {"application/json": {}, "text/xml": {}}
ANSWERS: dict = {200: {"description": "JSON 或 XML，按路径后缀 (JSON or XML, by the path's suffix)", "content": _BOTH},
                 400: {"description": "参数有误 (bad request)", "content": _BOTH},
                 403: {"description": "api_key 无效 (invalid api_key)", "content": _BOTH},
                 404: {"description": "不存在或格式不支持 (not found, or an unsupported format)", "content": _BOTH}}


class Open311Error(Exception):
    """An error answered in the spec's form."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# ------------------------------------------------------------------------------------------- serialisation
def _xml_value(parent: ET.Element, tag: str, value: Any) -> None:
    el = ET.SubElement(parent, tag)
    if value is None:
        return
    if isinstance(value, bool):
        el.text = "true" if value else "false"
    elif isinstance(value, list):
        el.text = ",".join(str(v) for v in value)
    else:
        el.text = str(value)


def _xml(root: str, item: str | None, data: Any) -> bytes:
    top = ET.Element(root)
    items = data if isinstance(data, list) else [data]
    for obj in items:
        parent = ET.SubElement(top, item) if item else top
        for k, v in obj.items():
            if isinstance(v, list) and v and isinstance(v[0], dict):
                holder = ET.SubElement(parent, k)
                for sub in v:
                    child = ET.SubElement(holder, k[:-1] if k.endswith("s") else k)
                    for sk, sv in sub.items():
                        _xml_value(child, sk, sv)
            else:
                _xml_value(parent, k, v)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8", xml_declaration=False)


def _answer(fmt: str, data: Any, *, root: str, item: str | None, status: int = 200,
            headers: dict[str, str] | None = None) -> Response:
    if fmt == "xml":
        body = _xml(root, item, data)
    else:
        body = json.dumps(data, ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type=FORMATS[fmt], headers=headers)


def _error(fmt: str, status: int, description: str) -> Response:
    return _answer(fmt if fmt in FORMATS else "json", [{"code": status, "description": description}],
                   root="errors", item="error", status=status)


def _fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"不支持的格式 {fmt!r}，请用 .json 或 .xml (unsupported format; use .json or .xml)")
    return fmt


def _status_of(exc: GridmapError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, NotAuthenticated):
        return 403
    s = status_for(exc)
    return 400 if s == 422 else s


def _run(fmt: str, fn) -> Response:
    try:
        return fn(_fmt(fmt))
    except Open311Error as e:
        return _error(fmt, e.status, e.description)
    except GridmapError as e:
        return _error(fmt, _status_of(e), e.message)


# ---------------------------------------------------------------------------------------------- mapping
def _service(c: R.Category) -> dict[str, Any]:
    return {"service_code": c.code, "service_name": f"{c.zh} ({c.en})",
            "description": f"{c.zh}：由网格{c.role.zh}处置，时限 {c.deadline_h:g} 小时 ({c.en}: handled by the grid's "
                           f"{c.role.value}, within {c.deadline_h:g} h)",
            "metadata": False, "type": "realtime", "keywords": ",".join((c.zh, c.en, *c.keywords)),
            "group": c.family}


def _w3c(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def _request(session, i, d) -> dict[str, Any]:
    v = inc.view(session, i, d, "public")
    cat = inc.categories().get(i.category)
    grid = v["grid"]
    if d.assignee_unit:
        agency = d.assignee_unit
    elif grid:
        agency = f"{grid['name']}（{R.L(i.level).zh}）"
    else:
        agency = R.L(i.level).zh
    return {
        "service_request_id": str(i.id), "status": R.open311_status(i.state),
        "status_notes": R.status_notes(i.state, i.level),
        "service_name": f"{cat.zh} ({cat.en})" if cat else i.category, "service_code": i.category,
        "description": v["description"], "agency_responsible": agency,
        "service_notice": f"重复上报，已并入 #{d.duplicate_of} (duplicate of #{d.duplicate_of})" if d.duplicate_of else None,
        "requested_datetime": _w3c(i.created_at), "updated_datetime": _w3c(i.updated_at),
        "expected_datetime": _w3c(i.due_at), "address": None if d.sensitive else d.extra.get("address"),
        "address_id": None, "zipcode": None, "lat": v["point"]["lat"], "long": v["point"]["lon"],
        "media_url": None if d.sensitive else d.extra.get("media_url"),
    }


def _parse_dt(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Open311Error(400, f"{name} 须为 ISO 8601 时间，如 2026-03-01T00:00:00Z ({name} must be an ISO 8601 "
                                "date-time)") from exc
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _check_api_key(request: Request, key: str | None) -> str:
    """The actor name of a valid ``api_key``; :class:`Open311Error` 403 otherwise."""
    if not key:
        raise Open311Error(403, "缺少 api_key (api_key is required)")
    keys = getattr(request.app.state, "open311_api_keys", None)
    if keys is None:
        keys = request.app.state.settings.api.open311_keys
    for k in keys:
        if hmac.compare_digest(k.encode(), key.encode()):
            return f"open311:key-{hmac.new(b'open311', k.encode(), 'sha256').hexdigest()[:8]}"
    try:
        if "." in key:  # a signed token
            p = read_token(key, request.app.state.settings.api.secret_key)
        else:  # an account's API key (the same keys as X-API-Key)
            p = _principal_for_api_key(request, key)
    except NotAuthenticated as exc:
        raise Open311Error(403, "api_key 无效 (invalid api_key)") from exc
    if not p.has_any(*KEY_ROLES):
        raise Open311Error(403, "此 api_key 无权提交请求 (this api_key may not post requests)")
    return f"open311:{p.subject}"


# ------------------------------------------------------------------------------------------------ routes
@router.get("/discovery.{fmt}", responses=ANSWERS, summary="Open311 服务发现 (service discovery)")
def discovery(fmt: str, request: Request) -> Response:
    """Where the GeoReport v2 endpoint is and which formats it speaks."""
    base = request.app.state.settings.api.public_base_url.rstrip("/") + "/open311/v2"
    data = {"changeset": "2026-03-01T00:00:00Z", "contact": "gridmap 指挥中心 (dispatch centre)",
            "key_service": "向管理员申请 api_key (ask the administrator for an api_key)",
            "endpoints": [{"specification": SPEC, "url": base, "changeset": "2026-03-01T00:00:00Z",
                           "type": "production", "formats": ["application/json", "text/xml"]}]}

    def go(f):
        if f == "xml":
            top = ET.Element("discovery")
            for k in ("changeset", "contact", "key_service"):
                _xml_value(top, k, data[k])
            eps = ET.SubElement(top, "endpoints")
            ep = ET.SubElement(eps, "endpoint")
            for k in ("specification", "url", "changeset", "type"):
                _xml_value(ep, k, data["endpoints"][0][k])
            fm = ET.SubElement(ep, "formats")
            for x in data["endpoints"][0]["formats"]:
                _xml_value(fm, "format", x)
            return Response(b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8"),
                            media_type=FORMATS["xml"])
        return _answer(f, data, root="discovery", item=None)

    return _run(fmt, go)


@router.get("/services.{fmt}", responses=ANSWERS, summary="服务类型列表（即事件类别）(service list: our incident categories)")
def services(fmt: str) -> Response:
    """Every category as a GeoReport service (``metadata`` false: no extra attributes)."""
    return _run(fmt, lambda f: _answer(f, [_service(c) for c in inc.categories().values()], root="services",
                                       item="service"))


@router.get("/services/{service_code}.{fmt}", responses=ANSWERS, summary="服务定义 (service definition)")
def service_definition(service_code: str, fmt: str) -> Response:
    """The definition of one service; ours have no extra attributes."""
    def go(f):
        if service_code not in inc.categories():
            raise Open311Error(404, f"没有服务 {service_code!r} (no service_code {service_code!r})")
        data = {"service_code": service_code, "attributes": []}
        return _answer(f, data, root="service_definition", item=None)

    return _run(fmt, go)


@router.post("/requests.{fmt}", responses=ANSWERS, summary="提交服务请求（需 api_key）(create a service request; needs api_key)",
             openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                 "type": "object", "required": ["api_key", "service_code", "lat", "long"],
                 "properties": {k: {"type": "string"} for k in (
                     "api_key", "service_code", "lat", "long", "address_string", "email", "device_id",
                     "account_id", "first_name", "last_name", "phone", "description", "media_url", "crs")}}}},
                 "required": True}})
async def post_request(fmt: str, request: Request) -> Response:
    """Form-encoded (or JSON) per the spec; answers ``[{service_request_id, service_notice, account_id}]``."""
    ctype = request.headers.get("content-type", "")
    try:
        if "json" in ctype:
            form = await request.json()
            if not isinstance(form, dict):
                raise ValueError("not an object")
        else:
            form = dict((await request.form()).items())
    except (ValueError, TypeError):
        return _error(fmt, 400, "请求体无法解析 (the request body cannot be parsed)")
    idem = request.headers.get("idempotency-key")

    def go(f):
        actor = _check_api_key(request, form.get("api_key"))
        code = form.get("service_code")
        if not code:
            raise Open311Error(400, "缺少 service_code (service_code is required)")
        if code not in inc.categories():
            raise Open311Error(404, f"没有服务 {code!r} (no service_code {code!r})")
        if form.get("lat") in (None, "") or form.get("long") in (None, ""):
            raise Open311Error(400, "须给出 lat 与 long（仅地址不受支持）(lat and long are required; an address "
                                    "alone is not supported)")
        try:
            lat, lon = float(form["lat"]), float(form["long"])
        except (TypeError, ValueError) as exc:
            raise Open311Error(400, "lat/long 须为数字 (lat and long must be numbers)") from exc
        name = " ".join(x for x in (form.get("last_name"), form.get("first_name")) if x) or None
        attrs = {k[len("attribute["):-1]: v for k, v in form.items() if k.startswith("attribute[") and k.endswith("]")}
        body = {"category": code, "lon": lon, "lat": lat, "crs": form.get("crs") or "wgs84",
                "description": form.get("description"), "reporter_name": name, "reporter_phone": form.get("phone"),
                "reporter_email": form.get("email"), "address": form.get("address_string"),
                "media_url": form.get("media_url"), "attributes": attrs or None}
        session = request.app.state.sessionmaker()
        try:
            answer, replayed, iid = inc.create_incident(session, body, idempotency_key=idem, channel="open311",
                                                        actor=actor)
            session.commit()
        finally:
            session.close()
        i = answer["incident"]
        if i["duplicate_of"]:
            notice = f"已并入相同事件 #{i['duplicate_of']} (merged into #{i['duplicate_of']})"
        elif answer["grid"]:
            notice = f"已受理，由{answer['grid']['name']}处置，时限 {i['due_at']} (accepted; grid {answer['grid']['code']})"
        else:
            notice = "已受理 (accepted)"
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return _answer(f, [{"service_request_id": str(iid), "service_notice": notice, "account_id": None}],
                       root="service_requests", item="request", headers=headers)

    return await run_in_threadpool(_run, fmt, go)


@router.get("/requests.{fmt}", responses=ANSWERS, summary="查询服务请求 (query service requests)")
def get_requests(fmt: str, request: Request) -> Response:
    """Filters: ``service_request_id`` (comma list; the others are then ignored), ``service_code`` (comma list),
    ``start_date``, ``end_date`` (default the last 90 days; a range spans at most 90 days), ``status`` (open,
    closed); at most 1000, newest first."""
    q = request.query_params

    def go(f):
        session = request.app.state.sessionmaker()
        try:
            if q.get("service_request_id"):
                try:
                    ids = [int(x) for x in q["service_request_id"].split(",") if x.strip()]
                except ValueError as exc:
                    raise Open311Error(400, "service_request_id 须为数字 (service_request_id must be numbers)") from exc
                rows = inc.query(session, ids=ids, limit=MAX_REQUESTS)
            else:
                start, end = _parse_dt(q.get("start_date"), "start_date"), _parse_dt(q.get("end_date"), "end_date")
                window = dt.timedelta(days=DEFAULT_WINDOW_DAYS)
                if start is None and end is None:
                    start = inc.utcnow() - window
                elif start is None:
                    start = end - window
                elif end is None:
                    end = start + window
                elif end - start > window:
                    raise Open311Error(400, f"start_date 与 end_date 相隔不得超过 {DEFAULT_WINDOW_DAYS} 天 (the range "
                                            f"may not span more than {DEFAULT_WINDOW_DAYS} days)")
                codes = [c for c in (q.get("service_code") or "").split(",") if c]
                statuses = {s for s in (q.get("status") or "").split(",") if s}
                if statuses - {"open", "closed"}:
                    raise Open311Error(400, "status 须为 open 或 closed (status must be open or closed)")
                status = next(iter(statuses)) if len(statuses) == 1 else None
                rows = inc.query(session, category=codes or None, status=status, since=start, until=end,
                                 limit=MAX_REQUESTS)
            data = [_request(session, i, d) for i, d in rows]
        finally:
            session.close()
        return _answer(f, data, root="service_requests", item="request")

    return _run(fmt, go)


@router.get("/requests/{service_request_id}.{fmt}", responses=ANSWERS, summary="单个服务请求 (one service request)")
def get_request(service_request_id: str, fmt: str, request: Request) -> Response:
    """An array of one request, as the spec has it."""
    def go(f):
        if not service_request_id.isdigit():
            raise Open311Error(404, f"没有请求 {service_request_id} (no service_request_id {service_request_id})")
        session = request.app.state.sessionmaker()
        try:
            i, d = inc.load(session, int(service_request_id))
            data = [_request(session, i, d)]
        finally:
            session.close()
        return _answer(f, data, root="service_requests", item="request")

    return _run(fmt, go)


@router.get("/tokens/{token}.{fmt}", responses=ANSWERS, summary="由令牌查请求编号 (the request id of a token)")
def get_token(token: str, fmt: str, request: Request) -> Response:
    """``[{service_request_id, token}]``."""
    def go(f):
        session = request.app.state.sessionmaker()
        try:
            iid = inc.by_token(session, token)
        finally:
            session.close()
        return _answer(f, [{"service_request_id": str(iid), "token": token}], root="service_requests",
                       item="request")

    return _run(fmt, go)


"""Open311 GeoReport v2 at ``/open311/v2/``: discovery, services, service definitions, requests (GET with the
spec's filters, POST with ``api_key``), one request, tokens — in JSON and XML, errors as the spec gives them
(``[{"code": 400, "description": "..."}]`` / ``<errors><error>…``); the wire format is :mod:`api.open311_format`.

Service codes are our incident categories. ``status`` is ``open`` or ``closed``; ``status_notes`` carries our
state and level (上报/立案/…/结案, 网格/社区/街道/区). Answers are public: never the reporter's name, phone or
e-mail; sensitive categories show the grid's centroid and no description. ``api_key`` is an account's API key (the
same keys as ``X-API-Key``) or a signed token, of an account with the ``system``, ``dispatcher`` or ``admin``
role, or one of the keys in ``GRIDMAP_OPEN311_API_KEYS`` (comma-separated). An ``Idempotency-Key`` header is
honoured on POST. The endpoint serves one jurisdiction (``GRIDMAP_OPEN311_JURISDICTION_ID``): ``jurisdiction_id``
may be omitted, one naming another jurisdiction is a 404. Times are in ``GRIDMAP_TIMEZONE`` with their offset.
Extension: ``crs`` (wgs84 | cgcs2000 | gcj02 | bd09) on POST; ``lat``/``long`` are WGS84 otherwise.
"""

from __future__ import annotations

import datetime as dt
import hmac
import xml.etree.ElementTree as ET
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.auth import _principal_for_api_key, principal_for_token
from api.errors import status_for
from api.open311_format import (
    FORMATS,
    XML_DECLARATION,
    Open311Error,
    answer,
    check_format,
    error,
    local_text,
    parse_time,
    read_body,
    w3c,
)
from gis import incidents as rules
from gis.domain import HandlingLevel, UserRole
from gis.errors import GridmapError, NotAuthenticated, NotFound
from gis.text import web_url_or_none
from layers import incidents as inc

router = APIRouter(prefix="/open311/v2", tags=["open311 GeoReport v2"])

SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-03-01T00:00:00+08:00"
DEFAULT_WINDOW_DAYS = 90
MAX_REQUESTS = 1000
MAX_ID = 2**31 - 1
KEY_ROLES = (UserRole.SYSTEM.value, UserRole.DISPATCHER.value, UserRole.ADMIN.value)
_BOTH = {"application/json": {}, "text/xml": {}}
ANSWERS: dict = {200: {"description": "JSON 或 XML，按路径后缀 (JSON or XML, by the path's suffix)", "content": _BOTH},
                 400: {"description": "参数有误 (bad request)", "content": _BOTH},
                 403: {"description": "api_key 无效 (invalid api_key)", "content": _BOTH},
                 404: {"description": "不存在、格式不支持或 jurisdiction_id 不符 (not found, an unsupported format, or "
                                      "another jurisdiction)", "content": _BOTH}}
POST_FIELDS = ("api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string", "email", "device_id",
               "account_id", "first_name", "last_name", "phone", "description", "media_url", "crs")


def _status_of(exc: GridmapError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, NotAuthenticated):
        return 403
    s = status_for(exc)
    return 400 if s == 422 else s


def _run(fmt: str, fn) -> Response:
    try:
        return fn(check_format(fmt))
    except Open311Error as e:
        return error(fmt, e.status, e.description)
    except GridmapError as e:
        return error(fmt, _status_of(e), e.message)


def _zone(request: Request) -> dt.tzinfo:
    return request.app.state.settings.api.zone


def check_jurisdiction(request: Request, value: Any) -> None:
    """The spec's ``jurisdiction_id``: optional here (one jurisdiction is served; empty is the same as absent),
    and one that names another jurisdiction is the spec's 404 "jurisdiction_id provided was not found"."""
    ours = request.app.state.settings.api.open311_jurisdiction_id
    if value is None or str(value).strip() == "":
        return
    if str(value).strip().lower() != ours.lower():
        raise Open311Error(404, f"没有辖区 {str(value)[:100]!r}：本接口只服务 {ours}，jurisdiction_id 可省略 "
                                f"(jurisdiction_id provided was not found; this endpoint serves {ours} only and the "
                                "parameter may be omitted)")


# ---------------------------------------------------------------------------------------------- mapping
def _service(c: rules.Category) -> dict[str, Any]:
    return {"service_code": c.code, "service_name": f"{c.zh} ({c.en})",
            "description": f"{c.zh}：由网格{c.role.zh}处置，时限 {c.deadline_h:g} 小时 ({c.en}: handled by the grid's "
                           f"{c.role.value}, within {c.deadline_h:g} h)",
            "metadata": False, "type": "realtime", "keywords": ",".join((c.zh, c.en, *c.keywords)),
            "group": c.family}


def _agency(i, d, grid: dict | None) -> str:
    if d.assignee_unit:
        return d.assignee_unit
    if grid:
        return f"{grid['name']}（{HandlingLevel(i.level).zh}）"
    return HandlingLevel(i.level).zh


def _request(session, i, d, zone: dt.tzinfo) -> dict[str, Any]:
    v = inc.view(session, i, d, "public")
    cat = inc.categories().get(i.category)
    return {
        "service_request_id": str(i.id), "status": rules.open311_status(i.state),
        "status_notes": rules.status_notes(i.state, i.level),
        "service_name": f"{cat.zh} ({cat.en})" if cat else i.category, "service_code": i.category,
        "description": v["description"], "agency_responsible": _agency(i, d, v["grid"]),
        "service_notice": f"重复上报，已并入 #{d.duplicate_of} (duplicate of #{d.duplicate_of})" if d.duplicate_of else None,
        "requested_datetime": w3c(i.created_at, zone), "updated_datetime": w3c(i.updated_at, zone),
        "expected_datetime": w3c(i.due_at, zone), "address": None if d.sensitive else d.extra.get("address"),
        "address_id": None, "zipcode": None, "lat": v["point"]["lat"], "long": v["point"]["lon"],
        "media_url": None if d.sensitive else web_url_or_none(d.extra.get("media_url")),
    }


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
            p = principal_for_token(request, key)
        else:  # an account's API key (the same keys as X-API-Key)
            p = _principal_for_api_key(request, key)
    except NotAuthenticated as exc:
        raise Open311Error(403, "api_key 无效 (invalid api_key)") from exc
    if not p.has_any(*KEY_ROLES):
        raise Open311Error(403, "此 api_key 无权提交请求 (this api_key may not post requests)")
    return f"open311:{p.subject}"


def _incident_body(form: dict[str, Any]) -> dict[str, Any]:
    """The POSTed fields as an incident report (the spec's names → ours); 400/404 for what is missing or wrong."""
    code = form.get("service_code")
    if not code:
        raise Open311Error(400, "缺少 service_code (service_code is required)")
    if code not in inc.categories():
        raise Open311Error(404, f"没有服务 {str(code)[:100]!r} (no service_code {str(code)[:100]!r})")
    if form.get("lat") in (None, "") or form.get("long") in (None, ""):
        raise Open311Error(400, "须给出 lat 与 long（仅地址不受支持）(lat and long are required; an address "
                                "alone is not supported)")
    try:
        lat, lon = float(form["lat"]), float(form["long"])
    except (TypeError, ValueError) as exc:
        raise Open311Error(400, "lat/long 须为数字 (lat and long must be numbers)") from exc
    name = " ".join(x for x in (form.get("last_name"), form.get("first_name")) if x) or None
    attrs = {k[len("attribute["):-1]: v for k, v in form.items() if k.startswith("attribute[") and k.endswith("]")}
    return {"category": code, "lon": lon, "lat": lat, "crs": form.get("crs") or "wgs84",
            "description": form.get("description"), "reporter_name": name, "reporter_phone": form.get("phone"),
            "reporter_email": form.get("email"), "address": form.get("address_string"),
            "media_url": form.get("media_url"), "attributes": attrs or None}


def _notice(result: dict[str, Any], zone: dt.tzinfo) -> str:
    i = result["incident"]
    if i["duplicate_of"]:
        return f"已并入相同事件 #{i['duplicate_of']} (merged into #{i['duplicate_of']})"
    if result["grid"]:
        due = dt.datetime.fromisoformat(i["due_at"]) if i["due_at"] else None
        return (f"已受理，由{result['grid']['name']}处置，时限 {local_text(due, zone)} (accepted; grid "
                f"{result['grid']['code']}, due {w3c(due, zone)})")
    return "已受理 (accepted)"


# ------------------------------------------------------------------------------------------------ routes
@router.get("/discovery.{fmt}", responses=ANSWERS, summary="Open311 服务发现 (service discovery)")
def discovery(fmt: str, request: Request) -> Response:
    """Where the GeoReport v2 endpoint is (``GRIDMAP_PUBLIC_BASE_URL``, else the address this request came to)
    and which formats it speaks."""
    root = request.app.state.settings.api.public_base_url or str(request.base_url)
    endpoint = {"specification": SPEC, "url": root.rstrip("/") + "/open311/v2", "changeset": CHANGESET,
                "type": "production", "formats": ["application/json", "text/xml"]}
    data = {"changeset": CHANGESET, "contact": "gridmap 指挥中心 (dispatch centre)",
            "key_service": "向管理员申请 api_key (ask the administrator for an api_key)", "endpoints": [endpoint]}

    def go(f):
        if f == "json":
            return answer(f, data, root="discovery", item=None)
        top = ET.Element("discovery")
        for k in ("changeset", "contact", "key_service"):
            ET.SubElement(top, k).text = data[k]
        ep = ET.SubElement(ET.SubElement(top, "endpoints"), "endpoint")
        for k in ("specification", "url", "changeset", "type"):
            ET.SubElement(ep, k).text = endpoint[k]
        formats = ET.SubElement(ep, "formats")
        for x in endpoint["formats"]:
            ET.SubElement(formats, "format").text = x
        return Response(XML_DECLARATION + ET.tostring(top, encoding="utf-8"), media_type=FORMATS["xml"])

    return _run(fmt, go)


@router.get("/services.{fmt}", responses=ANSWERS, summary="服务类型列表（即事件类别）(service list: our incident categories)")
def services(fmt: str, request: Request) -> Response:
    """Every category as a GeoReport service (``metadata`` false: no extra attributes)."""
    def go(f):
        check_jurisdiction(request, request.query_params.get("jurisdiction_id"))
        return answer(f, [_service(c) for c in inc.categories().values()], root="services", item="service")

    return _run(fmt, go)


@router.get("/services/{service_code}.{fmt}", responses=ANSWERS, summary="服务定义 (service definition)")
def service_definition(service_code: str, fmt: str, request: Request) -> Response:
    """The definition of one service; ours have no extra attributes."""
    def go(f):
        check_jurisdiction(request, request.query_params.get("jurisdiction_id"))
        if service_code not in inc.categories():
            raise Open311Error(404, f"没有服务 {service_code[:100]!r} (no service_code {service_code[:100]!r})")
        return answer(f, {"service_code": service_code, "attributes": []}, root="service_definition", item=None)

    return _run(fmt, go)


@router.post("/requests.{fmt}", responses=ANSWERS, summary="提交服务请求（需 api_key）(create a service request; needs api_key)",
             openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                 "type": "object", "required": ["api_key", "service_code", "lat", "long"],
                 "properties": {k: {"type": "string"} for k in POST_FIELDS}}}},
                 "required": True}})
async def post_request(fmt: str, request: Request) -> Response:
    """Form-encoded (UTF-8, with or without ``charset``), multipart or JSON per the spec; answers
    ``[{service_request_id, service_notice, account_id}]``."""
    try:
        form = await read_body(request)
    except Open311Error as e:
        return error(fmt, e.status, e.description)
    idem = request.headers.get("idempotency-key")
    zone = _zone(request)

    def go(f):
        check_jurisdiction(request, form.get("jurisdiction_id"))
        actor = _check_api_key(request, form.get("api_key"))
        body = _incident_body(form)
        session = request.app.state.sessionmaker()
        try:
            result, replayed, iid = inc.create_incident(session, body, idempotency_key=idem, channel="open311",
                                                        actor=actor)
            session.commit()
        finally:
            session.close()
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return answer(f, [{"service_request_id": str(iid), "service_notice": _notice(result, zone),
                           "account_id": None}], root="service_requests", item="request", headers=headers)

    return await run_in_threadpool(_run, fmt, go)


def _window(q, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime | None]:
    """``start_date``/``end_date`` with the spec's default: the last 90 days, a range of at most 90 days."""
    start, end = parse_time(q.get("start_date"), "start_date", zone), parse_time(q.get("end_date"), "end_date", zone)
    window = dt.timedelta(days=DEFAULT_WINDOW_DAYS)
    if start is None and end is None:
        return inc.utcnow() - window, None
    if start is None:
        return end - window, end
    if end is None:
        return start, start + window
    if end - start > window:
        raise Open311Error(400, f"start_date 与 end_date 相隔不得超过 {DEFAULT_WINDOW_DAYS} 天 (the range may not span "
                                f"more than {DEFAULT_WINDOW_DAYS} days)")
    return start, end


def _query(session, q, zone: dt.tzinfo) -> list:
    if q.get("service_request_id"):
        try:
            ids = [int(x) for x in q["service_request_id"].split(",") if x.strip()]
        except ValueError as exc:
            raise Open311Error(400, "service_request_id 须为数字 (service_request_id must be numbers)") from exc
        return inc.query(session, ids=[i for i in ids if 0 < i <= MAX_ID], limit=MAX_REQUESTS)
    start, end = _window(q, zone)
    codes = [c for c in (q.get("service_code") or "").split(",") if c]
    statuses = {s for s in (q.get("status") or "").split(",") if s}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, "status 须为 open 或 closed (status must be open or closed)")
    status = next(iter(statuses)) if len(statuses) == 1 else None
    return inc.query(session, category=codes or None, status=status, since=start, until=end, limit=MAX_REQUESTS)


@router.get("/requests.{fmt}", responses=ANSWERS, summary="查询服务请求 (query service requests)")
def get_requests(fmt: str, request: Request) -> Response:
    """Filters: ``service_request_id`` (comma list; the others are then ignored), ``service_code`` (comma list),
    ``start_date``, ``end_date`` (default the last 90 days; a range spans at most 90 days; a time without an offset
    is read in the configured zone), ``status`` (open, closed); at most 1000, newest first."""
    q, zone = request.query_params, _zone(request)

    def go(f):
        check_jurisdiction(request, q.get("jurisdiction_id"))
        session = request.app.state.sessionmaker()
        try:
            data = [_request(session, i, d, zone) for i, d in _query(session, q, zone)]
        finally:
            session.close()
        return answer(f, data, root="service_requests", item="request")

    return _run(fmt, go)


@router.get("/requests/{service_request_id}.{fmt}", responses=ANSWERS, summary="单个服务请求 (one service request)")
def get_request(service_request_id: str, fmt: str, request: Request) -> Response:
    """An array of one request, as the spec has it."""
    def go(f):
        check_jurisdiction(request, request.query_params.get("jurisdiction_id"))
        if not service_request_id.isdigit() or int(service_request_id) > MAX_ID:
            raise Open311Error(404, f"没有请求 {service_request_id[:20]} (no service_request_id {service_request_id[:20]})")
        session = request.app.state.sessionmaker()
        try:
            i, d = inc.load(session, int(service_request_id))
            data = [_request(session, i, d, _zone(request))]
        finally:
            session.close()
        return answer(f, data, root="service_requests", item="request")

    return _run(fmt, go)


@router.get("/tokens/{token}.{fmt}", responses=ANSWERS, summary="由令牌查请求编号 (the request id of a token)")
def get_token(token: str, fmt: str, request: Request) -> Response:
    """``[{service_request_id, token}]``."""
    def go(f):
        check_jurisdiction(request, request.query_params.get("jurisdiction_id"))
        session = request.app.state.sessionmaker()
        try:
            iid = inc.by_token(session, token)
        finally:
            session.close()
        return answer(f, [{"service_request_id": str(iid), "token": token}], root="service_requests",
                      item="request")

    return _run(fmt, go)

"""The wire format of Open311 GeoReport v2: reading a client's body, writing JSON/XML, errors, times.

- Bodies: ``application/x-www-form-urlencoded`` is decoded as UTF-8 (the spec's "all text received … will be
  assumed to be UTF-8") whether or not the client declares a charset — raw UTF-8 bytes and percent-escapes alike;
  a declared charset other than UTF-8 (e.g. ``gbk``) is honoured; bytes that are not text in it are a 400.
  JSON bodies and multipart forms are read too.
- Times: W3C date-times in the configured zone (``GRIDMAP_TIMEZONE``) with its offset, whole seconds.
- Errors: ``[{"code": 400, "description": "…"}]`` or ``<errors><error><code>…``.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import Response

from gis.text import xml_safe

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'
MAX_FIELDS = 200


class Open311Error(Exception):
    """An error answered in the spec's form."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# ------------------------------------------------------------------------------------------------ reading
def _media_type(header: str) -> tuple[str, dict[str, str]]:
    """``text/plain; charset=UTF-8`` → ``("text/plain", {"charset": "utf-8"})``."""
    kind, *rest = header.split(";")
    params = {}
    for part in rest:
        name, _, value = part.partition("=")
        params[name.strip().lower()] = value.strip().strip('"').lower()
    return kind.strip().lower(), params


def decode_urlencoded(body: bytes, charset: str | None) -> dict[str, str]:
    """A form-encoded body as a dict (the last value of a repeated field wins), decoded in ``charset``
    (default UTF-8); :class:`Open311Error` 400 when the bytes are not text in it."""
    charset = charset or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError as exc:
        raise Open311Error(400, f"不支持的字符集 {charset!r}，请用 UTF-8 (unsupported charset; send UTF-8)") from exc
    try:
        text = body.decode(charset)
        pairs = parse_qsl(text, keep_blank_values=True, encoding=charset, errors="strict",
                          max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError as exc:
        raise Open311Error(400, f"请求体不是有效的 {charset.upper()} 文本 (the body is not valid {charset} text)") \
            from exc
    except ValueError as exc:
        raise Open311Error(400, f"字段过多（最多 {MAX_FIELDS} 个）(too many fields; at most {MAX_FIELDS})") from exc
    return dict(pairs)


async def read_body(request: Request) -> dict[str, Any]:
    """The fields a client POSTed: form-encoded (UTF-8 unless declared otherwise), multipart or JSON."""
    kind, params = _media_type(request.headers.get("content-type", ""))
    if kind == "application/json" or kind.endswith("+json"):
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as exc:
            raise Open311Error(400, "请求体不是有效的 JSON (the body is not valid JSON)") from exc
        if not isinstance(data, dict):
            raise Open311Error(400, "JSON 请求体须为对象 (the JSON body must be an object)")
        return data
    if kind == "multipart/form-data":
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    return decode_urlencoded(await request.body(), params.get("charset"))


# ------------------------------------------------------------------------------------------------ writing
def w3c(t: dt.datetime | None, zone: dt.tzinfo) -> str | None:
    """A W3C date-time in ``zone`` with its offset and whole seconds (``2026-03-01T08:00:00+08:00``)."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(zone).replace(microsecond=0).isoformat()


def local_text(t: dt.datetime | None, zone: dt.tzinfo) -> str | None:
    """A time for people to read: ``2026-03-01 08:00`` in ``zone``."""
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M") if t else None


def parse_time(value: str | None, name: str, zone: dt.tzinfo) -> dt.datetime | None:
    """A ``start_date``/``end_date`` query value; a time without an offset is read in ``zone``."""
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Open311Error(400, f"{name} 须为 ISO 8601 时间，如 2026-03-01T00:00:00+08:00 ({name} must be an ISO 8601 "
                                "date-time)") from exc
    return t if t.tzinfo else t.replace(tzinfo=zone)


def _xml_value(parent: ET.Element, tag: str, value: Any) -> None:
    el = ET.SubElement(parent, tag)
    if value is None:
        return
    if isinstance(value, bool):
        el.text = "true" if value else "false"
    elif isinstance(value, list):
        el.text = xml_safe(",".join(str(v) for v in value))
    else:
        el.text = xml_safe(str(value))


def _xml_object(parent: ET.Element, obj: dict[str, Any]) -> None:
    for key, value in obj.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            holder = ET.SubElement(parent, key)
            for sub in value:
                _xml_object(ET.SubElement(holder, key[:-1] if key.endswith("s") else key), sub)
        else:
            _xml_value(parent, key, value)


def xml_document(root: str, item: str | None, data: Any) -> bytes:
    """``data`` (an object or a list of them) as the spec's schemaless XML under ``root`` (each in ``item``)."""
    top = ET.Element(root)
    for obj in data if isinstance(data, list) else [data]:
        _xml_object(ET.SubElement(top, item) if item else top, obj)
    return XML_DECLARATION + ET.tostring(top, encoding="utf-8", xml_declaration=False)


def answer(fmt: str, data: Any, *, root: str, item: str | None, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    """``data`` in the format the path asked for."""
    body = xml_document(root, item, data) if fmt == "xml" else json.dumps(data, ensure_ascii=False).encode()
    return Response(body, status_code=status, media_type=FORMATS[fmt], headers=headers)


def error(fmt: str, status: int, description: str) -> Response:
    """An error in the spec's form (JSON when the format itself was not understood)."""
    return answer(fmt if fmt in FORMATS else "json", [{"code": status, "description": description}],
                  root="errors", item="error", status=status)


def check_format(fmt: str) -> str:
    """``json`` or ``xml``; 404 otherwise."""
    if fmt not in FORMATS:
        raise Open311Error(404, f"不支持的格式 {fmt!r}，请用 .json 或 .xml (unsupported format; use .json or .xml)")
    return fmt

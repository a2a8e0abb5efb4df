"""Request bodies the service can trust to be plain JSON: checked once, before any route reads them.

JSON as RFC 8259 has it: valid UTF-8; no ``NaN``/``Infinity`` and no number too large for a float (``1e309``);
no integer of more digits than Python converts (4,300); no lone UTF-16 surrogate in a ``\\uXXXX`` escape
(PostgreSQL cannot store one); nesting at most :data:`MAX_DEPTH` deep. Python's ``json`` module accepts all of
these (or, for the long integer, raises a ValueError that is not a JSONDecodeError), and each used to end in a 500
or in FastAPI's bare ``{"detail": …}``; now each is a 422 in the service's error format, with a message that says
what is wrong. Bodies are already bounded by :class:`api.limits.BodySizeLimit`; large ones are checked off the
event loop.
"""

from __future__ import annotations

import json
import math
import re

from starlette.concurrency import run_in_threadpool

MAX_DEPTH = 64
BIG_BODY = 64 * 1024  # bytes: a body this large is parsed in the thread pool, not on the event loop
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class BadJSON(ValueError):
    """The body is not JSON the service accepts; the message says why (Chinese first)."""


def _no_constant(name: str):
    raise BadJSON(f"JSON 中不能有 {name}，数值须为有限数 (JSON numbers must be finite: {name} is not allowed)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJSON(f"数值 {text[:40]} 超出范围 (the number {text[:40]} is too large for a float)")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:  # more digits than Python converts (sys.get_int_max_str_digits(), 4,300)
        raise BadJSON(f"整数位数过多（{len(text)} 位）(an integer has too many digits: {len(text)})") from exc


def _depth(value, limit: int) -> int:
    """Nesting depth of a parsed value, iteratively (no recursion), stopping once past ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def check_json(body: bytes) -> None:
    """Raise :class:`BadJSON` unless ``body`` is strict JSON (see the module's docstring); an empty body passes
    (the route says what it needs)."""
    if not body.strip():
        return
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadJSON("请求体不是有效的 UTF-8 文本 (the body is not valid UTF-8)") from exc
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_integer)
    except RecursionError as exc:
        raise BadJSON(f"JSON 嵌套过深（最多 {MAX_DEPTH} 层）(JSON nested deeper than {MAX_DEPTH} levels)") from exc
    except json.JSONDecodeError:
        return  # not JSON at all: the route answers that in its own words
    if _depth(value, MAX_DEPTH) > MAX_DEPTH:
        raise BadJSON(f"JSON 嵌套过深（最多 {MAX_DEPTH} 层）(JSON nested deeper than {MAX_DEPTH} levels)")
    if SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadJSON("文本中有孤立的代理字符（如 \\ud800），请检查编码 (the text holds a lone surrogate such as "
                          "\\ud800: it is not a character)") from exc


def _is_json(scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return False


class StrictJSON:
    """ASGI middleware: read a JSON body, check it with :func:`check_json`, answer 422 or replay it to the app."""

    def __init__(self, app, answer_422) -> None:
        self.app = app
        self.answer_422 = answer_422  # async (send, message) -> None: the service's error answer

    async def __call__(self, scope, receive, send):
        """Check JSON request bodies; pass everything else through untouched."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS") or not _is_json(scope):
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message]), send)
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            if len(body) > BIG_BODY:
                await run_in_threadpool(check_json, body)
            else:
                check_json(body)
        except BadJSON as exc:
            return await self.answer_422(send, str(exc))
        return await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}],
                                             receive), send)


def _replay(messages: list[dict], receive=None):
    """A ``receive`` that hands out ``messages`` first, then whatever the real one says (a disconnect)."""
    pending = list(messages)

    async def again():
        if pending:
            return pending.pop(0)
        if receive is None:
            return {"type": "http.disconnect"}
        return await receive()

    return again

"""A route class for the busiest calls: the answers FastAPI gives, with less of its work per request.

FastAPI resolves a route's parameters with one general walk (``solve_dependencies``) that looks at every
parameter's type again on each request: for ``GET /api/v1/locate`` and ``POST /api/v1/incidents`` that walk cost
more CPU than anything else between the socket and the route (cProfile of an in-process ASGI loop, py-spy under
wrk). :class:`LeanRoute` works out once, when the route is built, how each parameter is read, and on a request
only reads and validates: query and header values with the same pydantic fields FastAPI made, a JSON body with
the same body field, the security schemes (``OAuth2PasswordBearer``, ``APIKeyHeader``) by calling them.

Only the plain, successful case takes the short way. Whenever anything is not plain — a parameter missing or
invalid, a body that is not ``application/json`` or not JSON, dependency overrides (tests), FastAPI telemetry
switched on — FastAPI's own handler answers the request from the start, so every error answer is FastAPI's,
word for word. A route with anything the short way does not know (path or cookie parameters, list parameters,
other dependencies, a form body, an endpoint that is not ``async`` or does not return a ``Response``) simply
keeps FastAPI's handler. Nothing the short way does before it calls the endpoint has an effect: reading the
body (kept by the ``Request`` for FastAPI's handler), validating, and the security schemes' header reads.
"""

from __future__ import annotations

import copy
import inspect
import json
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import fastapi.routing
from fastapi import params
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import Json
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Awaitable[Response]]
SCALARS = (str, int, float, bool, str | None, int | None, float | None, bool | None)
ATOMIC = (type(None), str, int, float, bool)  # values deepcopy returns as they are
_MISSING = object()


@dataclass(frozen=True)
class _Param:
    """One query or header parameter: where to read it and the pydantic field that validates it."""

    name: str
    key: str  # the query key or header name the request carries it under
    where: str  # "query" | "header"
    field: Any  # fastapi's ModelField

    def value(self, request: Request) -> Any:
        """The validated value, or ``_MISSING`` when FastAPI's handler must answer (missing or invalid)."""
        source = request.query_params if self.where == "query" else request.headers
        raw = source.get(self.key)
        if raw is None:
            info = self.field.field_info
            if info.is_required():
                return _MISSING
            default = self.field.default
            if type(default) not in ATOMIC:  # FastAPI hands each request its own copy of a default
                default = copy.deepcopy(default)
            if not info.validate_default:
                return default
            raw = default
        value, errors = self.field.validate(raw, {}, loc=(self.where, self.key))
        return _MISSING if errors else value


@dataclass(frozen=True)
class _Plan:
    """How to call one endpoint: its security schemes, parameters and JSON body, worked out once."""

    call: Callable[..., Awaitable[Any]]
    request_name: str | None
    schemes: tuple[tuple[str, Any, str], ...]  # (argument, scheme, the scheme's own request argument)
    params: tuple[_Param, ...]
    body: tuple[str, Any] | None  # (argument, ModelField)
    overrides: Any  # the dependency overrides provider, or None

    async def values(self, request: Request) -> dict[str, Any] | None:
        """The endpoint's arguments, or ``None`` when FastAPI's handler must answer."""
        provider = self.overrides
        if provider is not None and getattr(provider, "dependency_overrides", None):
            return None
        values: dict[str, Any] = {}
        if self.body is not None:
            body = await self._json_body(request)
            if body is _MISSING:
                return None
        for name, scheme, argument in self.schemes:
            values[name] = await scheme(**{argument: request})
        for param in self.params:
            value = param.value(request)
            if value is _MISSING:
                return None
            values[param.name] = value
        if self.body is not None:
            name, field = self.body
            value, errors = field.validate(body, {}, loc=("body",))
            if errors:
                return None
            values[name] = value
        if self.request_name is not None:
            values[self.request_name] = request
        return values

    @staticmethod
    async def _json_body(request: Request) -> Any:
        """The parsed body when it is plain JSON sent as ``application/json``, else ``_MISSING``."""
        if request.headers.get("content-type") != "application/json":
            return _MISSING
        try:
            raw = await request.body()  # kept on the request: FastAPI's handler reads the same bytes
        except Exception:  # a client that went away: FastAPI's handler says so in its words
            return _MISSING
        if not raw:
            return _MISSING
        try:
            return json.loads(raw)
        except Exception:  # not JSON (or nested past the recursion limit): FastAPI's handler answers
            return _MISSING

    def handler(self, generic: Handler) -> Handler:
        """The request handler: the short way when the request is plain, else ``generic`` (FastAPI's)."""
        telemetry = _telemetry_probe()

        async def lean(request: Request) -> Response:
            if telemetry is None or telemetry() is not None:
                return await generic(request)
            values = await self.values(request)
            if values is None:
                return await generic(request)
            response = await self.call(**values)
            if not isinstance(response, Response):
                raise TypeError(f"{self.call.__qualname__} must return a Response (LeanRoute)")
            return response

        return lean


def _telemetry_probe() -> Callable[[], Any] | None:
    """FastAPI's "is telemetry collecting this request" function; ``None`` if this FastAPI has none (then the
    short way is never taken: it would not know what telemetry needs)."""
    try:
        from fastapi.telemetry._api import get_telemetry_data
    except ImportError:
        return None
    return get_telemetry_data


def _scalar_param(field: Any) -> _Param | None:
    info = field.field_info
    if isinstance(info, params.Query):
        where = "query"
    elif isinstance(info, params.Header):
        where = "header"
    else:
        return None
    if info.annotation not in SCALARS or any(type(item) is Json for item in info.metadata):
        return None
    if info.validation_alias is not None and info.validation_alias != field.alias:
        return None
    return _Param(name=field.name, key=field.alias, where=where, field=field)


def _scheme(sub: Any) -> tuple[str, Any, str] | None:
    """A security scheme that only reads headers (``OAuth2PasswordBearer``, ``APIKeyHeader`` …)."""
    call = sub.call
    argument = sub.http_connection_param_name or sub.request_param_name
    plain = not (sub.dependencies or sub.path_params or sub.query_params or sub.header_params
                 or sub.cookie_params or sub.body_params)
    if not (isinstance(call, SecurityBase) and type(call).__module__.startswith("fastapi.security.")
            and inspect.iscoroutinefunction(type(call).__call__)):
        return None
    if not plain or argument is None or sub.name is None or getattr(sub, "security_scopes_param_name", None):
        return None
    if getattr(sub, "concurrency", None) is not None or getattr(sub, "scope", None) not in (None, "function"):
        return None
    return sub.name, call, argument


def _returns_response(call: Callable[..., Any]) -> bool:
    try:
        returned = typing.get_type_hints(call).get("return")
    except Exception:  # an annotation that does not resolve: keep FastAPI's handler
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def plan_for(route: Any) -> _Plan | None:
    """The plan of ``route`` (an APIRoute or FastAPI's per-inclusion copy of one), or ``None`` if the short way
    does not know everything it asks for."""
    dependant = route.dependant
    call = dependant.call
    if not (inspect.iscoroutinefunction(call) and _returns_response(call)):
        return None
    if getattr(route, "is_sse_stream", False) or getattr(route, "is_json_stream", False):
        return None
    others = ("path_params", "cookie_params", "http_connection_param_name", "websocket_param_name",
              "background_tasks_param_name", "response_param_name", "security_scopes_param_name")
    if any(getattr(dependant, name, None) for name in others):
        return None
    schemes = [_scheme(sub) for sub in dependant.dependencies]
    found = [_scalar_param(field) for field in (*dependant.query_params, *dependant.header_params)]
    if None in schemes or None in found or len({s[1] for s in schemes}) != len(schemes):
        return None
    body = None
    if dependant.body_params:
        field = dependant.body_params[0]
        if (len(dependant.body_params) != 1 or getattr(route, "_embed_body_fields", True)
                or type(field.field_info) is not params.Body or getattr(field.field_info, "embed", False)):
            return None
        body = (field.name, field)
    return _Plan(call=call, request_name=dependant.request_param_name, schemes=tuple(schemes), params=tuple(found),
                 body=body, overrides=getattr(route, "dependency_overrides_provider", None))


class LeanRoute(APIRoute):
    """``APIRoute`` whose handler takes the short way for plain requests (see the module's docstring)."""

    def get_route_handler(self) -> Handler:
        """FastAPI's handler, wrapped in the short way when this route (as included) has a plan."""
        generic = super().get_route_handler()
        # FastAPI builds one handler per inclusion of a router, for a copy of the route that carries the
        # including routers' dependencies too; it names that copy in this context variable while it builds.
        current = getattr(fastapi.routing, "_effective_route_context_var", None)
        if current is None:  # a FastAPI that builds handlers some other way: keep its handler
            return generic
        context = current.get()
        route = context if context is not None and context.original_route is self else self
        plan = plan_for(route)
        return generic if plan is None else plan.handler(generic)

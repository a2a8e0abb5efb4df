"""Named FastAPI dependencies (``SessionDep`` for writes and reads that must see them, ``ReadSessionDep`` for
read-heavy endpoints that may use a read replica, ``SettingsDep``) and small reusable query parsers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import AfterValidator
from sqlalchemy.orm import Session

from api.read_your_writes import READ_AFTER_HEADER, WROTE_COOKIE
from api.settings import Settings
from gis.coords import parse_bbox
from gis.errors import InvalidInput
from gis.text import check_user_text
from layers.replica import parse_position


def get_settings(request: Request) -> Settings:
    """The settings this app was created with."""
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one request; committed by the route, always closed."""
    session = request.app.state.sessionmaker()
    try:
        yield session
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def read_after(request: Request) -> str | None:
    """The caller's last write position (the ``gridmap_wrote`` cookie or ``Gridmap-Read-After`` header), if any."""
    return parse_position(request.cookies.get(WROTE_COOKIE) or request.headers.get(READ_AFTER_HEADER))


def get_read_session(request: Request) -> Iterator[Session]:
    """A read-only session for a read-heavy endpoint: on the read replica when one is configured, answers and has
    replayed the caller's last write (the ``gridmap_wrote`` cookie or ``Gridmap-Read-After`` header), else on
    the primary (:mod:`layers.replica`)."""
    session, source = request.app.state.databases.read_session(after=read_after(request))
    request.state.read_source = source
    try:
        yield session
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def bbox_query(
    bbox: Annotated[
        str | None,
        Query(
            description="按范围过滤，WGS84：min_lon,min_lat,max_lon,max_lat "
            "(filter by bounding box, e.g. 102.13,38.47,102.25,38.55)",
            examples=["102.13,38.47,102.25,38.55"],
        ),
    ] = None,
) -> tuple[float, float, float, float] | None:
    """Parse and check the ``bbox`` query parameter."""
    return parse_bbox(bbox)


def _typed_text(value: str) -> str:
    """Refuse control characters, lone surrogates and non-characters in text people type (422)."""
    try:
        check_user_text(value, "text", len(value) + 1)
    except InvalidInput as exc:
        raise ValueError(exc.message) from exc
    return value


# Free text from users (names, descriptions, notes): stored as given, never with characters XML cannot carry.
UserText = Annotated[str, AfterValidator(_typed_text)]

SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
BBoxDep = Annotated[tuple[float, float, float, float] | None, Depends(bbox_query)]

"""Named FastAPI dependencies (``SessionDep``, ``SettingsDep``) and small reusable query parsers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from api.settings import Settings
from gis.coords import parse_bbox


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


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
BBoxDep = Annotated[tuple[float, float, float, float] | None, Depends(bbox_query)]

"""The short tokens residents follow what they sent from the public map with (``resident_tracks``): one per
report (随手拍, an incident), order (点单) or wish (微心愿), and the rating of a report or a wish when it is done.

A token is ten characters of Crockford's base 32 (:func:`gis.services.new_track_token`); it is the only thing the
tracking page needs, so it is never shown to anyone but the resident who sent the thing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from gis.errors import Conflict, InvalidInput, NotFound
from gis.services import TrackKind, new_track_token, normalise_track_token
from layers.services_models import ResidentTrack, ServiceOrder

LEGACY_MIN = 20  # an order's rating token before the short codes: secrets.token_urlsafe(24), 32 characters
UNKNOWN = "没有这个查询码，请核对后重试（查询码为 10 位字母和数字）(no such tracking code; it has 10 letters and digits)"


def issue(session: Session, kind: TrackKind, object_id: int) -> str:
    """A new token for ``(kind, object_id)`` (the caller commits)."""
    for _ in range(5):  # 2⁵⁰ tokens: a collision is all but impossible, and retried when it happens
        token = new_track_token()
        if session.get(ResidentTrack, token) is None:
            session.add(ResidentTrack(token=token, kind=kind.value, object_id=object_id))
            session.flush()
            return token
    raise RuntimeError("could not draw a free tracking token")


def find(session: Session, token: str | None) -> ResidentTrack:
    """The track of a token as typed (any case, spaces or dashes), or of an order's long rating token from before
    the short codes (migration 0662 gave those orders a code); :class:`NotFound` otherwise."""
    canonical = normalise_track_token(token)
    if canonical:
        track = session.get(ResidentTrack, canonical)
    elif token and LEGACY_MIN <= len(token) <= 64:
        track = session.scalar(select(ResidentTrack).join(ServiceOrder, ServiceOrder.id == ResidentTrack.object_id)
                               .where(ResidentTrack.kind == TrackKind.ORDER.value, ServiceOrder.resident_token == token))
    else:
        track = None
    if track is None:
        raise NotFound(UNKNOWN)
    return track


def token_of(session: Session, kind: TrackKind, object_id: int) -> str | None:
    """The token of an object, if it has one."""
    return session.scalar(select(ResidentTrack.token).where(ResidentTrack.kind == kind.value,
                                                            ResidentTrack.object_id == object_id))


def rate(track: ResidentTrack, rating: int, feedback: str | None, *, now: dt.datetime) -> None:
    """Record the resident's rating (1–5) of a report or wish; once only."""
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput("评分须为 1 到 5 颗星 (the rating must be 1–5 stars)", detail={"fields": {
            "rating": "请选择 1 到 5 颗星"}})
    if track.rating is not None:
        raise Conflict("已经评价过了，谢谢 (already rated; thank you)")
    track.rating, track.feedback, track.rated_at = rating, feedback, now

"""Domain errors shared by every layer.

``gis`` and ``layers`` raise these; ``api/errors.py`` maps each class to one HTTP status. A message says what
is wrong and what to do, in Chinese first, and never carries internals (SQL, stack traces, file paths).
"""

from __future__ import annotations

from typing import Any


class GridmapError(Exception):
    """Base class of every domain error; ``detail`` is safe to show to a user."""

    code = "error"

    def __init__(self, message: str, *, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or {}


class InvalidInput(GridmapError):
    """The caller sent a value that cannot be used (wrong range, wrong type, unknown option)."""

    code = "invalid_input"


class InvalidCoordinates(InvalidInput):
    """Longitude/latitude out of range, swapped, or outside the service area."""

    code = "invalid_coordinates"


class UnknownCRS(InvalidInput):
    """A coordinate reference system the service does not know."""

    code = "unknown_crs"


class InvalidGeometry(InvalidInput):
    """A geometry that is empty, of the wrong type, or not valid (e.g. self-intersecting)."""

    code = "invalid_geometry"


class PayloadTooLarge(InvalidInput):
    """A request body or batch larger than the configured limit."""

    code = "payload_too_large"


class RateLimited(GridmapError):
    """The caller used up a budget (requests or points a minute); ``retry_after_s`` says when to try again."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message, detail=detail)
        self.retry_after_s = retry_after_s


class NotFound(GridmapError):
    """The thing asked for does not exist."""

    code = "not_found"


class Conflict(GridmapError):
    """The request clashes with the current state (stale version, illegal transition, duplicate)."""

    code = "conflict"


class PlanConflict(Conflict):
    """A grid-plan edit based on a version that is no longer current, or a plan in the wrong status."""

    code = "plan_conflict"


class NotAuthenticated(GridmapError):
    """No valid credentials were given."""

    code = "not_authenticated"


class Forbidden(GridmapError):
    """The caller is known but may not do this."""

    code = "forbidden"


class ServiceUnavailable(GridmapError):
    """A backing service (the database) is not reachable right now; retry later."""

    code = "service_unavailable"

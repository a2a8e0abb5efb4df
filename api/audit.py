"""``AuditDep``: a per-request callable that writes who read or changed which personal data to the audit log.

Use it in a route: ``audit: AuditDep`` then ``audit("read", "ledger_entry", grid_code, {"count": n})``.
The entry is written and committed in its own transaction *before* the route returns the data, so a read
that cannot be audited fails (503) instead of leaking unrecorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from api.auth import OptionalUser
from layers.accounts import write_audit

Audit = Callable[..., None]


def get_audit(request: Request, principal: OptionalUser) -> Audit:
    """The audit writer bound to this request's caller and path."""

    def audit(action: str, object_type: str, object_id: str | int | None, detail: dict | None = None) -> None:
        with request.app.state.sessionmaker() as session:
            write_audit(
                session,
                subject=principal.subject,
                roles=principal.roles,
                action=action,
                object_type=object_type,
                object_id=object_id,
                detail=detail,
                request_path=f"{request.method} {request.url.path}",
            )
            session.commit()

    return audit


AuditDep = Annotated[Audit, Depends(get_audit)]

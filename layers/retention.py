"""Retention of personal data (PIPL): how long each kind is kept, and :func:`purge` that removes what expired.

Periods are settings (``GRIDMAP_RETENTION_<KIND>_DAYS``); 0 keeps that kind forever.

- ``audit_days``: audit-log rows older than this are deleted;
- ``incident_personal_days``: for incidents closed longer ago than this, every ``reporter_*`` column
  (name, phone, device …) is set to NULL and the private details (the reporter's e-mail) emptied — the incident
  itself stays for statistics;
- ``order_personal_days``: same for closed or cancelled 三单 orders (resident name, phone, feedback) and for
  fulfilled 微心愿 wishes (resident name, phone);
- ``ledger_entry_days``: person-level ledger entries (台账明细) not renewed for this long are deleted.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session


class RetentionSettings(BaseSettings):
    """How many days each kind of personal data is kept (0 = forever)."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_RETENTION_", env_file=".env", extra="ignore")

    audit_days: int = Field(1095, ge=0, description="audit log entries (default 3 years)")
    incident_personal_days: int = Field(180, ge=0, description="reporter's contact on closed incidents")
    order_personal_days: int = Field(180, ge=0, description="residents' contacts on closed orders and wishes")
    ledger_entry_days: int = Field(1095, ge=0, description="person-level ledger entries")


def _cutoff(now: dt.datetime, days: int) -> dt.datetime | None:
    return None if days <= 0 else now - dt.timedelta(days=days)


def _columns(session: Session, table: str) -> list[str]:
    insp = inspect(session.connection())
    if not insp.has_table(table):
        return []
    return [c["name"] for c in insp.get_columns(table)]


def purge(
    session: Session,
    settings: RetentionSettings | None = None,
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> dict[str, int]:
    """Delete or anonymise every expired record; returns ``{kind: rows affected}`` (the caller commits).

    With ``dry_run`` the counts are computed and the changes rolled back.
    """
    settings = settings or RetentionSettings()
    now = now or dt.datetime.now(dt.UTC)
    done: dict[str, int] = {}
    nested = session.begin_nested() if dry_run else None

    cut = _cutoff(now, settings.audit_days)
    if cut is not None and _columns(session, "audit_log"):
        done["audit_log"] = session.execute(text("DELETE FROM audit_log WHERE at < :c"), {"c": cut}).rowcount

    cut = _cutoff(now, settings.incident_personal_days)
    personal = [c for c in _columns(session, "incidents") if c.startswith("reporter_")]
    if cut is not None and personal:
        sets = ", ".join(f"{c} = NULL" for c in personal)
        anyset = " OR ".join(f"{c} IS NOT NULL" for c in personal)
        done["incident_personal"] = session.execute(
            text(f"UPDATE incidents SET {sets} WHERE state = 'closed' AND closed_at < :c AND ({anyset})"),
            {"c": cut},
        ).rowcount
    if cut is not None and _columns(session, "incident_details"):  # the reporter's e-mail and device
        done["incident_private"] = session.execute(
            text("UPDATE incident_details d SET private = '{}' FROM incidents i WHERE i.id = d.incident_id "
                 "AND i.state = 'closed' AND i.closed_at < :c AND d.private <> '{}'::jsonb"),
            {"c": cut},
        ).rowcount

    cut = _cutoff(now, settings.order_personal_days)
    if cut is not None and _columns(session, "service_orders"):
        done["order_personal"] = session.execute(
            text(
                "UPDATE service_orders SET resident_name = NULL, resident_phone = NULL, feedback = NULL "
                "WHERE state IN ('closed', 'cancelled') AND COALESCE(closed_at, placed_at) < :c "
                "AND (resident_name IS NOT NULL OR resident_phone IS NOT NULL OR feedback IS NOT NULL)"
            ),
            {"c": cut},
        ).rowcount
    if cut is not None and _columns(session, "wishes"):
        done["wish_personal"] = session.execute(
            text(
                "UPDATE wishes SET resident_name = NULL, resident_phone = NULL "
                "WHERE state IN ('fulfilled', 'cancelled') AND COALESCE(fulfilled_at, posted_at) < :c "
                "AND (resident_name IS NOT NULL OR resident_phone IS NOT NULL)"
            ),
            {"c": cut},
        ).rowcount

    cut = _cutoff(now, settings.ledger_entry_days)
    if cut is not None and _columns(session, "ledger_entries"):
        done["ledger_entries"] = session.execute(
            text("DELETE FROM ledger_entries WHERE created_at < :c"), {"c": cut}
        ).rowcount

    if nested is not None:
        nested.rollback()
    return done

"""Token buckets kept in PostgreSQL, so that every worker process and every machine on one database share them.

One bucket per key (``"intake:ip:203.0.113.9"``, ``"batch:account:hotline"``): it holds at most ``burst`` tokens
and refills at ``per_min`` a minute. :func:`take` spends ``cost`` tokens with a single atomic ``INSERT … ON
CONFLICT DO UPDATE`` on the primary (the row lock orders concurrent requests; the database's clock is the only
clock), and says how long to wait when there are not enough. The table is UNLOGGED: the state is worth nothing
after a crash (buckets simply start full again), so it costs no WAL.
"""

from __future__ import annotations

import random

from sqlalchemy import text
from sqlalchemy.engine import Connection

# refilled = the bucket after the time since its last use, capped at the burst; spend only when there is enough
_REFILLED = "least(CAST(:burst AS float8), r.tokens + greatest(0, extract(epoch FROM clock_timestamp() - r.at)) * :rate)"
TAKE = text(f"""
    INSERT INTO rate_limits AS r (bucket, tokens, at, granted)
    VALUES (:bucket, :burst - :cost, clock_timestamp(), :cost <= :burst)
    ON CONFLICT (bucket) DO UPDATE SET
        tokens = CASE WHEN {_REFILLED} >= :cost THEN {_REFILLED} - :cost ELSE {_REFILLED} END,
        granted = {_REFILLED} >= :cost,
        at = clock_timestamp()
    RETURNING tokens, granted
""")
PRUNE = text("DELETE FROM rate_limits WHERE at < clock_timestamp() - make_interval(secs => :older_than_s)")
PRUNE_EVERY = 1000  # on average one call in this many also removes long-idle buckets
IDLE_S = 86_400.0  # a bucket unused for a day is full again under any sane setting: forget it


def take(conn: Connection, bucket: str, *, cost: float, burst: float, per_min: float) -> float:
    """Spend ``cost`` tokens of ``bucket``: 0.0 when granted, else the seconds until enough have refilled
    (``inf`` when ``cost`` exceeds ``burst``: it never will). Runs in ``conn``'s transaction; commit it."""
    rate = per_min / 60.0
    tokens, granted = conn.execute(TAKE, {"bucket": bucket, "cost": float(cost), "burst": float(burst),
                                          "rate": rate}).one()
    if random.randrange(PRUNE_EVERY) == 0:
        prune(conn, older_than_s=max(IDLE_S, burst / rate if rate > 0 else IDLE_S))
    if granted:
        return 0.0
    if cost > burst or rate <= 0:
        return float("inf")
    return (cost - tokens) / rate


def prune(conn: Connection, *, older_than_s: float) -> int:
    """Forget buckets unused for ``older_than_s`` seconds (they would be full again by now anyway)."""
    return conn.execute(PRUNE, {"older_than_s": older_than_s}).rowcount

"""The worker's intake queue: ``POST /api/v1/incidents`` hands its report to a few writer threads, which store
whatever has arrived since their last batch together (:mod:`layers.intake_batch`), and awaits its own outcome.

A report that arrives while nothing is being stored is stored at once, alone: the queue adds no wait. Under load
the reports that arrive during one batch's write form the next batch (at most ``max_batch``), so the fixed costs
of statements and commits are shared instead of paid per report. The answer goes back only after the batch's
write has committed. ``GRIDMAP_INTAKE_BATCH=1`` stores every report on its own.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future, InvalidStateError

from sqlalchemy.orm import Session, sessionmaker

from layers.intake_batch import Outcome, Pending, store_batch

log = logging.getLogger("gridmap.intake")
_STOP = object()


class IntakeQueue:
    """Reports waiting to be stored, and the threads that store them in batches."""

    def __init__(self, sessions: sessionmaker[Session], *, writers: int = 2, max_batch: int = 32) -> None:
        self.sessions = sessions
        self.max_batch = max(1, max_batch)
        self.batches = 0  # batches stored (for tests and diagnostics)
        self.reports = 0
        self._waiting: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"gridmap-intake-{n}", daemon=True)
                         for n in range(max(1, writers))]
        for t in self._threads:
            t.start()

    async def submit(self, pending: Pending) -> Outcome:
        """Queue ``pending`` and wait until its batch is stored: its :class:`~layers.intake_batch.Stored`, or the
        exception refusing it (returned, for the caller to raise). A lost database raises."""
        done: Future = Future()
        self._waiting.put((pending, done))
        return await asyncio.wrap_future(done)

    def close(self) -> None:
        """Let the writers finish what is queued, then stop them."""
        for _ in self._threads:
            self._waiting.put(_STOP)
        for t in self._threads:
            t.join(timeout=30)

    def _next_batch(self) -> list | None:
        first = self._waiting.get()
        if first is _STOP:
            return None
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                item = self._waiting.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._waiting.put(_STOP)  # for this thread's next turn
                break
            batch.append(item)
        return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                outcomes = store_batch(self.sessions, [p for p, _ in batch])
            except BaseException as exc:  # noqa: BLE001 — the database is lost: every report of the batch
                for _, done in batch:
                    _settle(done, exc, failed=True)
                continue
            self.batches += 1
            self.reports += len(batch)
            for (_, done), outcome in zip(batch, outcomes):
                _settle(done, outcome)


def _settle(done: Future, outcome, *, failed: bool = False) -> None:
    """Hand an outcome to its waiting request — unless the request went away (its client hung up): the report was
    stored all the same, and a retry with its key replays the answer."""
    try:
        done.set_exception(outcome) if failed else done.set_result(outcome)
    except InvalidStateError:
        pass

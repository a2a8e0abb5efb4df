"""The busiest read's hop to a worker thread: the same thread budget as every other hop, less CPU.

``run_in_threadpool`` (anyio) hands each call to a worker thread through a ``queue.Queue`` (Python locks and
a ``Condition``), with two extra turns of the event loop and a cancel scope. :func:`run_off_loop` takes a token
of the same limiter — anyio's default, the process's thread budget shared with every ``run_in_threadpool`` —
without waiting, and runs the function in a ``ThreadPoolExecutor`` (a C ``SimpleQueue``); with no token free
it waits in line like every other call. The function runs in a copy of the caller's context, as anyio runs it,
and the token is held until the function has returned, even when the caller is cancelled first.

Measured with 16 concurrent callers of a ~45 µs function (uvloop): 86 → 61 µs of process CPU a call.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio
import anyio.to_thread
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor(limiter) -> ThreadPoolExecutor:
    """The process's pool, as many threads as the budget has tokens (it never queues: a call holds a token)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                tokens = limiter.total_tokens
                size = int(tokens) if tokens != float("inf") else 40
                _pool = ThreadPoolExecutor(max_workers=max(1, size), thread_name_prefix="gridmap-hop")
    return _pool


async def run_off_loop(func: Callable[[], T]) -> T:
    """``await run_in_threadpool(func)``, in the same thread budget, with less of the event loop's time."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    borrower = object()
    try:
        limiter.acquire_on_behalf_of_nowait(borrower)
    except anyio.WouldBlock:  # the budget is spent: wait for a token in the same line as everyone else
        return await run_in_threadpool(func)
    try:
        done = _executor(limiter).submit(contextvars.copy_context().run, func)
    except BaseException:
        limiter.release_on_behalf_of(borrower)
        raise
    try:
        return await asyncio.wrap_future(done)
    finally:
        if done.done():
            limiter.release_on_behalf_of(borrower)
        else:  # the caller was cancelled while the thread works: the token goes back when the thread is done
            loop = asyncio.get_running_loop()
            done.add_done_callback(lambda _: loop.call_soon_threadsafe(limiter.release_on_behalf_of, borrower))

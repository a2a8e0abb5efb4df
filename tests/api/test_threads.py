"""run_off_loop: the result or the exception of the function, in the caller's context, within anyio's thread
budget (a token held while the function runs, waiting in line when none is free)."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import anyio
import anyio.to_thread
import pytest

from api.threads import run_off_loop

who = contextvars.ContextVar("who", default="nobody")


def test_result_exception_and_context():
    async def main():
        who.set("caller")
        assert await run_off_loop(lambda: (who.get(), threading.current_thread() is not threading.main_thread())) \
            == ("caller", True)
        with pytest.raises(ZeroDivisionError):
            await run_off_loop(lambda: 1 / 0)
        limiter = anyio.to_thread.current_default_thread_limiter()
        assert limiter.borrowed_tokens == 0

    anyio.run(main)


def test_holds_a_token_and_waits_in_line_when_the_budget_is_spent():
    async def main():
        limiter = anyio.to_thread.current_default_thread_limiter()
        seen = []
        assert await run_off_loop(lambda: seen.append(limiter.borrowed_tokens) or 1) == 1
        assert seen == [1] and limiter.borrowed_tokens == 0
        old = limiter.total_tokens
        limiter.total_tokens = 1
        gate = threading.Event()
        try:
            first = asyncio.ensure_future(run_off_loop(gate.wait))
            await asyncio.sleep(0.05)
            second = asyncio.ensure_future(run_off_loop(lambda: limiter.borrowed_tokens))
            await asyncio.sleep(0.05)
            assert not second.done()  # no token free: it waits
            gate.set()
            assert await first is True
            assert await second == 1
        finally:
            limiter.total_tokens = old

    anyio.run(main)


def test_a_cancelled_caller_gives_the_token_back_when_the_thread_is_done():
    async def main():
        limiter = anyio.to_thread.current_default_thread_limiter()
        gate = threading.Event()
        task = asyncio.ensure_future(run_off_loop(gate.wait))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert limiter.borrowed_tokens == 1  # the thread still works
        gate.set()
        for _ in range(100):
            if limiter.borrowed_tokens == 0:
                break
            await asyncio.sleep(0.01)
        assert limiter.borrowed_tokens == 0

    anyio.run(main)

"""Chromium for the page tests: where it is, how it starts, and a watch on Content-Security-Policy violations.

The pages run under the service's enforced policy (:mod:`api.csp`), never with Playwright's ``bypass_csp``: a
script the policy blocks is a page that does not work. :func:`watch_csp` makes a browser context report every
``securitypolicyviolation`` of its pages (a blocked inline script, ``eval``, a disallowed image or connection);
:func:`new_context` opens a watched context, and ``tests/maps/conftest.py`` fails any test during which a watched
page reported one, whether or not the test looks.

Under the policy a test reads the page with functions, not strings to evaluate: ``page.evaluate("() => x")`` and
``page.wait_for_function("() => x")`` pass a function, which Playwright calls without ``eval`` in the page.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("GRIDMAP_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

_REPORT = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.__gridmapCspViolation(`${e.effectiveDirective} blocked ${e.blockedURI || 'inline'} `
    + `at ${e.sourceFile || e.documentURI}:${e.lineNumber} (${(e.sample || '').slice(0, 80)})`);
});
"""

VIOLATIONS: list[str] = []
"""Every violation any watched context reported in this test process, in order (the conftest compares counts)."""


def require_chromium() -> None:
    """Fail (not skip) when Chromium is missing: the page tests are part of the suite."""
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium fonts-noto-cjk")


@contextmanager
def chromium() -> Iterator:
    """A headless Chromium (Playwright's ``Browser``), closed on exit."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class CspViolations(list):
    """The violations the pages of one context reported (a list of one-line descriptions)."""

    def __init__(self, context) -> None:
        super().__init__()
        context.expose_binding("__gridmapCspViolation", lambda _source, text: self._add(str(text)))
        context.add_init_script(_REPORT)

    def _add(self, text: str) -> None:
        self.append(text)
        VIOLATIONS.append(text)

    def assert_none(self) -> None:
        """Fail with the first violations, if there were any."""
        assert list(self) == [], f"Content-Security-Policy violations: {list(self)[:5]}"


def watch_csp(context) -> CspViolations:
    """Make ``context`` report its pages' CSP violations; returns the list they go to."""
    return CspViolations(context)


def new_context(browser, **options):
    """``browser.new_context(**options)`` with :func:`watch_csp` on (the list is ``context.csp``)."""
    if options.get("bypass_csp"):
        raise AssertionError("page tests run under the service's Content-Security-Policy")
    context = browser.new_context(**options)
    context.csp = watch_csp(context)
    return context

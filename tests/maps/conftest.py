"""Every page test fails when a watched page broke the Content-Security-Policy (see :mod:`tests.browser`)."""

from __future__ import annotations

import pytest

from tests import browser


@pytest.fixture(autouse=True)
def _no_csp_violation():
    seen = len(browser.VIOLATIONS)
    yield
    new = browser.VIOLATIONS[seen:]
    assert new == [], f"Content-Security-Policy violations during this test: {new[:5]}"

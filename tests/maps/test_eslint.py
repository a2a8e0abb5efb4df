"""ESLint over the pages' ES modules (maps/static/js), so `make test` fails on any problem in them."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ESLINT = ROOT / "node_modules" / ".bin" / "eslint"


def _eslint(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    assert ESLINT.is_file(), "ESLint is not installed: run `make setup` (it runs `npm ci` in the repository)"
    return subprocess.run([str(ESLINT), "--max-warnings", "0", *args], cwd=ROOT, input=stdin, capture_output=True,
                          text=True, timeout=120)


def test_page_modules_are_clean():
    result = _eslint("maps/static/js")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_rules_bite():
    # a module that imports by relative path, leaks a global and uses var is refused under maps/static/js
    bad = 'import {esc} from "../shared/html.js";\nvar shown = esc("x");\nleak = shown;\n'
    result = _eslint("--stdin", "--stdin-filename", "maps/static/js/pages/example.js", stdin=bad)
    assert result.returncode == 1
    for rule in ("no-restricted-imports", "no-var", "no-undef"):
        assert rule in result.stdout, result.stdout

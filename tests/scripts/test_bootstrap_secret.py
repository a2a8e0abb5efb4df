"""scripts/bootstrap.sh gives a clone a random GRIDMAP_SECRET_KEY in .env, says so, and never replaces one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from api.settings import ApiSettings, secret_problem

ROOT = Path(__file__).resolve().parents[2]


def _step_secret(folder: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run only the script's ``step_secret`` (with its ``say``) in ``folder``."""
    script = (ROOT / "scripts" / "bootstrap.sh").read_text()
    say = re.search(r"^say\(\) \{.*\}$", script, re.M).group(0)
    step = re.search(r"^step_secret\(\) \{\n.*?^\}$", script, re.M | re.S).group(0)
    body = f"{say}\n{step}"
    return subprocess.run(["bash", "-c", f'set -euo pipefail\nPY="{sys.executable}"\n{body}\nstep_secret'],
                          cwd=folder, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **(env or {})})


def _secret(folder: Path) -> list[str]:
    return [line.split("=", 1)[1] for line in (folder / ".env").read_text().splitlines()
            if line.startswith("GRIDMAP_SECRET_KEY=")]


def test_a_fresh_clone_gets_a_random_secret_once(tmp_path):
    (tmp_path / ".env").write_text("GRIDMAP_DATABASE_URL=postgresql://x@127.0.0.1/y\n")
    first = _step_secret(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "GRIDMAP_SECRET_KEY" in first.stderr  # it says so
    [secret] = _secret(tmp_path)
    assert secret_problem(secret) is None and len(secret) >= 48
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0  # only the owner reads it
    again = _step_secret(tmp_path)
    assert again.returncode == 0 and _secret(tmp_path) == [secret]  # idempotent: never replaced
    assert ApiSettings(_env_file=tmp_path / ".env", environment="production").secret_key == secret


def test_a_secret_in_the_environment_is_left_alone(tmp_path):
    assert _step_secret(tmp_path, {"GRIDMAP_SECRET_KEY": "x" * 40}).returncode == 0
    assert not (tmp_path / ".env").exists() or not _secret(tmp_path)

"""docker-compose.yml and the Dockerfile run only commands and options that exist.

There is no Docker engine here, so the containers are never started; instead every command line of both files is
parsed by the real ``gridmap`` parser, and the compose file's API command — migrations, the demo load, the
server with its workers — runs as written against the test server (its database URL and port swapped), followed
by the compose health checks. A renamed option, a missing package in the image or a command that fails shows up
in ``make test``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from scripts.cli import build_parser
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
IMAGE_ROOT = "/app"  # the Dockerfile's WORKDIR, which is this clone when the commands run here


def _interpolate(value: str, given: dict[str, str] | None = None) -> str:
    """Compose's ``${NAME:-default}`` / ``${NAME}`` / ``${NAME:?message}`` with only ``given`` set (a new user's
    ``.env``); a required name that is not given fails as compose does."""
    given = given or {}

    def one(m: re.Match) -> str:
        name, kind, rest = m.group(1), m.group(2), m.group(3) or ""
        if given.get(name):
            return given[name]
        if kind in {":?", "?"}:
            raise ValueError(f"required variable {name} is missing a value: {rest}")
        return rest if kind in {":-", "-"} else ""

    return re.sub(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}", one, value)


def test_the_api_refuses_to_start_without_a_secret_key():
    api_env = COMPOSE["services"]["api"]["environment"]
    assert "GRIDMAP_SECRET_KEY" in api_env
    with pytest.raises(ValueError, match="GRIDMAP_SECRET_KEY"):
        _interpolate(str(api_env["GRIDMAP_SECRET_KEY"]))
    assert _interpolate(str(api_env["GRIDMAP_SECRET_KEY"]), {"GRIDMAP_SECRET_KEY": "k" * 48}) == "k" * 48


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def _image_env() -> dict[str, str]:
    env = {}
    for kind, args in _instructions():
        if kind == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(args))
    return {k: v.replace(IMAGE_ROOT, str(ROOT)) for k, v in env.items()}


def _shell_commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line (``sh -c "…"`` unwrapped, split at ``&&``, ``||`` and ``;``)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"&&", "||", ";"}:
            commands.append([])
        else:
            commands[-1].append(token)
    commands = [c for c in commands if c]
    if len(commands) == 1 and commands[0][:2] == ["sh", "-c"]:
        return _shell_commands(commands[0][2])
    return commands


def _all_command_lines() -> list[list[str]]:
    found = []
    for service in COMPOSE["services"].values():
        if "command" in service:
            found += _shell_commands(service["command"])
        test = service.get("healthcheck", {}).get("test", [])
        if test[:1] == ["CMD-SHELL"]:
            found += _shell_commands(test[1])
    for kind, args in _instructions():
        if kind == "RUN":
            found += _shell_commands(args)
        elif kind == "CMD":
            found.append(json.loads(args) if args.startswith("[") else shlex.split(args))
    return found


def test_every_gridmap_command_and_module_exists_with_its_options():
    parser = build_parser()
    lines = _all_command_lines()
    gridmap = [argv[1:] for argv in lines if argv[0] == "gridmap"]
    assert {tuple(a[:2]) for a in gridmap} >= {("db", "upgrade"), ("demo", "load"), ("assets", "install")}
    assert sum(a[0] == "serve" for a in gridmap) == 2  # the compose command and the image's CMD
    for argv in gridmap:
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"`gridmap {' '.join(argv)}` does not parse (see the message above)")
        assert getattr(args, "func", None), f"`gridmap {' '.join(argv)}` names no command"
    modules = [argv[2] for argv in lines if argv[:2] == ["python", "-m"]]
    for name in modules:
        out = subprocess.run([sys.executable, "-c", f"import importlib.util as u; assert u.find_spec({name!r})"],
                             cwd="/tmp", capture_output=True, text=True)
        assert out.returncode == 0, f"python -m {name}: {out.stderr}"


def test_the_image_copies_every_package_and_the_data():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # (tomllib is Python ≥ 3.11)
    include = re.search(r"\[tool\.setuptools\.packages\.find\]\s*include\s*=\s*\[([^\]]*)\]", pyproject)
    packages = {p.rstrip("*") for p in re.findall(r'"([^"]+)"', include.group(1))}
    assert {"api", "layers", "usecases"} <= packages
    copied = {shlex.split(args)[0] for kind, args in _instructions() if kind == "COPY"}
    assert packages | {"data", "pyproject.toml"} <= copied, sorted(packages | {"data"} - copied)
    assert _image_env()["GRIDMAP_DATA_DIR"] == str(ROOT / "data")


def test_no_compose_volume_reaches_outside_the_repository():
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert not source.startswith(("..", "/")), f"{name} mounts {source}, which a clone does not have"


@pytest.mark.slow
def test_the_compose_api_command_runs_and_passes_the_health_checks(module_demo_db):
    api = COMPOSE["services"]["api"]
    port = free_port()
    swap = {"--port 8000": f"--port {port}", "0.0.0.0": "127.0.0.1"}
    command = api["command"]
    for old, new in swap.items():
        assert old in command
        command = command.replace(old, new)
    dot_env = {"GRIDMAP_SECRET_KEY": "compose-test-" + "k" * 40}  # what the user's .env gives compose
    env = {**os.environ, **{k: _interpolate(str(v), dot_env) for k, v in api["environment"].items()}, **_image_env(),
           "GRIDMAP_DATABASE_URL": module_demo_db.url, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.Popen(["sh", "-c", command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        check = api["healthcheck"]["test"][1].replace(":8000/", f":{port}/")
        assert subprocess.run(["sh", "-c", check], env=env, timeout=30).returncode == 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            assert client.get("/maps/public").status_code == 200  # the demo is there and the assets serve
            workers = {client.get("/healthz", headers={"Connection": "close"}).headers["x-gridmap-worker"]
                       for _ in range(30)}
        assert len(workers) == 2, workers
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    assert "already loaded" in out  # `gridmap demo load` ran, found the copied demo and skipped


def _wait_healthy(base: str, proc: subprocess.Popen, timeout_s: float = 240) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    pytest.fail(f"the compose command did not serve at {base}:\n{proc.communicate(timeout=30)[0][-3000:]}")


def test_the_db_health_check_command_exists(db_settings):
    url = db_settings.sqlalchemy_url
    check = shlex.split(COMPOSE["services"]["db"]["healthcheck"]["test"][1])
    assert check[0] == "pg_isready"
    out = subprocess.run([*check, "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr

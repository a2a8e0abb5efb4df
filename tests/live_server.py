"""Real uvicorn servers on a free local port, for tests that need HTTP from outside the test client.

- :func:`serve_in_thread`: one app served from a thread of the test process (a browser, a client library);
- :func:`serve_workers`: ``gridmap serve --workers N`` — N real worker processes on one port against a
  throwaway database, for what must hold across processes (limits, caches, plans, replicas). Use it as::

      @pytest.fixture(scope="module")
      def service(module_demo_db):
          with serve_workers(module_demo_db, workers=2, env={"GRIDMAP_PUBLIC_RATE_PER_MIN": "6"}) as svc:
              yield svc

      def test_x(service):
          one, two = service.worker_clients().values()   # each held on its own worker
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from layers.settings import DatabaseSettings

ROOT = Path(__file__).resolve().parents[1]
KEEP_ALIVE_S = 300  # how long both ends keep an idle connection of a worker client


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_in_thread(app, *, start_timeout_s: float = 20.0) -> Iterator[str]:
    """Serve ``app`` from a thread of this process; yields its base URL and stops it on exit.

    Not for clients that hold the GIL while they wait (GDAL through pyogrio): serve those from a subprocess.
    """
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + start_timeout_s
    while not srv.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


@dataclass
class WorkerService:
    """``gridmap serve --workers N`` running in a subprocess on one port (see :func:`serve_workers`)."""

    url: str
    workers: int
    process: subprocess.Popen
    log_path: Path
    _pinned: list[httpx.Client] = field(default_factory=list)

    def log(self) -> str:
        """What the server printed so far (uvicorn's start-up and access lines)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self, **kwargs) -> httpx.Client:
        """A plain client of the service (new connections land on whichever worker accepts them)."""
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 30.0), **kwargs)

    def worker_clients(self, *, timeout_s: float = 60.0) -> dict[str, httpx.Client]:
        """One client per worker process, keyed by the worker id, each held on its own keep-alive connection.

        Opens connections until every worker has answered on one (the kernel hands each new connection to one
        of the processes). Every response carries ``X-Gridmap-Worker``: check it with :func:`worker_of` when a
        test must know who answered. The clients are closed with the service."""
        found: dict[str, httpx.Client] = {}
        spare: list[httpx.Client] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < self.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(found)} of {self.workers} workers answered:\n{self.log()[-3000:]}")
            one = httpx.Client(base_url=self.url, timeout=30.0,
                               # httpx drops a connection idle for 5 s by default: a slow answer of the other
                               # worker would then move this client to a new connection, maybe another worker
                               limits=httpx.Limits(max_connections=1, max_keepalive_connections=1,
                                                   keepalive_expiry=KEEP_ALIVE_S - 10))
            worker = worker_of(one.get("/healthz"))
            if worker in found:
                spare.append(one)
            else:
                found[worker] = one
        for one in spare:
            one.close()
        self._pinned.extend(found.values())
        return found

    def close_clients(self) -> None:
        """Close the clients handed out by :meth:`worker_clients`."""
        for one in self._pinned:
            one.close()
        self._pinned.clear()


def worker_of(response: httpx.Response) -> str:
    """The id of the worker process that sent ``response``."""
    return response.headers["x-gridmap-worker"]


def _wait_healthy(url: str, proc: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    log = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
    raise RuntimeError(f"gridmap serve did not become healthy at {url} (exit code {proc.poll()}):\n{log}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (uvicorn's supervisor and its workers), SIGKILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@contextmanager
def serve_workers(db: DatabaseSettings, *, workers: int = 2, env: dict[str, str] | None = None,
                  start_timeout_s: float = 120.0) -> Iterator[WorkerService]:
    """Run ``gridmap serve --workers N`` as real processes on one free port against database ``db``.

    The server's environment is this process's with ``GRIDMAP_DATABASE_URL`` set to ``db``, the environment
    ``test``, no read replica (``GRIDMAP_DATABASE_READ_URL`` empty) and then ``env`` on top (any ``GRIDMAP_*``
    setting: a rate limit, a replica URL). Waits until ``/healthz`` answers 200, yields a
    :class:`WorkerService`, and stops the whole process group on exit. Each worker imports the app on its own
    (a few seconds each on 2 cores)."""
    port = free_port()
    server_env = {**os.environ, "GRIDMAP_DATABASE_URL": db.url or "", "GRIDMAP_ENVIRONMENT": "test",
                  "GRIDMAP_DATABASE_READ_URL": "", "PYTHONUNBUFFERED": "1", **(env or {})}
    log_dir = Path(tempfile.mkdtemp(prefix="gridmap-serve-"))
    log_path = log_dir / "serve.log"
    cmd = [sys.executable, "-m", "scripts.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--timeout-keep-alive", str(KEEP_ALIVE_S)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=server_env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    service = WorkerService(url=f"http://127.0.0.1:{port}", workers=workers, process=proc, log_path=log_path)
    try:
        _wait_healthy(service.url, proc, log_path, start_timeout_s)
        yield service
    finally:
        service.close_clients()
        _stop(proc)
        shutil.rmtree(log_dir, ignore_errors=True)

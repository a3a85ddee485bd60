"""Helpers for tests that start the real system (`cchc up`, `prefect server start`) as a user would: ports, waits,
processes.

Importable without pytest or the test fixtures (no conftest import), so bench/ starts its servers with these too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
CCHC = str(Path(sys.executable).with_name("cchc"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float,
    every: float = 1.0,
    error: Callable[[str], BaseException] = AssertionError,
) -> Any:
    """Poll until `check` gives something true; bounded, so a broken system fails the test instead of hanging.
    A benchmark passes ``error=SystemExit``: a timeout ends it with the message, no traceback."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise error(f"timed out after {timeout:.0f} s waiting for {what}")


def processes_of(home: Path) -> list[int]:
    """Processes whose environment carries this scratch CCHC_HOME."""
    marker = f"CCHC_HOME={home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def get_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def prefect_server_env(home: Path, port: int, db_url: str | None = None) -> dict[str, str]:
    """A scratch `prefect server start`'s environment: none of ours (PREFECT_*, CCHC_*) leaks in; its own home and
    database (SQLite under `home` unless `db_url`), loopback, no analytics; clients of it add nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CCHC_"))}
    return env | {
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": db_url or f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),  # the UI calls this port (with --port alone it calls 4200)
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }


def start_prefect_server(
    home: Path,
    port: int,
    env: Mapping[str, str],
    timeout: float,
    error: Callable[[str], BaseException] = AssertionError,
) -> subprocess.Popen[bytes]:
    """`prefect server start` on loopback, its output in `home`/server.log, in its own process group (stopped as a
    whole by `stop_group`); returns once /api/health answers, or raises `error` with the log's end."""
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def answering() -> bool:
        if proc.poll() is not None:
            raise error(f"prefect server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        return get_ok(f"http://127.0.0.1:{port}/api/health")

    try:
        wait_for("the Prefect server's /api/health", answering, timeout, 0.25, error)
    except BaseException:
        stop_group(proc, 15)
        raise
    return proc


def stop_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to the process's group (a server and its children), SIGKILL if it is still there after `timeout`."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


CHROMIUM = "/usr/bin/chromium"  # Debian's, driven by Playwright with executable_path
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip the test where Chromium is missing; in CI, where scripts/dev installs it, fail instead."""
    import pytest

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; scripts/dev installs Debian's chromium package")
        pytest.skip("chromium is not installed (scripts/dev setup installs it)")


@contextmanager
def serving(app: Any, port: int) -> Iterator[None]:
    """An ASGI app (the portal) served by uvicorn on loopback in a thread, for a browser; stopped after."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):  # bounded: at most 10 s
        if server.started:
            break
        time.sleep(0.05)
    try:
        assert server.started, "the portal did not start"
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class System:
    """`cchc up` on a fresh CCHC_HOME and free ports, the way `scripts/dev up` starts it."""

    home: Path
    plan_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    portal_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "CCHC_HOME": str(self.home),
            "CCHC_PLAN_DIR": str(self.plan_dir),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "CCHC_PORTAL_URL": f"http://127.0.0.1:{self.portal_port}",
            **self.extra_env,
        }
        for name in ("PREFECT_API_URL", "CCHC_DATABASE_URL", "CCHC_SMTP_URL"):
            if name not in self.extra_env:
                env.pop(name, None)
        return env

    @property
    def client_env(self) -> dict[str, str]:
        """What a coordinator's shell has: the system's settings plus the API address."""
        return {**self.env, "PREFECT_API_URL": self.api}

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        out = (self.home / "up.out").open("ab")
        self.proc = subprocess.Popen(
            [CCHC, "up", "--port", str(self.port)], cwd=ROOT, env=self.env, stdout=out, stderr=out
        )

    def output(self) -> str:
        path = self.home / "up.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def alive(self) -> None:
        assert self.proc is not None
        assert self.proc.poll() is None, f"cchc up exited with {self.proc.returncode}:\n{self.output()}"

    def _call(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        """Like Prefect's own client: a server busy under load answers 503 (or 429); try again, a few times."""
        for attempt in range(6):
            r = httpx.request(method, f"{self.api}{path}", json=body, timeout=10)
            if r.status_code not in (429, 502, 503) or attempt == 5:
                r.raise_for_status()
                return r
            time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call("POST", path, body or {}).json()

    def patch(self, path: str, body: dict[str, Any]) -> None:
        self._call("PATCH", path, body)

    def deployments(self) -> list[dict[str, Any]]:
        return list(self.post("/deployments/filter", {"limit": 200}))

    def count_deployments(self) -> int:
        try:
            return int(self.post("/deployments/count"))
        except (httpx.HTTPError, ValueError):
            self.alive()
            return 0

    def cli(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CCHC, *args], cwd=ROOT, env=self.client_env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 90) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return int(self.proc.returncode)

    def logs(self) -> dict[str, str]:
        return {p.name: p.read_text(errors="replace") for p in sorted((self.home / "logs").glob("*.log"))}

"""Helpers for tests that start the real system (`cchc up`) as a user would: ports, waits, processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ROOT

CCHC = str(Path(sys.executable).with_name("cchc"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    """Poll until `check` gives something true; bounded, so a broken system fails the test instead of hanging."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


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

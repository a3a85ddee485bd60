"""`cchc up` end to end: a real Prefect server and runner on a free port, then a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cchc.deployments import all_deployments
from cchc.loader import load_plan
from tests.conftest import PLAN_DIR, ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _processes_of(home: Path) -> list[int]:
    """Processes whose environment carries our scratch CCHC_HOME."""
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


@pytest.mark.timeout_slow
def _get_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_cchc_up_serves_every_duty_reacts_to_evidence_and_stops_cleanly(tmp_path: Path) -> None:
    home = (tmp_path / "var").resolve()
    port = _free_port()
    portal_port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "CCHC_HOME": str(home),
        "CCHC_PLAN_DIR": str(PLAN_DIR),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "CCHC_PORTAL_URL": f"http://127.0.0.1:{portal_port}",
    }
    env.pop("PREFECT_API_URL", None)
    exe = str(Path(sys.executable).with_name("cchc"))
    proc = subprocess.Popen(
        [exe, "up", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    plans = [load_plan(p) for p in sorted(PLAN_DIR.glob("*.yaml"))]
    expected = all_deployments(plans)
    try:

        def count() -> int:
            try:
                return int(httpx.post(f"{api}/deployments/count", timeout=5).json())
            except (httpx.HTTPError, ValueError):
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                return 0

        _wait("every deployment to be registered", lambda: count() == len(expected), 240)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "<!DOCTYPE html>" in page.text  # the UI is served
        _wait("the units' portal", lambda: _get_ok(f"http://127.0.0.1:{portal_port}/healthz"), 60)
        deps = httpx.post(f"{api}/deployments/filter", json={"limit": 200}, timeout=10).json()
        names = {d["name"] for d in deps}
        assert names == {s.name for s in expected}
        scheduled = [d for d in deps if d["schedules"]]
        assert scheduled and all(
            s["schedule"]["timezone"] == "Asia/Ho_Chi_Minh" for d in scheduled for s in d["schedules"]
        )

        # Evidence recorded from the CLI runs that duty's flow at once (event trigger).
        target = next(s for s in expected if s.parameters.get("duty_id") and "quota" in s.entrypoint)
        plan_id, duty_id = target.parameters["plan_id"], target.parameters["duty_id"]
        dep_id = next(d["id"] for d in deps if d["name"] == target.name)
        plan = next(p for p in plans if p.id == plan_id)
        kind = plan.duty(duty_id).requirement.evidence[0].value  # type: ignore[union-attr]
        day = plan.period.start.isoformat()
        cli = subprocess.run(
            [exe, "evidence", "add", plan_id, duty_id, "--kind", kind, "--title", "Bài thử", "--date", day,
             "--url", "https://xa.example/tin/1", "--json"],
            env={**env, "PREFECT_API_URL": api}, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr

        def triggered_run_completed() -> bool:
            runs = httpx.post(
                f"{api}/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [dep_id]}}}, timeout=10
            ).json()
            return any(
                r["state_type"] == "COMPLETED" and "minh chứng" in r["parameters"].get("reason", "") for r in runs
            )

        _wait("the evidence event to run the duty's flow", triggered_run_completed, 120)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
    _wait("every child process to be gone", lambda: not _processes_of(home), 30)
    for p in (port, portal_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", p)) != 0, f"port {p} is closed"
    db = sqlite3.connect(home / "prefect" / "prefect.db")
    paused = db.execute("SELECT count(*) FROM deployment WHERE paused").fetchone()[0]
    db.close()
    assert paused == 0, "stopping must not leave deployments paused"

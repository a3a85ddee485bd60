"""`cchc up` with the five real plans: every deployment registered, the UI and the portal served, Ctrl-C stops all.

The live-plan run by the real scheduler, evidence triggers, the doctor and SIGTERM are in test_acceptance.py.
"""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import httpx
import pytest

from cchc.core.deployments import all_deployments
from cchc.core.loader import load_plan
from tests.conftest import PLAN_DIR
from tests.running import System, get_ok, port_closed, processes_of, wait_for


@pytest.mark.timeout_slow
def test_cchc_up_serves_every_duty_of_the_five_plans_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    system = System(home=(tmp_path / "var").resolve(), plan_dir=PLAN_DIR)
    expected = all_deployments([load_plan(p) for p in sorted(PLAN_DIR.glob("*.yaml"))])
    system.start()
    try:
        wait_for("every deployment to be registered", lambda: system.count_deployments() == len(expected), 240)
        page = httpx.get(f"http://127.0.0.1:{system.port}/", timeout=10)
        assert page.status_code == 200 and "<!DOCTYPE html>" in page.text  # the UI is served
        wait_for("the units' portal", lambda: get_ok(f"http://127.0.0.1:{system.portal_port}/healthz"), 60)
        deps = system.deployments()
        assert {d["name"] for d in deps} == {s.name for s in expected}
        scheduled = [d for d in deps if d["schedules"]]
        assert scheduled and all(
            s["schedule"]["timezone"] == "Asia/Ho_Chi_Minh" for d in scheduled for s in d["schedules"]
        )
    finally:
        code = system.stop(signal.SIGINT)  # Ctrl-C
    assert code == 0, system.output()
    wait_for("every child process to be gone", lambda: not processes_of(system.home), 30)
    assert port_closed(system.port) and port_closed(system.portal_port)
    db = sqlite3.connect(system.home / "prefect" / "prefect.db")
    paused = db.execute("SELECT count(*) FROM deployment WHERE paused").fetchone()[0]
    db.close()
    assert paused == 0, "stopping must not leave deployments paused"

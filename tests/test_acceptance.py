"""The installed system runs a plan by itself: `cchc up` on a fresh home, the real scheduler, the real runner.

No harness: the Prefect server that `cchc up` starts creates the runs from the deployments' schedules, and
the runner that `cchc up` starts executes them. The plan is live at the wall-clock time of the test, with
its daily run time set a little after the system starts.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import string
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cchc.core.deployments import TAIL_DAYS, all_deployments, expected_runs
from cchc.core.loader import load_plan
from tests.conftest import FIXTURES
from tests.running import System, get_ok, port_closed, processes_of, wait_for

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
START_AHEAD = dt.timedelta(seconds=50)  # time for the server to start and the runner to register


def _parse(ts: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))


def _month_after(day: dt.date) -> dt.date:
    """The last day of the month after `day`'s."""
    first_next = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return (first_next + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def write_live_plan(folder: Path, run_at: dt.datetime) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    local = run_at.astimezone(TZ)
    text = string.Template((FIXTURES / "live.yaml.tmpl").read_text(encoding="utf-8")).substitute(
        start=local.date().replace(day=1).isoformat(),
        end=_month_after(local.date()).isoformat(),
        run_time=f"{local:%H:%M:%S}",
    )
    path = folder / "live.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _table(artifact: dict[str, Any]) -> list[dict[str, str]]:
    data = artifact["data"]
    return list(json.loads(data) if isinstance(data, str) else data)


@pytest.mark.timeout_slow
def test_cchc_up_runs_a_live_plan_on_its_own_and_stops_cleanly(tmp_path: Path) -> None:
    run_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + START_AHEAD
    plan = load_plan(write_live_plan(tmp_path / "plans", run_at))
    specs = {s.name: s for s in all_deployments([plan])}
    system = System(
        home=(tmp_path / "var").resolve(), plan_dir=tmp_path / "plans", extra_env={"CCHC_WATCHDOG_INTERVAL": "40"}
    )
    system.start()
    try:
        wait_for("every deployment to be registered", lambda: system.count_deployments() == len(specs), 90)
        registered_at = dt.datetime.now(dt.UTC)
        assert registered_at < run_at, f"registration took too long for the run at {run_at:%H:%M:%S}"
        deps = {d["name"]: d for d in system.deployments()}
        assert set(deps) == set(specs)

        # 1. The scheduler (not a person) creates runs for every scheduled deployment of the plan, at the
        #    moments the plan's calendar gives, inside the plan's window.
        scheduled = {name: s for name, s in specs.items() if s.schedules}
        assert len(scheduled) == 4  # two duties, the plan's mail pass and its home page (Tuần này)

        def auto_runs(dep_id: str) -> list[dict[str, Any]]:
            runs = system.post("/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [dep_id]}}})
            return [r for r in runs if r["auto_scheduled"]]

        def every_deployment_has_runs() -> bool:
            return all(len(auto_runs(deps[n]["id"])) >= 3 for n in scheduled)

        wait_for("the scheduler to create runs", every_deployment_has_runs, 60)
        window_end = dt.datetime.combine(plan.period.end, dt.time(23, 59), TZ) + dt.timedelta(days=TAIL_DAYS + 31)
        for name, spec in scheduled.items():
            runs = auto_runs(deps[name]["id"])
            times = {_parse(r["expected_start_time"]) for r in runs}
            expected = set(expected_runs(spec, registered_at - dt.timedelta(minutes=1), window_end))
            assert times <= expected, f"{name}: runs the calendar does not give: {sorted(times - expected)[:3]}"
            assert all(r["created_by"]["type"] == "SCHEDULE" for r in runs), "runs must come from the scheduler"
        quota = next(n for n, s in scheduled.items() if s.parameters.get("duty_id") == "tin-bai")
        first = min(_parse(r["expected_start_time"]) for r in auto_runs(deps[quota]["id"]))
        assert first == run_at, f"the quota duty's first run is at {first}, the plan says {run_at}"

        # 2. That run, created by the scheduler, is picked up by the runner and completes.
        def scheduled_run_done() -> dict[str, Any] | None:
            for r in auto_runs(deps[quota]["id"]):
                if _parse(r["expected_start_time"]) == run_at and r["state_type"] in ("COMPLETED", "FAILED", "CRASHED"):
                    return r
            return None

        run = wait_for("the scheduled run to finish", scheduled_run_done, 120)
        assert run["state_type"] == "COMPLETED", (
            f"{run['state_type']}: {run['state']}\n{system.logs().get('serve.log')}"
        )
        started = _parse(run["start_time"])
        # The runner fetches runs a few seconds ahead (PREFECT_RUNNER_PREFETCH_SECONDS) and starts them on time.
        assert abs(started - run_at) < dt.timedelta(seconds=30), f"started at {started}, scheduled for {run_at}"

        # ... leaving the plan's status artifact in Prefect and its rows in the store. Both duties run at that
        # moment and a run writes the table only when its text changed, so one of the two scheduled runs wrote it.
        at_run_time = {
            r["id"] for n in scheduled for r in auto_runs(deps[n]["id"]) if _parse(r["expected_start_time"]) == run_at
        }
        wait_for(
            "a scheduled run of the plan to publish its status table",
            lambda: any(
                a["flow_run_id"] in at_run_time
                for a in system.post("/artifacts/filter", {"artifacts": {"key": {"any_": ["plan-live-status"]}}})
            ),
            60,
        )
        db = sqlite3.connect(system.home / "cchc.db")
        try:
            judged = db.execute(
                "SELECT duty_id, period, status FROM occurrences WHERE plan_id = 'live' AND status IS NOT NULL"
            ).fetchall()
        finally:
            db.close()
        month = f"{run_at.astimezone(TZ):%Y-%m}"
        assert {s for d, p, s in judged if (d, p) == ("tin-bai", month)} <= {"open", "due_soon"}, judged
        assert ("tin-bai", month) in {(d, p) for d, p, _ in judged}

        # 3. Evidence recorded from the CLI runs that duty at once, and the new count shows.
        day = run_at.astimezone(TZ).date().isoformat()
        added = system.cli(
            "evidence", "add", "live", "tin-bai", "--kind", "post", "--title", "Tin CCHC tháng này",
            "--date", day, "--url", "https://phu-thong.example/tin/1", "--json",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr

        def count_shown() -> bool:
            latest = system.post(
                "/artifacts/filter",
                {"artifacts": {"key": {"any_": ["plan-live-status"]}}, "sort": "CREATED_DESC", "limit": 1},
            )
            rows = _table(latest[0]) if latest else []
            return any(r["Mã"] == "tin-bai" and r["Kết quả"] == "1/3" for r in rows)

        wait_for("the new count in the status table", count_shown, 60)

        def triggered_done() -> list[dict[str, Any]]:
            body = {"flow_runs": {"deployment_id": {"any_": [deps[quota]["id"]]}}}
            runs = [r for r in system.post("/flow_runs/filter", body) if not r["auto_scheduled"]]
            return runs if runs and all(r["state_type"] in ("COMPLETED", "FAILED", "CRASHED") for r in runs) else []

        # The CLI shows the count at once; the run the evidence event triggered confirms it.
        triggered = wait_for("the triggered run to finish", triggered_done, 120)
        assert all(r["state_type"] == "COMPLETED" for r in triggered)

        # 4. The operator's health check agrees.
        doctor = system.cli("doctor", "--json")
        report = json.loads(doctor.stdout)
        failing = [c for c in report["checks"] if c["status"] == "failing"]
        assert doctor.returncode == 0 and not failing, failing
        not_ok = [c for c in report["checks"] if c["status"] != "ok"]
        assert {c["name"] for c in not_ok} <= {"mail", "portal", "outbox", "secret_key"}, not_ok
        assert {c["name"] for c in report["checks"] if c["status"] == "ok"} >= {
            "prefect_api",
            "scheduler",
            "executor",
            "runs",
            "migrations",
            "specs",
        }
        assert get_ok(f"http://127.0.0.1:{system.portal_port}/healthz")

        # 5. Paused deployments lose their scheduled runs: the doctor says so and exits non-zero; resumed,
        #    the scheduler makes the runs again and the doctor is content.
        for name in scheduled:
            system.patch(f"/deployments/{deps[name]['id']}", {"paused": True})
        paused = system.cli("doctor", "--json")
        verdicts = {c["name"]: c for c in json.loads(paused.stdout)["checks"]}
        assert paused.returncode == 1
        assert verdicts["scheduler"]["status"] == "failing"
        assert "tạm dừng" in verdicts["scheduler"]["message"]
        for name in scheduled:
            system.patch(f"/deployments/{deps[name]['id']}", {"paused": False})
        wait_for("the scheduler to make the runs again", every_deployment_has_runs, 60)
        wait_for("the doctor to be content again", lambda: system.cli("doctor").returncode == 0, 60, every=3)

        # 6. `cchc up` runs the watchdog on its own (every CCHC_WATCHDOG_INTERVAL seconds).
        state = system.home / "watchdog.json"
        wait_for("the supervisor's watchdog pass", state.exists, 60)
        assert {"prefect_api", "scheduler", "executor"} <= set(json.loads(state.read_text(encoding="utf-8")))
    finally:
        code = system.stop()  # SIGTERM, as systemd and `kill` send it

    # 7. SIGTERM stops every process; nothing is left paused; the logs hold no error.
    assert code == 0, system.output()
    wait_for("every child process to be gone", lambda: not processes_of(system.home), 30)
    assert port_closed(system.port) and port_closed(system.portal_port)
    db = sqlite3.connect(system.home / "prefect" / "prefect.db")
    try:
        assert db.execute("SELECT count(*) FROM deployment WHERE paused").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM deployment_schedule WHERE NOT active").fetchone()[0] == 0
    finally:
        db.close()
    logs = system.logs()
    assert {"server.log", "serve.log", "portal.log"} <= set(logs)
    for name, text in logs.items():
        bad = [line for line in text.splitlines() if "ERROR" in line or "Traceback" in line]
        assert not bad, f"{name}: {bad[:5]}"

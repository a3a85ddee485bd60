"""Benchmark: one duty flow run end to end on a real Prefect server vs the same evaluation called directly.

Starts `prefect server start` on a free loopback port (scratch PREFECT_HOME, SQLite), runs the quota
duty flow of a real plan in this process against it, and measures in the same run:

- the baseline: the duty's evaluation called directly (`service.evaluate_duty`, no Prefect);
- a duty flow run end to end (collect, judge, record, events, mail pass, artifacts), the usual case
  of a run that follows another within the half-hour (the plan's beat is fresh);
- the first run of the morning (the previous beat is a day old, so the schedules are expanded to look
  for a stop of the system);
- an empty async flow with the same parameters and run name: Prefect's own floor per run on this
  server (creating the run, its states, the API clients), which no change to our steps can remove.

Prints medians, the ratio of each against the baseline, and whether the goal (≤ 0.3 s) holds.

    python bench/bench_flow.py [--runs 15] [--plan phu-thong-2025]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.running import free_port, prefect_server_env, start_prefect_server, stop_group  # noqa: E402

GOAL_SECONDS = 0.3


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A real `prefect server start` on loopback; yields its API URL and stops it (its process group) after."""
    port = free_port()
    proc = start_prefect_server(home, port, prefect_server_env(home, port), 120, error=SystemExit)
    try:
        yield f"http://127.0.0.1:{port}/api"
    finally:
        stop_group(proc, 20)


def median(fn: Callable[[], object], n: int, before: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(n):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--plan", default="phu-thong-2025")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cchc-bench-flow-"))
    (scratch / "prefect").mkdir()
    os.environ["CCHC_HOME"] = str(scratch / "cchc")
    os.environ["CCHC_PLAN_DIR"] = str(ROOT / "plan_specs")
    for name in ("CCHC_DATABASE_URL", "CCHC_SMTP_URL"):
        os.environ.pop(name, None)  # a scratch SQLite store; mail goes to .eml files
    try:
        with prefect_server(scratch / "prefect") as api:
            os.environ["PREFECT_API_URL"] = api
            os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
            # The run's logs still go to the API as in production; only the console is kept quiet.
            os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "WARNING"
            run(args.plan, args.runs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(plan_id: str, runs: int) -> None:
    import pendulum
    from prefect import flow
    from prefect.logging.handlers import APILogHandler
    from sqlalchemy import update

    from cchc.app import service
    from cchc.settings import get_settings
    from cchc.store.db import session_scope
    from cchc.store.models import PlanBeatRow
    from flows.quota import quota_duty

    settings = get_settings()
    plan = service.resolve_plan(plan_id, settings)
    duty_id = next(d.id for d in plan.duties if d.kind.value == "quota")
    at = pendulum.datetime(2025, 10, 21, 7, tz="Asia/Ho_Chi_Minh")

    def direct() -> None:
        service.evaluate_duty(settings, plan, duty_id, at, pendulum.now("UTC"))

    @flow(name="bench-empty", flow_run_name="{plan_id}:{duty_id}", log_prints=True)
    async def empty(plan_id: str, duty_id: str, at: dt.datetime | None = None) -> dict[str, str]:
        return {}

    def empty_run() -> None:
        asyncio.run(empty(plan_id=plan_id, duty_id=duty_id, at=at))

    def flow_run() -> None:
        result = asyncio.run(quota_duty(plan_id=plan_id, duty_id=duty_id, at=at))
        assert result["statuses"], result

    def day_old_beat() -> None:
        with session_scope(service.engine_for(settings)) as s:
            s.execute(
                update(PlanBeatRow)
                .where(PlanBeatRow.plan_id == plan_id)
                .values(last_run_at=pendulum.now("UTC") - dt.timedelta(days=1))
            )

    direct()  # creates the store
    flow_run()  # warm-up: imports, the first reminders queued, the artifacts' first versions
    empty_run()
    t_direct = median(direct, max(runs, 20))
    t_flow = median(flow_run, runs)
    t_first = median(flow_run, max(3, runs // 3), before=day_old_beat)
    t_empty = median(empty_run, runs)
    t_direct_after = median(direct, max(runs, 20))  # the baseline again: the machine is shared and noisy
    base = statistics.median([t_direct, t_direct_after])
    print(f"duty {plan_id}:{duty_id} ({len(plan.duties)} duties, {len(plan.reports)} reports), real prefect server")
    print(f"evaluation called directly (baseline):     {base * 1000:8.1f} ms")
    print(f"duty flow run end to end:                  {t_flow * 1000:8.1f} ms  ratio {t_flow / base:6.1f}x")
    print(f"first run of the morning (stop check):     {t_first * 1000:8.1f} ms  ratio {t_first / base:6.1f}x")
    print(f"empty flow run (Prefect's floor):          {t_empty * 1000:8.1f} ms  ratio {t_empty / base:6.1f}x")
    print(f"our steps inside the run (flow - floor):   {(t_flow - t_empty) * 1000:8.1f} ms")
    verdict = "met" if t_flow <= GOAL_SECONDS else "NOT met"
    print(f"goal: a duty flow run ≤ {GOAL_SECONDS:.1f} s: {verdict} ({t_flow:.3f} s)")
    APILogHandler().flush()  # the runs' last logs reach the server before it stops


if __name__ == "__main__":
    main()

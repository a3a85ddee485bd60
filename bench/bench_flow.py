"""Benchmark: one duty flow run end to end vs the same evaluation called directly.

Runs against a temporary Prefect server (the test harness, a real API on loopback).
Prints the median of each, the per-run overhead of Prefect, and sync against async
flows (a sync flow waits for its heartbeat thread at exit).

    python bench/bench_flow.py [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="cchc-bench-flow-"))
    os.environ["CCHC_HOME"] = str(home)
    os.environ["CCHC_PLAN_DIR"] = str(ROOT / "plan_specs")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

    import pendulum
    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness

    from cchc.app import service
    from cchc.settings import get_settings
    from flows.common import run_duty
    from flows.quota import quota_duty

    plan_id, duty_id = "phu-thong-2025", None
    settings = get_settings()
    plan = service.resolve_plan(plan_id, settings)
    duty_id = next(d.id for d in plan.duties if d.kind.value == "quota")
    at = pendulum.datetime(2025, 10, 21, 7, tz="Asia/Ho_Chi_Minh")

    @flow(name="bench-sync-quota")
    def sync_quota(plan_id: str, duty_id: str, at: Any) -> object:
        return run_duty(plan_id, duty_id, at, "bench")

    def direct() -> None:
        service.evaluate_duty(settings, plan, duty_id, at, pendulum.now("UTC"))

    def median(fn: object, n: int) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    direct()  # warm caches and create the database
    t_direct = median(direct, max(args.runs, 20))
    with prefect_test_harness(server_startup_timeout=90):
        asyncio.run(quota_duty(plan_id=plan_id, duty_id=duty_id, at=at))  # warm-up
        t_async = median(lambda: asyncio.run(quota_duty(plan_id=plan_id, duty_id=duty_id, at=at)), args.runs)
        t_sync = median(lambda: sync_quota(plan_id=plan_id, duty_id=duty_id, at=at), args.runs)
    shutil.rmtree(home, ignore_errors=True)
    print(f"duty: {plan_id}:{duty_id} ({len(plan.duties)} duties in the plan), {args.runs} runs each, medians")
    print(f"evaluation called directly:   {t_direct * 1000:8.1f} ms")
    print(f"async duty flow, end to end:  {t_async * 1000:8.1f} ms  ratio {t_async / t_direct:6.1f}x")
    print(f"sync duty flow, end to end:   {t_sync * 1000:8.1f} ms  ratio {t_sync / t_direct:6.1f}x")
    print(f"sync/async: {t_sync / t_async:.2f}x (the duty flows are async)")


if __name__ == "__main__":
    main()

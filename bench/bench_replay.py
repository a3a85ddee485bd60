"""Benchmark: `cchc replay` over half a year of each seed plan, against the old way, in the same run.

For each plan, from its first day over ``--days`` days (default 183), on scratch stores:

- replay: every pass the plan's deployments schedule (duty runs, report runs, hourly mail passes), in one
  process (``cchc.app.replay``), wall and CPU time;
- baseline A, measured in full: one `cchc tick`-equivalent per day in this process (``mail_pass.run_tick``
  at 08:00 each day: judge, queue, send), which runs one pass a day instead of every scheduled one;
- baseline B, extrapolated: ``--samples`` `cchc tick PLAN --at DAY` subprocesses (the only way to replay
  before this command), their mean times the number of days.

Prints one row per plan with the figures and the ratios, then the totals. The machine is shared: read
the ratios, which are measured in the same run, rather than the absolute seconds.

``--against REV`` instead times the replay of this tree against the replay as it was at a git revision
(its files extracted to a scratch folder), each a fresh process per plan, the two taking turns for
``--rounds`` rounds; prints the medians of wall and CPU time and their ratios (this tree / REV).

    python bench/bench_replay.py [--days 183] [--samples 3] [--plan phu-thong-2025 ...]
    python bench/bench_replay.py --against 00cfc59 [--rounds 3] [--plan ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLANS = ["phu-thai-2025h2", "lai-khe-2025h2", "phu-thong-2025", "ninh-giang-2025h2", "chi-minh-2026"]
GOAL_SECONDS = 5.0


def first_day(plan_id: str) -> dt.date:
    """Where the plan starts (Phủ Thông's plan spans 2025 but was issued in July: start there)."""
    from cchc.app import service
    from cchc.settings import get_settings

    plan = service.resolve_plan(plan_id, get_settings())
    return max(plan.period.start, dt.date(2025, 7, 1))


def replay_once(plan_id: str, start: dt.date, end: dt.date) -> tuple[float, float, int, int, int]:
    from cchc.app import replay as rp
    from cchc.app import service
    from cchc.settings import get_settings

    base = get_settings()
    wall, cpu = time.perf_counter(), time.process_time()
    plan = service.resolve_plan(plan_id, base)
    with rp.scratch_store(base) as scratch:
        result = rp.replay(scratch, plan, start, end)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, sum(result.scheduled.values()), sum(result.executed.values()), len(result.mails)


def ticks_in_process(plan_id: str, start: dt.date, end: dt.date) -> tuple[float, float]:
    """Baseline A: one `cchc tick` pass a day at 08:00, in this process, on a scratch store."""
    import pendulum

    from cchc.app import replay as rp
    from cchc.app import service
    from cchc.app.mail_pass import run_tick
    from cchc.settings import get_settings

    base = get_settings()
    wall, cpu = time.perf_counter(), time.process_time()
    plan = service.resolve_plan(plan_id, base)
    with rp.scratch_store(base) as scratch:
        day = start
        while day <= end:
            at = pendulum.datetime(day.year, day.month, day.day, 8, tz=plan.timezone)
            run_tick(scratch, plan, at, at)
            day += dt.timedelta(days=1)
    return time.perf_counter() - wall, time.process_time() - cpu


def tick_subprocess(plan_id: str, start: dt.date, samples: int) -> float:
    """Baseline B: the mean wall time of `cchc tick PLAN --at DAY` as a new process (a fresh home each)."""
    times = []
    for i in range(samples):
        with tempfile.TemporaryDirectory(prefix="cchc-bench-tick-") as home:
            env = {**os.environ, "CCHC_HOME": home, "CCHC_PLAN_DIR": str(ROOT / "plan_specs")}
            env.pop("CCHC_DATABASE_URL", None)
            env.pop("CCHC_SMTP_URL", None)
            at = f"{start + dt.timedelta(days=30 * i)}T08:00:00+07:00"
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "cchc.cli", "tick", plan_id, "--at", at],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - began)
    return statistics.mean(times)


CHILD = """
import datetime as dt, json, sys, time
from cchc.app import replay as rp
from cchc.app import service
from cchc.settings import get_settings

plan_id, days = sys.argv[1], int(sys.argv[2])
base = get_settings()
plan = service.resolve_plan(plan_id, base)
start = max(plan.period.start, dt.date(2025, 7, 1))
wall, cpu = time.perf_counter(), time.process_time()
with rp.scratch_store(base) as scratch:
    result = rp.replay(scratch, plan, start, start + dt.timedelta(days=days - 1))
print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu, len(result.mails)]))
"""


def extract(rev: str, into: Path) -> None:
    import io
    import tarfile

    archive = subprocess.run(
        ["git", "archive", rev, "cchc", "notifications", "plan_specs"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def child(tree: Path, plan_id: str, days: int) -> tuple[float, float, int]:
    """One replay in a fresh process of ``tree`` (its first replay: imports and caches as a command has them)."""
    with tempfile.TemporaryDirectory(prefix="cchc-bench-replay-") as home:
        env = {**os.environ, "CCHC_HOME": home, "CCHC_PLAN_DIR": str(tree / "plan_specs"), "PYTHONPATH": str(tree)}
        env.pop("CCHC_DATABASE_URL", None)
        env.pop("CCHC_SMTP_URL", None)
        run = subprocess.run(
            [sys.executable, "-c", CHILD, plan_id, str(days)], env=env, cwd=tree, capture_output=True, text=True
        )
        if run.returncode != 0:
            raise SystemExit(f"replay of {plan_id} in {tree} failed:\n{run.stderr[-2000:]}")
        wall, cpu, mails = json.loads(run.stdout.strip().splitlines()[-1])
        return float(wall), float(cpu), int(mails)


def against(rev: str, plans: list[str], days: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="cchc-bench-replay-tree-") as scratch:
        old = Path(scratch) / rev
        extract(rev, old)
        print(f"replay over {days} days, this tree against {rev}; medians of {rounds} rounds, a fresh process each")
        print(
            f"{'plan':<19} {'mail':>5} {'wall s':>7} {'cpu s':>6} {'@rev wall':>10} {'@rev cpu':>9} {'cpu ratio':>10}"
        )
        worst = 0.0
        for plan_id in plans:
            new: list[tuple[float, float, int]] = []
            was: list[tuple[float, float, int]] = []
            for _ in range(rounds):
                was.append(child(old, plan_id, days))
                new.append(child(ROOT, plan_id, days))
            nw, nc = statistics.median(r[0] for r in new), statistics.median(r[1] for r in new)
            ow, oc = statistics.median(r[0] for r in was), statistics.median(r[1] for r in was)
            same = "" if new[0][2] == was[0][2] else f"  (messages differ: {was[0][2]} at {rev})"
            worst = max(worst, nc)
            print(
                f"{plan_id:<19} {new[0][2]:>5} {nw:>7.2f} {nc:>6.2f} {ow:>10.2f} {oc:>9.2f} {nc / oc:>9.2f}×{same}",
                flush=True,
            )
        print(
            f"slowest replay {worst:.2f} s CPU (goal < {GOAL_SECONDS:.0f} s); "
            f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=183)
    parser.add_argument("--samples", type=int, default=3, help="subprocess ticks per plan (baseline B)")
    parser.add_argument("--plan", action="append", help="only these plans (repeatable)")
    parser.add_argument("--against", help="time the replay against this git revision's (see above)")
    parser.add_argument("--rounds", type=int, default=3, help="with --against: rounds of the two, taking turns")
    args = parser.parse_args()
    if args.against:
        against(args.against, args.plan or PLANS, args.days, args.rounds)
        return
    os.environ.setdefault("CCHC_PLAN_DIR", str(ROOT / "plan_specs"))
    with tempfile.TemporaryDirectory(prefix="cchc-bench-home-") as home:
        os.environ["CCHC_HOME"] = home  # plans resolve against an empty store of their own
        os.environ.pop("CCHC_DATABASE_URL", None)
        os.environ.pop("CCHC_SMTP_URL", None)
        rows = []
        header = (
            f"{'plan':<19} {'days':>4} {'sched':>6} {'ran':>4} {'mail':>5} {'replay s':>9} {'cpu s':>6} "
            f"{'A: tick/day s':>14} {'A/replay':>9} {'B: subprocess s':>16} {'B/replay':>9}"
        )
        print(header)
        for plan_id in args.plan or PLANS:
            start = first_day(plan_id)
            end = start + dt.timedelta(days=args.days - 1)
            wall, cpu, scheduled, ran, mails = replay_once(plan_id, start, end)
            a_wall, _ = ticks_in_process(plan_id, start, end)
            b_one = tick_subprocess(plan_id, start, args.samples)
            b_wall = b_one * args.days
            rows.append((wall, cpu, a_wall, b_wall))
            print(
                f"{plan_id:<19} {args.days:>4} {scheduled:>6} {ran:>4} {mails:>5} {wall:>9.2f} {cpu:>6.2f} "
                f"{a_wall:>14.2f} {a_wall / wall:>8.2f}× {b_wall:>10.0f} ({b_one:.2f}/day) {b_wall / wall:>7.0f}×",
                flush=True,
            )
        worst = max(r[0] for r in rows)
        print(
            f"slowest replay {worst:.2f} s wall (goal < {GOAL_SECONDS:.0f} s: {'met' if worst < GOAL_SECONDS else 'NOT met'}); "
            f"CPU {max(r[1] for r in rows):.2f} s; load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )


if __name__ == "__main__":
    main()

"""The daily pass of a province with 1, 2 and 4 `cchc worker` processes (`cchc up --scale`).

For each worker count: fresh PostgreSQL databases for the Prefect server and the store (on the server at
BENCH_POSTGRES_URL or CCHC_TEST_POSTGRES_URL), a fresh CCHC_HOME, `cchc up --scale --workers W --worker-limit L`,
every deployment registered into the pool (not timed), then the day's runs created at once through the API
(each due duty and mail pass of DAY at 08:00, as the scheduler would have made them) and timed until the last
one is final. Reported: wall time, runs a minute, peak memory (the sum of RSS of the workers and every
flow-run process under them, sampled every 0.5 s), and the ratio of each against one worker.

    .venv/bin/python bench/bench_workers.py                     # Hải Phòng: 114 plans (hours on 2 cores)
    .venv/bin/python bench/bench_workers.py --plans 4 --workers 1,2,4

Each run is a process (a workspace supervisor, then the engine) that imports Prefect and the flow: CPU-bound,
so on a 2-core machine scaling stops at about two runs at once, whatever the number of workers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.synth import HAI_PHONG, province_plans  # noqa: E402
from cchc.core.deployments import DeploymentSpec, all_deployments, expected_runs  # noqa: E402
from cchc.core.spec import Plan  # noqa: E402
from cchc.core.spec_dump import dump_spec  # noqa: E402
from tests.running import CCHC, free_port  # noqa: E402

TZ = dt.timezone(dt.timedelta(hours=7))
KINDS = ("quota_duty", "deadline_duty", "continuous_duty", "plan_mail")


def due_on(specs: list[DeploymentSpec], day: dt.date) -> list[DeploymentSpec]:
    start = dt.datetime.combine(day, dt.time(0), TZ)
    return [s for s in specs if s.flow_name in KINDS and expected_runs(s, start, start + dt.timedelta(days=1))]


def busiest_day(specs: list[DeploymentSpec]) -> dt.date:
    """The working day of 2025's second half with the most runs due."""
    days = [dt.date(2025, 7, 1) + dt.timedelta(days=i) for i in range(184)]
    return max((d for d in days if d.weekday() < 5), key=lambda d: len(due_on(specs, d)))


def rss_of_tree(roots: list[int]) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(proc.name))
        rss[int(proc.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo, seen = 0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def worker_pids(home: Path) -> list[int]:
    marker = f"CCHC_HOME={home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in env and b"worker" in cmd and b"start" in cmd:
            found.append(int(proc.name))
    return found


def call(api: str, method: str, path: str, body: Any = None) -> Any:
    for attempt in range(8):
        try:
            r = httpx.request(method, f"{api}{path}", json=body, timeout=30)
            if r.status_code not in (429, 502, 503):
                r.raise_for_status()
                return r.json() if r.content else None
        except httpx.TransportError:
            pass
        time.sleep(0.5 * (attempt + 1))
    raise RuntimeError(f"{method} {path} kept failing")


def trial(
    plans: list[Plan], due: list[DeploymentSpec], day: dt.date, workers: int, limit: int, base: str
) -> dict[str, float]:
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    names = [f"bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with admin.connect() as c:
        for n in names:
            c.execute(text(f'CREATE DATABASE "{n}"'))
    root = base.rsplit("/", 1)[0]
    home = Path(tempfile.mkdtemp(prefix="cchc-bench-workers-"))
    home.chmod(home.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)
    plan_dir = home / "plans"
    plan_dir.mkdir()
    for p in plans:
        (plan_dir / f"{p.id}.yaml").write_text(dump_spec(p), encoding="utf-8")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "CCHC_HOME": str(home),
        "CCHC_PLAN_DIR": str(plan_dir),
        "CCHC_PORTAL_URL": f"http://127.0.0.1:{free_port()}",
        "CCHC_DATABASE_URL": f"{root}/{names[0]}",
        "PREFECT_API_DATABASE_CONNECTION_URL": f"{root}/{names[1]}".replace("+psycopg", "+asyncpg"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    for name in ("PREFECT_API_URL", "CCHC_SMTP_URL"):
        env.pop(name, None)  # messages become .eml files under the home: the pass, not an SMTP server, is timed
    out = (home / "up.out").open("ab")
    args = [CCHC, "up", "--scale", "--workers", str(workers), "--worker-limit", str(limit), "--port", str(port)]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    ok = False
    try:
        t_reg = time.perf_counter()
        while "Ctrl-C" not in (home / "up.out").read_text(errors="replace"):
            if proc.poll() is not None:
                raise RuntimeError((home / "up.out").read_text(errors="replace"))
            time.sleep(1)
        registered = time.perf_counter() - t_reg
        by_name = {d["name"]: d["id"] for d in _all_deployments(api)}
        at = dt.datetime.combine(day, dt.time(8), TZ).isoformat()
        peak = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_of_tree(worker_pids(home)))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        body = {"state": {"type": "SCHEDULED", "name": "Scheduled", "state_details": {"scheduled_time": at}}}
        created = [call(api, "POST", f"/deployments/{by_name[s.name]}/create_flow_run", body)["id"] for s in due]
        while True:
            runs = []
            for i in range(0, len(created), 200):
                chunk = created[i : i + 200]
                runs += call(api, "POST", "/flow_runs/filter", {"flow_runs": {"id": {"any_": chunk}}, "limit": 200})
            final = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")]
            if len(final) == len(created):
                break
            time.sleep(1)
        wall = time.perf_counter() - t0
        stop.set()
        sampler.join()
        failed = sum(r["state_type"] != "COMPLETED" for r in runs)
        ok = True
        return {
            "workers": workers,
            "runs": len(created),
            "failed": failed,
            "wall": wall,
            "per_min": len(created) / wall * 60,
            "peak_mb": peak / 2**20,
            "registered_s": registered,
        }
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        with admin.connect() as c:
            for n in names:
                c.execute(text(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)'))
        admin.dispose()
        if ok:
            subprocess.run(["rm", "-rf", str(home)], check=False)
        else:
            print(f"kept {home} (its logs) for a look", file=sys.stderr)


def _all_deployments(api: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = call(api, "POST", "/deployments/filter", {"limit": 200, "offset": len(out)})
        out += page
        if len(page) < 200:
            return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plans", type=int, default=114, help="the first N plans of Hải Phòng (114: all)")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--limit", type=int, default=1, help="flow runs at once per worker")
    ap.add_argument("--day", type=dt.date.fromisoformat, default=None, help="default: the busiest working day")
    args = ap.parse_args()
    base = os.environ.get("BENCH_POSTGRES_URL") or os.environ.get("CCHC_TEST_POSTGRES_URL")
    if not base:
        sys.exit("set BENCH_POSTGRES_URL (or CCHC_TEST_POSTGRES_URL) to a PostgreSQL URL (postgresql+psycopg://...)")
    plans = province_plans(HAI_PHONG)[: args.plans]
    specs = all_deployments(plans)
    day = args.day or busiest_day(specs)
    due = due_on(specs, day)
    print(
        f"{len(plans)} plans, {len(specs)} deployments; {day}: {len(due)} runs due; {os.cpu_count()} CPUs", flush=True
    )
    rows = []
    for w in (int(x) for x in args.workers.split(",")):
        row = trial(plans, due, day, w, args.limit, base)
        rows.append(row)
        print(
            f"  {w} worker(s) × limit {args.limit}: {row['runs']} runs ({row['failed']} not completed) in "
            f"{row['wall']:.1f} s, {row['per_min']:.1f} runs/min, peak RSS {row['peak_mb']:.0f} MB "
            f"(registration {row['registered_s']:.0f} s)",
            flush=True,
        )
    one = rows[0]
    print("\n| workers | runs | wall (s) | runs/min | × 1 worker (speed) | peak RSS (MB) | × 1 worker (memory) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['workers']:.0f} | {r['runs']:.0f} | {r['wall']:.1f} | {r['per_min']:.1f} | "
            f"{r['per_min'] / one['per_min']:.2f} | {r['peak_mb']:.0f} | {r['peak_mb'] / one['peak_mb']:.2f} |"
        )


if __name__ == "__main__":
    main()

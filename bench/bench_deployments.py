"""Benchmark: the deployment model at province size (issue #16 item 3), against the five real plans in the same run.

For the five real plans moved one year later so that they run now (commune profile, the baseline) and for 114
plans of Hải Phòng made from them as bench/synth.py does (province 31; the province profile, and with
``--commune-too`` the commune profile too), each on
a fresh `prefect server start` (SQLite, and with ``--db both`` a database made on CCHC_TEST_POSTGRES_URL's server):

- register:   flows/serve.py's ``register()`` from empty, then again with nothing changed (a restart);
- scheduler:  from the end of registration until the scheduled runs stop growing, and every scheduler loop's
              duration as docket logs it (``↫ [duration] schedule_deployments()``; a logging config that shows
              docket's INFO lines is passed with PREFECT_LOGGING_SETTINGS_PATH);
- events:     N evidence events (as `cchc evidence add` posts them) for N duties of N plans, posted at once: the
              time from the post to the creation of each triggered run, with that scenario's number of
              automations (110 for the baseline, about 2,400 for the province).

Without a server: the size of prefect.yaml per profile, the runs a working week makes per profile, the cost of
expanding every schedule the way the scheduler does (with our DTSTART, and with DTSTART replaced by
2020-01-01 as Prefect does when a rule has none: Prefect#18861), and the start of one run's process.

    python bench/bench_deployments.py [--db sqlite|postgres|both] [--events 10] [--commune-too]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synth import HAI_PHONG, on_commune  # noqa: E402
from cchc.core.communes import all_wards  # noqa: E402
from cchc.core.deployments import (  # noqa: E402
    EVIDENCE_EVENT,
    DeploymentSpec,
    Profile,
    all_deployments,
    expected_runs,
    prefect_yaml,
)
from cchc.core.loader import parse_plan  # noqa: E402
from cchc.core.spec import Plan  # noqa: E402
from flows.serve import CONCURRENCY  # noqa: E402
from tests.running import free_port, prefect_server_env, start_prefect_server, stop_group, wait_for  # noqa: E402

LOOP = re.compile(r"[↩↫] \[\s*([^\]]+)\] (schedule_deployments|schedule_recent_deployments)\(")
SCHEDULED = re.compile(r"Scheduled (\d+) runs")
WEEK = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)  # a working week inside the moved plans' periods


def current_templates() -> list[Plan]:
    """The five real plans moved one year later (2025 → 2026, 2026 → 2027), so that four of them run now and
    the scheduler has real work: the real ones mostly ended in 2025, when their schedules stop."""
    out = []
    for path in sorted((ROOT / "plan_specs").glob("*.yaml")):
        text = path.read_text(encoding="utf-8").replace("2026", "2027").replace("2025", "2026")
        out.append(parse_plan(text, str(path)))
    return out


def current_province(code: int, bases: list[Plan]) -> list[Plan]:
    """bench/synth.py's province_plans over the moved plans: one per commune, the five taken in turn."""
    wards = sorted((w for w in all_wards() if int(w.province_code) == code), key=lambda w: int(w.code))
    return [on_commune(bases[i % len(bases)], w) for i, w in enumerate(wards)]


def seconds(text: str) -> float:
    """docket's format_duration: '0.123s', '12ms', '1m02s' … → seconds."""
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)\s*(ms|s|m|h)", text):
        total += float(number) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
    return total


def logging_config(folder: Path) -> Path:
    """Prefect's own logging.yml plus docket's INFO lines (each perpetual service's duration)."""
    import prefect.logging

    text = (Path(prefect.logging.__file__).parent / "logging.yml").read_text(encoding="utf-8")
    text = text.replace(
        "loggers:\n", "loggers:\n  docket:\n    level: INFO\n    handlers: [console]\n    propagate: false\n\n", 1
    )
    path = folder / "logging.yml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Server:
    home: Path
    db_url: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def start(self) -> float:
        env = prefect_server_env(self.home, self.port, self.db_url)
        env["PREFECT_LOGGING_SETTINGS_PATH"] = str(logging_config(self.home))
        started = time.perf_counter()
        self.proc = start_prefect_server(self.home, self.port, env, 240, error=SystemExit)
        return time.perf_counter() - started

    def post(self, path: str, body: Any) -> Any:
        for attempt in range(8):
            r = httpx.post(f"{self.api}{path}", json=body, timeout=30)
            if r.status_code not in (429, 503) or attempt == 7:
                r.raise_for_status()
                return r.json() if r.content else None
            time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, 30)


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A throwaway database on the test PostgreSQL server; its asyncpg URL for Prefect."""
    import psycopg

    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"bench_deploy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.split("://", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{base}/{name}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def register(api: str, specs: list[DeploymentSpec], concurrency: int) -> tuple[float, dict[str, Any]]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.serve import register as serve_register

    with temporary_settings(updates={PREFECT_API_URL: api}):
        reg = asyncio.run(serve_register(specs, concurrency=concurrency))
    return reg.seconds, {"ids": reg.ids, "applied": len(reg.applied), "unchanged": len(reg.unchanged)}


def scheduled_count(server: Server) -> int:
    return int(server.post("/flow_runs/count", {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}))


def settle_scheduler(server: Server, quiet: float = 20.0, cap: float = 420.0, least: float = 65.0) -> dict[str, Any]:
    """Until the scheduled runs stop growing for ``quiet`` seconds (or ``cap``), and at least ``least`` seconds,
    so the main loop (every 60 s) has run once over every deployment."""
    started = time.perf_counter()
    last, last_change = scheduled_count(server), time.perf_counter()
    while time.perf_counter() - started < cap:
        time.sleep(2.0)
        now = scheduled_count(server)
        if now != last:
            last, last_change = now, time.perf_counter()
        elif time.perf_counter() - last_change >= quiet and time.perf_counter() - started >= least:
            break
    log = server.log.read_text(errors="replace")
    loops: dict[str, list[float]] = {"schedule_deployments": [], "schedule_recent_deployments": []}
    for duration, service in LOOP.findall(log):
        loops[service].append(seconds(duration))
    return {
        "fill_s": last_change - started,
        "runs": last,
        "inserted": sum(int(n) for n in SCHEDULED.findall(log)),
        "loops": loops,
    }


def evidence_event(plan_id: str, duty_id: str) -> dict[str, Any]:
    """What cchc.io.events.post_evidence_event posts."""
    return {
        "id": str(uuid.uuid4()),
        "occurred": dt.datetime.now(dt.UTC).isoformat(),
        "event": EVIDENCE_EVENT,
        "resource": {"prefect.resource.id": f"cchc.duty.{plan_id}.{duty_id}"},
        "related": [{"prefect.resource.id": f"cchc.plan.{plan_id}", "prefect.resource.role": "plan"}],
        "payload": {"plan": plan_id, "duty": duty_id, "evidence_id": 1, "reason": "minh chứng mới #1"},
    }


def event_latency(server: Server, specs: list[DeploymentSpec], ids: dict[str, Any], n: int) -> list[float]:
    """Post n evidence events at once (n duties of n plans); seconds from the post to each triggered run."""
    chosen: list[DeploymentSpec] = []
    seen: set[str] = set()
    for s in specs:
        if "duty_id" in s.parameters and s.parameters["plan_id"] not in seen and s.triggers:
            chosen.append(s)
            seen.add(s.parameters["plan_id"])
        if len(chosen) == n:
            break
    wanted = [str(ids[s.name]) for s in chosen]
    posted = dt.datetime.now(dt.UTC)
    server.post("/events", [evidence_event(s.parameters["plan_id"], s.parameters["duty_id"]) for s in chosen])
    window = {
        "after_": (posted - dt.timedelta(seconds=1)).isoformat(),
        "before_": (posted + dt.timedelta(minutes=5)).isoformat(),
    }
    body = {"flow_runs": {"deployment_id": {"any_": wanted}, "expected_start_time": window}, "limit": 200}

    def runs() -> list[dict[str, Any]] | None:
        found = server.post("/flow_runs/filter", body)
        return found if len({r["deployment_id"] for r in found}) >= len(wanted) else None

    found = wait_for(f"{len(wanted)} triggered runs", runs, 180, 0.2, error=SystemExit)
    first: dict[str, float] = {}
    for r in found:
        created = dt.datetime.fromisoformat(r["created"]).astimezone(dt.UTC)
        first[r["deployment_id"]] = min(first.get(r["deployment_id"], 1e9), (created - posted).total_seconds())
    return sorted(first.values())


def server_scenario(
    label: str, db: str, plans: list[Plan], profile: Profile, events: int, pg_admin: str, concurrency: int
) -> dict[str, Any]:
    specs = all_deployments(plans, profile)
    home = Path(tempfile.mkdtemp(prefix=f"bench-deploy-{db}-"))
    with contextlib_db(db, home, pg_admin) as url:
        server = Server(home, url)
        try:
            boot = server.start()
            first, reg = register(server.api, specs, concurrency)
            again, reg2 = register(server.api, specs, concurrency)
            assert reg2["applied"] == 0, reg2
            sched = settle_scheduler(server)
            time.sleep(5)  # the triggers service reloads automations after changes
            lat = [event_latency(server, specs, reg["ids"], events) for _ in range(2)]
        finally:
            server.stop()
    shutil.rmtree(home, ignore_errors=True)
    out = {
        "label": label,
        "db": db,
        "deployments": len(specs),
        "automations": sum(len(s.triggers) for s in specs),
        "schedules": sum(len(s.schedules) for s in specs),
        "boot_s": boot,
        "register_s": first,
        "restart_s": again,
        **sched,
        "event_s": [x for round_ in lat for x in round_],
    }
    print(summary_line(out), flush=True)
    return out


@contextmanager
def contextlib_db(db: str, home: Path, pg_admin: str) -> Iterator[str]:
    if db == "sqlite":
        yield f"sqlite+aiosqlite:///{home / 'prefect.db'}"
        return
    with postgres_database(pg_admin) as url:
        yield url


def summary_line(r: dict[str, Any]) -> str:
    main = r["loops"]["schedule_deployments"]
    recent = r["loops"]["schedule_recent_deployments"]
    ev = r["event_s"]
    return (
        f"{r['label']:<22} {r['db']:<8} {r['deployments']:>5} dep {r['automations']:>5} aut  "
        f"register {r['register_s']:7.1f} s  restart {r['restart_s']:5.1f} s  "
        f"schedule filled {r['fill_s']:6.1f} s ({r['runs']} runs; loop max {max(main, default=0):.2f} s main, "
        f"{max(recent, default=0):.2f} s recent)  event→run median {statistics.median(ev):.2f} s max {max(ev):.2f} s\n"
        f"    main loops: {', '.join(f'{x:.2f}' for x in main)}\n"
        f"    recent loops over 0.5 s: {', '.join(f'{x:.2f}' for x in recent if x > 0.5)}"
    )


def expansion_cost(specs: list[DeploymentSpec]) -> tuple[float, float, int]:
    """Seconds to expand every schedule as the scheduler does (next 100 days, up to 100 runs each), with our
    DTSTART and with DTSTART moved to 2020-01-01 (what Prefect prepends to a rule without one). Generated
    plans repeat the five real plans' calendars, so each distinct rule is expanded once and counted as often
    as it occurs."""
    from prefect.server.schemas.schedules import RRuleSchedule

    start = WEEK
    end = start + dt.timedelta(days=100)

    async def expand(rules: Counter[tuple[str, str]]) -> float:
        total = 0.0
        for (rule, tz), times in rules.items():
            t0 = time.process_time()
            await RRuleSchedule(rrule=rule, timezone=tz).get_dates(n=100, start=start, end=end)
            total += (time.process_time() - t0) * times
        return total

    ours = Counter((s["rrule"], s["timezone"]) for d in specs for s in d.schedules)
    assert all(r.startswith("DTSTART:") for r, _ in ours), "every rule carries its DTSTART"
    undated: Counter[tuple[str, str]] = Counter()
    for (r, tz), times in ours.items():
        undated[(re.sub(r"^DTSTART:\d{8}T\d{6}", "DTSTART:20200101T000000", r), tz)] += times
    return asyncio.run(expand(ours)), asyncio.run(expand(undated)), sum(ours.values())


def trigger_matching(specs: list[DeploymentSpec], repeat: int = 200) -> tuple[int, float]:
    """CPU milliseconds the server's triggers service spends finding the automations one evidence event
    concerns (prefect.server.events.triggers.find_interested_triggers), with these automations loaded."""
    import uuid as uuid_

    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
    from prefect.server.events import triggers as loaded
    from prefect.server.events.schemas.automations import Automation
    from prefect.server.events.schemas.events import ReceivedEvent

    loaded.clear_loaded_automations()
    count = 0
    for spec in specs:
        for t in spec.triggers:
            trigger = DeploymentEventTrigger(**{k: v for k, v in t.items() if k != "type"})
            trigger.set_deployment_id(uuid_.uuid4())
            core = trigger.as_automation().model_dump(mode="json")
            loaded.load_automation(Automation.model_validate({**core, "id": str(uuid_.uuid4())}))
            count += 1
    duty = next(x for x in specs if "duty_id" in x.parameters)
    event = ReceivedEvent(
        occurred=dt.datetime.now(dt.UTC),
        event=EVIDENCE_EVENT,
        resource={"prefect.resource.id": f"cchc.duty.{duty.parameters['plan_id']}.{duty.parameters['duty_id']}"},
        payload={},
        id=uuid_.uuid4(),
    )
    t0 = time.process_time()
    for _ in range(repeat):
        found = loaded.find_interested_triggers(event)
    assert len(found) == 1, found
    spent = (time.process_time() - t0) / repeat * 1000
    loaded.clear_loaded_automations()
    return count, spent


def runs_per_week(specs: list[DeploymentSpec]) -> int:
    return sum(len(expected_runs(s, WEEK, WEEK + dt.timedelta(days=7))) for s in specs)


def process_start(repeat: int = 3) -> tuple[float, float]:
    """A run's process: the interpreter, Prefect's engine and a flow module (what every run pays first).
    Median wall seconds and median CPU seconds (the CPU figure is steadier on a shared machine)."""
    import resource

    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import prefect.engine, flows.quota"], cwd=ROOT, check=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--events", type=int, default=10)
    ap.add_argument("--commune-too", action="store_true", help="also register the 114 plans in the commune profile")
    ap.add_argument("--offline-only", action="store_true", help="only the figures that need no server")
    ap.add_argument("--cases", default="base,province", help="server cases, of base, province, commune")
    ap.add_argument("--skip-offline", action="store_true", help="only the figures that need a server")
    ap.add_argument(
        "--sqlite-concurrency",
        type=int,
        default=2,
        help="register()'s requests at once on SQLite (its default, 4, met 503s at 114 plans on a loaded machine)",
    )
    args = ap.parse_args()
    pg_admin = os.environ.get("CCHC_TEST_POSTGRES_URL", "")
    if args.db in ("postgres", "both") and not pg_admin:
        raise SystemExit("--db postgres needs CCHC_TEST_POSTGRES_URL (postgresql+psycopg://user@host:port/postgres)")

    five = current_templates()
    province = current_province(HAI_PHONG, five)
    cases: list[tuple[str, list[Plan], Profile]] = [
        ("5 plans, commune", five, "commune"),
        (f"{len(province)} plans, commune", province, "commune"),
        (f"{len(province)} plans, province", province, "province"),
    ]
    if args.skip_offline:
        cases_offline: list[tuple[str, list[Plan], Profile]] = []
    else:
        cases_offline = cases
    wall, start = process_start() if cases_offline else (0.0, 0.0)
    if cases_offline:
        print(
            f"process start per run (interpreter, prefect.engine, a flow module): {wall:.2f} s wall, {start:.2f} s CPU"
        )
        print("\noffline: deployments, automations, prefect.yaml, runs in the week of 2026-11-30, schedule expansion")
    for label, plans, profile in cases_offline:
        specs = all_deployments(plans, profile)
        size = len(prefect_yaml(plans, profile).encode("utf-8"))
        week = runs_per_week(specs)
        ours, undated, n = expansion_cost(specs)
        automations, match_ms = trigger_matching(specs)
        print(
            f"  {label:<22} {len(specs):>5} deployments {sum(len(s.triggers) for s in specs):>5} automations  "
            f"prefect.yaml {size / 1e6:5.2f} MB  runs/working week {week:>6} (process starts ≈ {week * start / 3600:.1f} "
            f"CPU-h)  expand {n} schedules: {ours:.2f} s CPU with DTSTART, {undated:.2f} s from 2020-01-01 "
            f"({undated / ours:.1f}x)  one evidence event against {automations} automations: {match_ms:.2f} ms CPU",
            flush=True,
        )
    if args.offline_only:
        return

    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = []
    print("\nserver:")
    # The baseline and the province profile on each database first; the commune profile at 114 plans last.
    named = {"base": cases[0], "commune": cases[1], "province": cases[2]}
    chosen = args.cases.split(",") + (["commune"] if args.commune_too else [])
    order = [(db, named[c]) for c in chosen for db in dbs]
    for db, (label, plans, profile) in order:
        concurrency = args.sqlite_concurrency if db == "sqlite" else CONCURRENCY
        try:
            results.append(server_scenario(label, db, plans, profile, args.events, pg_admin, concurrency))
        except Exception as e:  # a failed case is a figure too (e.g. SQLite's 503s); the others still run
            print(f"{label:<22} {db:<8} FAILED at concurrency {concurrency}: {type(e).__name__}: {e}", flush=True)
    print("\nratios against the five plans on the same database:")
    for db in dbs:
        base = next((r for r in results if r["db"] == db and r["deployments"] == len(all_deployments(five))), None)
        if base is None:
            continue
        for r in results:
            if r["db"] != db or r is base:
                continue
            print(
                f"  {db:<8} {r['label']:<22} deployments {r['deployments'] / base['deployments']:.1f}x  "
                f"register {r['register_s'] / base['register_s']:.1f}x  "
                f"main loop max {max(r['loops']['schedule_deployments'], default=0) / max(max(base['loops']['schedule_deployments'], default=0), 1e-3):.1f}x  "
                f"event→run median {statistics.median(r['event_s']) / statistics.median(base['event_s']):.2f}x"
            )


if __name__ == "__main__":
    main()

"""Benchmark: putting a province's (114 plans) or the country's (3,321 plans) plans into the store.

In the same run, for SQLite (a scratch file) and, when CCHC_TEST_POSTGRES_URL is set, PostgreSQL (throwaway
databases, dropped afterwards), each into a fresh store:

- ``loop``: ``repo.sync_plan`` plan by plan, one transaction each (what ``cchc province status`` did),
- ``bulk``: ``repo.sync_plans``, 200 plans a transaction (what it does now),
- ``again``: ``repo.sync_plans`` once more over the unchanged plans (statements counted: one per batch), and
  the loop once more (a transaction and a read per plan),

and ``occurrences``: the pure calendar (``plan_occurrences`` of every plan), the part no store path avoids.
Both stores are then compared table by table (every row but the occurrences' surrogate ids).
Ratios are loop / bulk measured in the same run; the load of the machine moves both alike.

    python bench/bench_sync.py [--national] [--no-postgres] [--no-loop]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pendulum
from sqlalchemy import Engine, create_engine, event, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synth import HAI_PHONG, national_plans, province_plans  # noqa: E402
from cchc.core.calendar import plan_occurrences  # noqa: E402
from cchc.core.spec import Plan  # noqa: E402
from cchc.store import repo  # noqa: E402
from cchc.store.db import dispose_all, get_engine, session_scope  # noqa: E402

NOW = pendulum.datetime(2026, 1, 10, 8, tz="UTC")
BATCH = 200  # as cchc.app.province.SYNC_BATCH
TABLES = {
    "plans": "SELECT * FROM plans ORDER BY id",
    "duties": "SELECT * FROM duties ORDER BY plan_id, duty_id",
    "duty_evidence_kinds": "SELECT * FROM duty_evidence_kinds ORDER BY plan_id, duty_id, kind",
    "occurrences": "SELECT plan_id, duty_id, period, kind, lead, starts, due, closes, due_soon_from, start_day,"
    " last_day, close_day, required, needed, in_force, co_leads, status, status_at"
    " FROM occurrences ORDER BY plan_id, duty_id, period",
}


def by_loop(engine: Engine, plans: list[Plan]) -> None:
    for p in plans:
        with session_scope(engine) as s:
            repo.sync_plan(s, p, NOW)


def by_bulk(engine: Engine, plans: list[Plan]) -> None:
    for i in range(0, len(plans), BATCH):
        with session_scope(engine) as s:
            repo.sync_plans(s, plans[i : i + BATCH], NOW)


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU of this process) seconds."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as c:
        return {t: [tuple(r) for r in c.execute(text(q))] for t, q in TABLES.items()}


def measure(
    label: str, new_store: Callable[[], Engine], plans: list[Plan], loop: bool, calendar: float
) -> dict[str, float]:
    """``calendar``: the pure occurrences' CPU seconds, which both paths spend; the rest is the store's part
    (on PostgreSQL the server's work is not in this process's CPU: compare the wall ratios too)."""
    out: dict[str, float] = {}
    bulk_store = new_store()
    out["bulk"], out["bulk_cpu"] = timed(lambda: by_bulk(bulk_store, plans))
    with counted(bulk_store) as seen:
        out["again"], _ = timed(lambda: by_bulk(bulk_store, plans))
    statements = [q for q in seen if q.split()[0].upper() not in ("BEGIN", "COMMIT", "ROLLBACK")]
    out["again_queries"] = len(statements)
    line = (
        f"[{label}] {len(plans)} plans: sync_plans {out['bulk']:.2f} s (CPU {out['bulk_cpu']:.2f} s); "
        f"again, unchanged: {out['again'] * 1000:.0f} ms, {len(statements)} statement(s) for "
        f"{-(-len(plans) // BATCH)} batch(es)"
    )
    if loop:
        loop_store = new_store()
        out["loop"], out["loop_cpu"] = timed(lambda: by_loop(loop_store, plans))
        out["loop_again"], _ = timed(lambda: by_loop(loop_store, plans))
        same = dump(loop_store) == dump(bulk_store)
        line += (
            f"; sync_plan loop {out['loop']:.2f} s (CPU {out['loop_cpu']:.2f} s): "
            f"loop/bulk {out['loop'] / out['bulk']:.2f}x wall, {out['loop_cpu'] / out['bulk_cpu']:.2f}x CPU; "
            f"again, unchanged, plan by plan: {out['loop_again'] * 1000:.0f} ms "
            f"({out['loop_again'] / out['again']:.1f}x); rows identical: {same}; the store's part, CPU minus the "
            f"calendar's: loop {out['loop_cpu'] - calendar:.2f} s, bulk {out['bulk_cpu'] - calendar:.2f} s, "
            f"{(out['loop_cpu'] - calendar) / max(out['bulk_cpu'] - calendar, 1e-3):.1f}x"
        )
        if not same:
            raise SystemExit(f"[{label}] the two stores differ")
    print(line, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--national", action="store_true", help="3,321 plans (default: Hải Phòng's 114)")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-loop", action="store_true", help="skip the plan-by-plan baseline (minutes on PostgreSQL)")
    args = ap.parse_args()
    plans = national_plans() if args.national else province_plans(HAI_PHONG)
    wall, calendar = timed(lambda: [plan_occurrences(p) for p in plans])
    print(f"{len(plans)} plans; their occurrences, pure calendar: {wall:.2f} s (CPU {calendar:.2f} s)", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        n = iter(range(100))
        measure("sqlite", lambda: get_engine(f"sqlite:///{tmp}/store{next(n)}.db"), plans, not args.no_loop, calendar)
        dispose_all()

    base = os.environ.get("CCHC_TEST_POSTGRES_URL")
    if base and not args.no_postgres:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        made: list[str] = []

        def new_pg() -> Engine:
            name = f"bench_sync_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            made.append(name)
            return get_engine(base.rsplit("/", 1)[0] + "/" + name)

        try:
            measure("postgresql", new_pg, plans, not args.no_loop, calendar)
        finally:
            dispose_all()
            with admin.connect() as conn:
                for name in made:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()

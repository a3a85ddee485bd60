"""Two processes syncing the same plan at the same moment (the portal and the runner of `cchc up` both load
every plan when they start): one writes it, the other finds it written; no duplicate key, no duplicated or
missing duty, evidence kind or occurrence. On PostgreSQL (a real server) and on SQLite, in real processes."""

from __future__ import annotations

import multiprocessing as mp
import shutil
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest
from sqlalchemy import create_engine, func, select

from cchc.core.calendar import plan_occurrences
from cchc.core.loader import parse_plan
from cchc.core.spec import Plan
from cchc.store import repo
from cchc.store.db import dispose_all, get_engine, session_scope
from cchc.store.models import DutyEvidenceKind, DutyRow, OccurrenceRow, PlanRow
from tests.conftest import FIXTURES

DEMO_TEXT = (FIXTURES / "demo.yaml").read_text(encoding="utf-8")
NOW = pendulum.datetime(2025, 10, 20, 9, tz="Asia/Ho_Chi_Minh")
ROUNDS = 10
WORKERS = 2
WAIT = 60.0  # seconds any one step may take before the test gives up (bounded, never a hang)


def _versions() -> tuple[Plan, Plan]:
    """The plan as first loaded, then edited (a count and the end of its period: occurrences go and change)."""
    first = parse_plan(DEMO_TEXT)
    edited = parse_plan(DEMO_TEXT.replace("min_count: 3", "min_count: 4").replace("end: 2025-12-31", "end: 2025-11-30"))
    return first, edited


def _worker(urls: list[str], barrier: Any, results: Any, worker: int) -> None:
    """For each round: wait for the other process, sync the new plan; wait again, sync its edited version."""
    plans = _versions()
    for rnd, url in enumerate(urls):
        engine = get_engine(url)  # migrated already: a revision check, before the start line
        for phase, plan in enumerate(plans):
            barrier.wait(timeout=WAIT)
            try:
                with session_scope(engine) as s:
                    outcome = "changed" if repo.sync_plan(s, plan, NOW) else "unchanged"
            except Exception:
                outcome = "error: " + traceback.format_exc(limit=3)
            results.put((rnd, phase, worker, outcome))
        dispose_all()


def _expected(plan: Plan) -> dict[str, Any]:
    items = [(d.id, d.counted_kinds) for d in plan.duties] + [(r.id, r.counted_kinds) for r in plan.reports]
    occurrences = plan_occurrences(plan)
    return {
        "duties": sorted(i for i, _ in items),
        "kinds": sorted((i, k.value) for i, kinds in items for k in kinds),
        "occurrences": sorted((o.duty, o.period) for o in occurrences),
        "required": sorted((o.duty, o.period, o.required) for o in occurrences),
        "sha": repo.spec_fingerprint(plan)[0],
    }


def _stored(url: str, plan_id: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            occ = c.execute(
                select(OccurrenceRow.duty_id, OccurrenceRow.period, OccurrenceRow.required).where(
                    OccurrenceRow.plan_id == plan_id
                )
            ).all()
            return {
                "duties": sorted(c.scalars(select(DutyRow.duty_id).where(DutyRow.plan_id == plan_id))),
                "kinds": sorted(
                    (r.duty_id, r.kind)
                    for r in c.execute(select(DutyEvidenceKind).where(DutyEvidenceKind.plan_id == plan_id))
                ),
                "occurrences": sorted((r.duty_id, r.period) for r in occ),
                "required": sorted((r.duty_id, r.period, r.required) for r in occ),
                "sha": c.scalar(select(PlanRow.spec_sha256).where(PlanRow.id == plan_id)),
                "plans": c.scalar(select(func.count()).select_from(PlanRow)),
            }
    finally:
        engine.dispose()


def _race(fresh_database: Callable[[], str]) -> None:
    urls = [fresh_database() for _ in range(ROUNDS)]
    ctx = mp.get_context("spawn")  # a clean interpreter each: no engine or connection inherited
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(urls, barrier, results, w)) for w in range(WORKERS)]
    for p in procs:
        p.start()
    got: dict[tuple[int, int], list[str]] = {}
    try:
        for _ in range(ROUNDS * 2 * WORKERS):
            rnd, phase, _worker_no, outcome = results.get(timeout=WAIT)
            got.setdefault((rnd, phase), []).append(outcome)
    finally:
        for p in procs:
            p.join(timeout=WAIT)
            if p.exitcode is None:
                p.kill()
                p.join(timeout=10)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    errors = [o for outcomes in got.values() for o in outcomes if o.startswith("error")]
    assert not errors, f"{len(errors)} of {ROUNDS * 2 * WORKERS} syncs failed; the first:\n{errors[0]}"
    for key, outcomes in sorted(got.items()):
        # One process writes each version; the other waits for it and finds nothing to do.
        assert sorted(outcomes) == ["changed", "unchanged"], (key, outcomes)
    edited = _expected(_versions()[1])
    for url in urls:
        stored = _stored(url, "demo")
        assert stored.pop("plans") == 1
        assert stored == edited


def test_two_processes_syncing_a_new_plan_at_once_on_sqlite(tmp_path: Path) -> None:
    template = tmp_path / "template.db"
    get_engine(f"sqlite:///{template}")  # migrated once, then copied for each round
    dispose_all()  # checkpointed: one self-contained file
    made = iter(range(ROUNDS))

    def fresh() -> str:
        path = tmp_path / f"round-{next(made)}.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"

    _race(fresh)


@pytest.fixture
def pg_fresh_database(pg_databases: Callable[..., str]) -> Callable[[], str]:
    """Fresh migrated databases: copies of one migrated template (conftest's pg_databases drops them all)."""
    template = pg_databases()
    get_engine(template)
    dispose_all()  # a template must have no connections while it is copied
    return lambda: pg_databases(template=template)


@pytest.mark.postgres
def test_two_processes_syncing_a_new_plan_at_once_on_postgresql(pg_fresh_database: Callable[[], str]) -> None:
    _race(pg_fresh_database)

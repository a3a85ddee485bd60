"""repo.sync_plans (many plans in one go) leaves exactly the rows that sync_plan plan by plan leaves, on SQLite
and PostgreSQL; an unchanged set costs one query; two processes syncing the same plans at once on PostgreSQL
end with one copy of each row and no error."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pendulum
import pytest
from sqlalchemy import Engine, event, text

from bench.synth import province_plans
from cchc.core.loader import load_plan
from cchc.core.spec import Plan
from cchc.store import repo
from cchc.store.db import get_engine, session_scope
from tests.conftest import PLAN_DIR, PLAN_IDS

NOW = pendulum.datetime(2026, 1, 10, 8, tz="UTC")
LATER = pendulum.datetime(2026, 2, 1, 8, tz="UTC")
# Every table sync_plan writes, each row in full; the surrogate ids separately (they follow insertion order).
TABLES = {
    "plans": "SELECT * FROM plans ORDER BY id",
    "duties": "SELECT * FROM duties ORDER BY plan_id, duty_id",
    "duty_evidence_kinds": "SELECT * FROM duty_evidence_kinds ORDER BY plan_id, duty_id, kind",
    "occurrences": "SELECT * FROM occurrences ORDER BY plan_id, duty_id, period",
    "audit": "SELECT * FROM audit ORDER BY plan_id, action, detail",
}
SURROGATE = {"occurrences": "id", "audit": "id"}


def seed_plans() -> list[Plan]:
    return [load_plan(PLAN_DIR / f"{pid}.yaml") for pid in PLAN_IDS]


@pytest.fixture(scope="module")
def plans() -> list[Plan]:
    return seed_plans() + province_plans(31)[:30]


def dump(engine: Engine, with_ids: bool) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with engine.connect() as c:
        for table, sql in TABLES.items():
            result = c.execute(text(sql))
            keep = [i for i, k in enumerate(result.keys()) if with_ids or SURROGATE.get(table) != k]
            out[table] = [tuple(r[i] for i in keep) for r in result]
    return out


def changed_title(plan: Plan) -> Plan:
    return plan.model_copy(update={"title": plan.title + " (đính chính)"})


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """Fresh migrated stores of one dialect (PostgreSQL: copies of one migrated database)."""
    if request.param == "sqlite":
        n = iter(range(100))
        yield lambda: get_engine(f"sqlite:///{tmp_path}/store{next(n)}.db")
        return
    new = request.getfixturevalue("pg_databases")
    template = new()
    get_engine(template).dispose()  # migrated once; a template must have no connection
    yield lambda: get_engine(new(template=template))


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def by_loop(engine: Engine, plans: list[Plan], now: dt.datetime = NOW) -> None:
    with session_scope(engine) as s:
        for p in plans:
            repo.sync_plan(s, p, now)


def test_bulk_rows_equal_the_loop_and_a_second_sync_is_one_query(
    stores: Callable[[], Engine], plans: list[Plan]
) -> None:
    loop, bulk = stores(), stores()
    by_loop(loop, plans)
    with session_scope(bulk) as s:
        changed = repo.sync_plans(s, plans, NOW)
    assert changed == [p.id for p in plans]
    expected = dump(loop, with_ids=True)
    assert len(expected["occurrences"]) > 30 * 20 and len(expected["plans"]) == 35
    assert dump(bulk, with_ids=True) == expected  # all new: even the occurrence ids are the loop's

    with counted(bulk) as statements, session_scope(bulk) as s:
        assert repo.sync_plans(s, plans, LATER) == []
    assert len([q for q in statements if not q.lstrip().upper().startswith(("BEGIN", "COMMIT"))]) == 1
    assert dump(bulk, with_ids=True) == expected


def test_changed_and_repeated_plans_among_new_ones_take_the_one_plan_path(
    stores: Callable[[], Engine], plans: list[Plan]
) -> None:
    loop, bulk = stores(), stores()
    before = plans[::3]
    for engine in (loop, bulk):
        by_loop(engine, before)
    edited = changed_title(plans[3])  # stored already (index 3 is in plans[::3]), now changed: plan.correct
    twice = [plans[4], changed_title(plans[4])]  # new, then at once a second version: inserted, then corrected
    back = [changed_title(plans[6]), plans[6]]  # stored, changed and changed back in one call
    batch = [*plans[1:3], edited, *twice, *back, *plans[7:]]
    by_loop(loop, batch, LATER)
    with session_scope(bulk) as s:
        changed = repo.sync_plans(s, batch, LATER)
    new = [p.id for p in plans[7:] if p.id not in {b.id for b in before}]
    assert set(changed) == {plans[1].id, plans[2].id, edited.id, plans[4].id, plans[6].id, *new}
    got, expected = dump(bulk, with_ids=False), dump(loop, with_ids=False)
    assert [r for r in expected["audit"] if plans[3].id in r] and got == expected


def _waiting_on_a_lock(engine: Engine, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    with engine.connect() as c:
        while time.monotonic() < deadline:
            n = c.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            c.rollback()
            if n:
                return True
            time.sleep(0.05)
    return False


def test_two_processes_syncing_the_same_plans_on_postgresql(
    pg_databases: Callable[..., str], plans: list[Plan]
) -> None:
    template = pg_databases()
    get_engine(template).dispose()
    loop, raced, free = (get_engine(pg_databases(template=template)) for _ in range(3))
    by_loop(loop, plans)
    expected = dump(loop, with_ids=False)

    # One inserts a part of the plans and holds its transaction open; the other, given all of them, inserts the
    # rest, waits on the first one's rows, then finds them written and compares them under their lock.
    results: dict[str, Any] = {}

    def second() -> None:
        try:
            with session_scope(raced) as s:
                results["second"] = repo.sync_plans(s, plans, NOW)
        except BaseException as e:  # the assertion below reports it
            results["error"] = e

    with session_scope(raced) as s:
        results["first"] = repo.sync_plans(s, plans[::2], NOW)
        t = threading.Thread(target=second)
        t.start()
        assert _waiting_on_a_lock(raced), "the second sync never waited for the first one's rows"
    t.join(60)
    assert "error" not in results and not t.is_alive()
    assert sorted(results["first"] + results["second"]) == sorted(p.id for p in plans)
    assert dump(raced, with_ids=False) == expected

    # Both at once, free-running, on another store: no error, no duplicate.
    gate = threading.Barrier(2)
    errors: list[BaseException] = []
    done: list[list[str]] = []

    def run(chosen: list[Plan]) -> None:
        try:
            gate.wait()
            with session_scope(free) as s:
                done.append(repo.sync_plans(s, chosen, NOW))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c,)) for c in (plans, plans[::-1])]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors and len(done) == 2
    assert sorted(done[0] + done[1]) == sorted(p.id for p in plans)
    assert dump(free, with_ids=False) == expected

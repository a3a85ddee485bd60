"""repo.evaluate's fast path (national size, bench/bench_evaluate.py --national): objects made without their
constructors, the collector paused, the moment taken into the plans' zone. Same answers as the slow way."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
from zoneinfo import ZoneInfo

import pendulum
import pytest
from sqlalchemy import text

from cchc.core.calendar import plan_occurrences
from cchc.core.evaluate import Status
from cchc.settings import Settings
from cchc.store import repo
from cchc.store.db import get_engine, session_scope
from tests.test_evaluate import DEMO, TZ, _seed, at


def test_evaluate_builds_the_same_occurrences_and_verdicts_as_the_constructors(cchc_env: Settings) -> None:
    # evaluate makes its Occurrence and Judged objects without their __init__ (national size): they must be
    # indistinguishable from constructed ones, in the order due time, item, period.
    _seed(cchc_env, [dt.date(2025, 8, 1), dt.date(2025, 10, 6)])
    moment = at(2025, 10, 28)
    with session_scope(get_engine(cchc_env.db_url)) as s:
        judged = repo.evaluate(s, moment, [DEMO.id])
        stored = repo.stored_occurrences(s, DEMO)
    assert [j.occurrence for j in judged] == stored
    assert [hash(j.occurrence) for j in judged] == [hash(o) for o in stored]
    assert [repr(j.occurrence) for j in judged] == [repr(o) for o in stored]
    keys = [(j.occurrence.due, j.occurrence.duty, j.occurrence.period) for j in judged]
    assert keys == sorted(keys) and len(set(keys)) == len(keys) == len(plan_occurrences(DEMO))
    for j in judged:
        o = j.occurrence
        rebuilt = repo.Judged(dataclasses.replace(o), j.status, j.count, j.late)
        assert j == rebuilt and hash(j) == hash(rebuilt)
        assert o.starts.tzinfo == ZoneInfo(TZ) and o.start_day == o.starts.date()
        with pytest.raises(dataclasses.FrozenInstanceError):
            o.period = "x"  # type: ignore[misc]


def test_evaluate_leaves_the_cycle_collector_as_it_found_it(cchc_env: Settings) -> None:
    _seed(cchc_env, [])
    engine = get_engine(cchc_env.db_url)
    assert gc.isenabled()
    with session_scope(engine) as s:
        repo.evaluate(s, at(2025, 10, 28), [DEMO.id])
    assert gc.isenabled()
    gc.disable()
    try:
        with session_scope(engine) as s:
            repo.evaluate(s, at(2025, 10, 28), [DEMO.id])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_moment_judged_is_the_same_instant_in_the_plans_zone_unless_ambiguous_there() -> None:
    moment = at(2025, 10, 28).in_timezone("UTC")
    local = repo._in_zone(moment, ZoneInfo(TZ))
    assert local == moment and type(local) is dt.datetime and local.tzinfo == ZoneInfo(TZ)
    assert local.hour == 9
    # 02:30 on 26 October 2025 happens twice in Berlin: kept as given, compared across zones as before
    berlin = ZoneInfo("Europe/Berlin")
    twice = dt.datetime(2025, 10, 26, 0, 30, tzinfo=dt.UTC)
    assert repo._in_zone(twice, berlin) is twice
    once = dt.datetime(2025, 10, 26, 3, 30, tzinfo=dt.UTC)
    assert repo._in_zone(once, berlin) == once and repo._in_zone(once, berlin).tzinfo is berlin


def _record(url: str) -> None:
    """The same records on either backend: counted and uncounted kinds, late, rejected, after the moment."""
    now = pendulum.datetime(2026, 1, 10, tz="UTC")
    items = [
        ("posts", "post", dt.date(2025, 8, d)) for d in (1, 5, 9, 30)
    ] + [
        ("posts", "event", dt.date(2025, 9, 3)),  # not a kind that counts for posts
        ("posts", "post", dt.date(2025, 9, 4)),
        ("contest", "event", dt.date(2025, 10, 8)),
        ("contest", "post", dt.date(2025, 7, 20)),  # not a kind that counts for the contest
        ("bao-cao-quy", "report_delivery", dt.date(2025, 10, 9)),  # late for Q3
        ("posts", "post", dt.date(2025, 11, 2)),
        ("posts", "post", dt.date(2025, 12, 30)),  # after the moments judged below
    ]  # fmt: skip
    with session_scope(get_engine(url)) as s:
        repo.sync_plan(s, DEMO, now)
        ids = [
            repo.add_evidence(
                s, repo.NewEvidence(DEMO.id, duty, kind, f"mục {i}", day, url=f"https://x.example/{i}"), now
            ).id
            for i, (duty, kind, day) in enumerate(items)
        ]
        repo.reject(s, DEMO.id, ids[1], "trùng tin bài", "điều phối", now)
        repo.waive(s, DEMO.id, "posts", "2025-11", "không có kinh phí", "điều phối", now)


def test_postgresql_counts_and_judges_exactly_as_sqlite(cchc_env: Settings, pg_url: str) -> None:
    # PostgreSQL joins the counted kinds where SQLite probes them per row (repo._tally_query): same answers.
    _record(cchc_env.db_url)
    _record(pg_url)
    seen: set[Status] = set()
    for moment in (at(2025, 8, 20), at(2025, 9, 10), at(2025, 10, 15), at(2025, 11, 5), at(2026, 1, 5)):
        with session_scope(get_engine(cchc_env.db_url)) as s:
            lite = repo.evaluate(s, moment, [DEMO.id])
        with session_scope(get_engine(pg_url)) as s:
            pg = repo.evaluate(s, moment, [DEMO.id])
            assert s.execute(text("SHOW jit")).scalar() == "off"  # for this transaction only
        assert pg == lite and len(pg) == len(plan_occurrences(DEMO))
        seen |= {j.status for j in pg}
        if moment == at(2025, 9, 10):
            counts = {(j.occurrence.duty, j.occurrence.period): j.count for j in pg}
            # 2025-08: four posts, one rejected; 2025-09: one post, the event does not count for posts
            assert counts[("posts", "2025-08")] == 3 and counts[("posts", "2025-09")] == 1
            assert counts[("contest", "2025-Q3")] == 0  # a post does not count for the contest
    assert seen == {Status.met, Status.met_late, Status.missed, Status.open, Status.overdue, Status.upcoming,
                    Status.waived}  # fmt: skip
    with session_scope(get_engine(pg_url)) as s:
        assert s.execute(text("SHOW jit")).scalar() == "on"

"""repo.evaluate's fast path (national size, bench/bench_evaluate.py --national): objects made without their
constructors, the collector paused, the moment taken into the plans' zone. Same answers as the slow way."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
from zoneinfo import ZoneInfo

import pytest

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
    assert [(o.due, o.duty, o.period) for o in stored] == sorted((o.due, o.duty, o.period) for o in stored)
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

"""Every status word, judged in memory and in SQL with the same answer."""

from __future__ import annotations

import datetime as dt

import pendulum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from cchc.core.calendar import plan_occurrences
from cchc.core.evaluate import Status, Tally, judge, tally_dates
from cchc.core.loader import parse_plan
from cchc.settings import Settings
from cchc.store import repo
from cchc.store.db import get_engine, session_scope
from cchc.store.models import EvidenceRow
from tests.conftest import FIXTURES

DEMO = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))
TZ = "Asia/Ho_Chi_Minh"


def at(y: int, m: int, d: int, h: int = 9) -> pendulum.DateTime:
    return pendulum.datetime(y, m, d, h, tz=TZ)


def occ(duty: str, period: str):  # type: ignore[no-untyped-def]
    return next(o for o in plan_occurrences(DEMO) if o.duty == duty and o.period == period)


def test_before_the_window_it_is_upcoming() -> None:
    assert judge(occ("posts", "2025-10"), Tally(), at(2025, 9, 20)) is Status.upcoming


def test_early_in_the_window_it_is_open_then_due_soon() -> None:
    o = occ("posts", "2025-10")
    assert judge(o, Tally(on_time=1), at(2025, 10, 10)) is Status.open
    assert judge(o, Tally(on_time=2), at(2025, 10, 27)) is Status.due_soon


def test_a_quota_reached_mid_period_is_met() -> None:
    assert judge(occ("posts", "2025-10"), Tally(on_time=3), at(2025, 10, 12)) is Status.met


def test_a_quota_short_when_the_month_closes_is_missed() -> None:
    o = occ("posts", "2025-10")
    assert judge(o, Tally(on_time=2), at(2025, 10, 31, 23)) is Status.due_soon
    assert judge(o, Tally(on_time=2), at(2025, 11, 1, 0)) is Status.missed


def test_a_deadline_past_due_is_overdue_then_missed_when_the_window_closes() -> None:
    o = occ("contest", "2025-Q3")
    assert judge(o, Tally(), at(2025, 10, 2)) is Status.overdue
    assert judge(o, Tally(), at(2026, 1, 1, 0)) is Status.missed


def test_a_deadline_done_after_due_is_met_late() -> None:
    assert judge(occ("contest", "2025-Q3"), Tally(late=1), at(2025, 10, 20)) is Status.met_late


def test_a_waiver_wins_over_everything() -> None:
    assert judge(occ("contest", "2025-Q3"), Tally(waived=True), at(2026, 2, 1)) is Status.waived


def test_evidence_dated_after_the_moment_is_not_counted() -> None:
    o = occ("posts", "2025-10")
    t = tally_dates(o, [dt.date(2025, 10, 3), dt.date(2025, 10, 20)], at_day=dt.date(2025, 10, 10))
    assert t.on_time == 1


def _seed(settings: Settings, dates: list[dt.date]) -> None:
    engine = get_engine(settings.db_url)
    now = pendulum.datetime(2026, 1, 10, tz="UTC")
    with session_scope(engine) as s:
        repo.sync_plan(s, DEMO, now)
        for i, d in enumerate(dates):
            for duty, kind in (("posts", "post"), ("contest", "event")):
                repo.add_evidence(
                    s,
                    repo.NewEvidence(DEMO.id, duty, kind, f"item {i}", d, url=f"https://x.example/{duty}/{i}"),
                    now,
                )


def test_sql_evaluation_reaches_every_status_word(cchc_env: Settings) -> None:
    _seed(cchc_env, [dt.date(2025, 8, d) for d in (1, 2, 3)] + [dt.date(2025, 10, 5), dt.date(2025, 10, 6)])
    engine = get_engine(cchc_env.db_url)
    with session_scope(engine) as s:
        repo.waive(s, DEMO.id, "posts", "2025-11", "Tháng 11 không có kinh phí", "điều phối", at(2025, 11, 2))
        got = {
            (j.occurrence.duty, j.occurrence.period): j.status for j in repo.evaluate(s, at(2025, 10, 28), [DEMO.id])
        }
    assert got[("posts", "2025-08")] is Status.met
    assert got[("posts", "2025-09")] is Status.missed
    assert got[("posts", "2025-10")] is Status.due_soon
    assert got[("posts", "2025-11")] is Status.waived
    assert got[("posts", "2025-12")] is Status.upcoming
    assert got[("contest", "2025-Q3")] is Status.met
    assert got[("bao-cao-quy", "2025-Q3")] is Status.overdue
    assert got[("bao-cao-quy", "2025-Q4")] is Status.open
    with session_scope(engine) as s:
        late = {(j.occurrence.duty, j.occurrence.period): j.status for j in repo.evaluate(s, at(2026, 1, 5), [DEMO.id])}
    assert late[("bao-cao-quy", "2025-Q3")] is Status.missed
    with session_scope(engine) as s:
        repo.add_evidence(
            s,
            repo.NewEvidence(DEMO.id, "bao-cao-quy", "report_delivery", "BC quý III", dt.date(2025, 9, 20)),
            at(2025, 9, 20),
        )
        after = {
            (j.occurrence.duty, j.occurrence.period): j.status for j in repo.evaluate(s, at(2025, 10, 1), [DEMO.id])
        }
    assert after[("bao-cao-quy", "2025-Q3")] is Status.met_late


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dates=st.lists(st.dates(min_value=dt.date(2025, 7, 1), max_value=dt.date(2026, 2, 1)), max_size=12),
    moment=st.datetimes(min_value=dt.datetime(2025, 7, 1), max_value=dt.datetime(2026, 2, 1)),
)
def test_sql_tallies_equal_the_in_memory_rule(cchc_env: Settings, dates: list[dt.date], moment: dt.datetime) -> None:
    engine = get_engine(cchc_env.db_url)
    with session_scope(engine) as s:
        s.execute(delete(EvidenceRow))
    _seed(cchc_env, dates)
    when = pendulum.instance(moment, tz=TZ)
    with session_scope(engine) as s:
        judged = repo.evaluate(s, when, [DEMO.id])
    for j in judged:
        o = j.occurrence
        expected = judge(o, tally_dates(o, dates if o.duty != "bao-cao-quy" else [], when.date()), when)
        assert j.status is expected, (o.duty, o.period, dates, when)

"""A make-up working day or an extra day off decided by the city or province moves reminders and due-soon
days at once, without waiting for a new release of the holidays package."""

from __future__ import annotations

import datetime as dt
import functools

import holidays
import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cchc.core.calendar import plan_occurrences
from cchc.core.escalation import ladder_for, step_moment
from cchc.core.loader import parse_plan
from cchc.core.spec import Plan
from cchc.core.workdays import NATIONAL, WorkCalendar
from tests.conftest import FIXTURES

TZ = "Asia/Ho_Chi_Minh"


def _demo(calendar: str = "") -> Plan:
    text = (FIXTURES / "demo.yaml").read_text(encoding="utf-8")
    return parse_plan(text.replace("units:\n", calendar + "units:\n", 1), "demo.yaml")


def _moments(plan: Plan) -> dict[str, dt.date | None]:
    q3 = next(o for o in plan_occurrences(plan) if o.duty == "bao-cao-quy" and o.period == "2025-Q3")
    out = {}
    for s in ladder_for(plan, "bao-cao-quy").ladder:
        m = step_moment(s, q3, TZ, plan.work_calendar)
        out[s.step] = m.date() if m else None
    return out


def test_an_extra_day_off_moves_the_reminder_earlier_and_the_notice_later() -> None:
    national = _moments(_demo())
    assert national["reminder-2"] == dt.date(2025, 9, 4) and national["overdue"] == dt.date(2025, 9, 8)
    local = _moments(
        _demo(
            "calendar:\n"
            "  - {date: 2025-09-04, working: false, reason: Quyết định nghỉ bù của UBND tỉnh}\n"
            "  - {date: 2025-09-08, working: false, reason: Quyết định nghỉ bù của UBND tỉnh}\n"
        )
    )
    assert local["reminder-2"] == dt.date(2025, 9, 3)  # 4/9 is now a day off
    assert local["overdue"] == dt.date(2025, 9, 9)  # and so is 8/9
    assert NATIONAL.is_working_day(dt.date(2025, 9, 4))  # the national calendar is untouched


def test_a_make_up_saturday_counts_as_a_working_day() -> None:
    plan = _demo("calendar:\n  - {date: 2025-09-06, working: true, reason: Làm bù theo Công văn của tỉnh}\n")
    assert plan.work_calendar.is_working_day(dt.date(2025, 9, 6))
    # The overdue notice after the 5/9 due date now falls on Saturday 6/9.
    assert _moments(plan)["overdue"] == dt.date(2025, 9, 6)
    q3 = next(o for o in plan_occurrences(plan) if o.duty == "bao-cao-quy" and o.period == "2025-Q3")
    assert q3.due_soon_from < pendulum.datetime(2025, 9, 1, tz=TZ)


def test_the_same_day_twice_is_refused_with_its_line() -> None:
    with pytest.raises(Exception, match=r"demo.yaml:\d+: calendar\[1\].*2025-09-04 is already changed"):
        _demo(
            "calendar:\n"
            "  - {date: 2025-09-04, working: false, reason: a}\n"
            "  - {date: 2025-09-04, working: true, reason: b}\n"
        )


@functools.lru_cache(maxsize=8)
def _package(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("VN", years=range(year - 1, year + 2))


def _reference_working(cal: WorkCalendar, day: dt.date) -> bool:
    """The definition, asked of the holidays package day by day (what the tables replaced)."""
    if day in cal.days_on:
        return True
    if day in cal.days_off:
        return False
    return bool(_package(day.year).is_working_day(day))


@settings(max_examples=150, deadline=None)
@given(
    start=st.dates(dt.date(2024, 1, 1), dt.date(2027, 12, 31)),
    span=st.integers(-5, 500),
    off=st.frozensets(st.dates(dt.date(2024, 1, 1), dt.date(2028, 6, 30)), max_size=4),
    on=st.frozensets(st.dates(dt.date(2024, 1, 1), dt.date(2028, 6, 30)), max_size=4),
    as_pendulum=st.booleans(),
)
def test_working_days_from_the_tables_are_the_holidays_package_s(
    start: dt.date, span: int, off: frozenset[dt.date], on: frozenset[dt.date], as_pendulum: bool
) -> None:
    """Counting and single days (national, local days off and make-up days, a day in both, across years, an
    empty or reversed range, pendulum dates as the calendar passes them) agree with the package day by day."""
    cal = WorkCalendar(off, on)
    first = pendulum.date(start.year, start.month, start.day) if as_pendulum else start
    end = first + dt.timedelta(days=span)
    days = [start + dt.timedelta(days=i) for i in range(max(span, 0))]
    assert cal.between(first, end) == sum(_reference_working(cal, d) for d in days)
    for d in [*days[:40], *sorted(on | off)]:
        assert cal.is_working_day(d) == _reference_working(cal, d)

"""Calendar rules: periods, windows and due times in Asia/Ho_Chi_Minh."""

from __future__ import annotations

import datetime as dt
import itertools

import pendulum
from hypothesis import given, settings
from hypothesis import strategies as st

from cchc.core.calendar import _due_day, occurrences, period_bounds, period_key, plan_occurrences
from cchc.core.loader import load_plan, parse_plan
from cchc.core.periods import Cadence
from cchc.core.spec import DueRule
from cchc.core.workdays import is_working_day, working_days_after, working_days_before
from tests.conftest import FIXTURES, PLAN_DIR

DEMO = (FIXTURES / "demo.yaml").read_text(encoding="utf-8")


def _plan(plan_id: str):  # type: ignore[no-untyped-def]
    return load_plan(PLAN_DIR / f"{plan_id}.yaml")


def test_quarterly_report_is_due_before_the_6th_of_the_last_month() -> None:
    plan = _plan("phu-thai-2025h2")
    reports = [o for o in plan_occurrences(plan) if o.kind.value == "report" and o.period in ("2025-Q3", "2025-Q4")]
    assert {(o.period, o.last_day) for o in reports} >= {
        ("2025-Q3", dt.date(2025, 9, 5)),
        ("2025-Q4", dt.date(2025, 12, 5)),
    }
    q3 = next(o for o in reports if o.period == "2025-Q3")
    # Exclusive deadline at 00:00 of the 6th, local time.
    assert q3.due == pendulum.datetime(2025, 9, 6, tz="Asia/Ho_Chi_Minh")
    assert q3.due.in_timezone("UTC") == pendulum.datetime(2025, 9, 5, 17, tz="UTC")


def test_phu_thong_has_a_monthly_quota_of_at_least_three_posts() -> None:
    plan = _plan("phu-thong-2025")
    quotas = [o for o in plan_occurrences(plan) if o.kind.value == "quota" and o.required == 3]
    months = sorted({o.period for o in quotas})
    assert "2025-10" in months and "2025-12" in months
    oct_ = next(o for o in quotas if o.period == "2025-10")
    assert oct_.start_day == dt.date(2025, 10, 1) and oct_.last_day == dt.date(2025, 10, 31)


def test_phu_thong_contest_is_due_by_the_end_of_q3() -> None:
    plan = _plan("phu-thong-2025")
    contests = [o for o in plan_occurrences(plan) if o.kind.value == "deadline" and o.period == "2025-Q3"]
    assert any(o.last_day == dt.date(2025, 9, 30) for o in contests)


def test_ninh_giang_has_a_survey_in_q4() -> None:
    plan = _plan("ninh-giang-2025h2")
    surveys = [d for d in plan.duties if d.requirement and "survey" in d.requirement.evidence]
    assert surveys
    occ = occurrences(plan, duties=[d.id for d in surveys])
    assert {o.period for o in occ} == {"2025-Q4"}
    assert all(o.last_day == dt.date(2025, 12, 31) for o in occ)


def test_chi_minh_has_a_report_due_in_early_december_2026() -> None:
    plan = _plan("chi-minh-2026")
    dec = [
        o
        for o in plan_occurrences(plan)
        if o.kind.value == "report" and o.last_day.year == 2026 and o.last_day.month == 12
    ]
    assert dec and all(o.last_day.day <= 10 for o in dec)


def test_occurrences_are_clipped_to_the_plan_period() -> None:
    plan = parse_plan(DEMO)  # runs 2025-08-01 .. 2025-12-31
    months = [o.period for o in plan_occurrences(plan) if o.duty == "posts"]
    assert months == ["2025-08", "2025-09", "2025-10", "2025-11", "2025-12"]
    q3 = next(o for o in plan_occurrences(plan) if o.duty == "bao-cao-quy" and o.period == "2025-Q3")
    assert q3.start_day == dt.date(2025, 8, 1)


def test_calendar_range_filter_keeps_overlapping_windows() -> None:
    plan = parse_plan(DEMO)
    occ = occurrences(plan, dt.date(2025, 10, 15), dt.date(2025, 10, 20))
    assert {(o.duty, o.period) for o in occ} == {("posts", "2025-10"), ("bao-cao-quy", "2025-Q4")}


def test_a_due_date_on_a_holiday_keeps_its_date_but_due_soon_moves_earlier() -> None:
    plan = parse_plan(DEMO)
    q3 = next(o for o in plan_occurrences(plan) if o.duty == "bao-cao-quy" and o.period == "2025-Q3")
    # 5 Sep 2025 is a Friday; 1-2 Sep are the National Day holidays.
    assert q3.due_soon_from.date() == dt.date(2025, 8, 27)


def test_vietnamese_holidays_and_make_up_days() -> None:
    assert not is_working_day(dt.date(2025, 9, 2))  # Quốc khánh
    assert not is_working_day(dt.date(2025, 1, 29))  # Tết
    assert is_working_day(dt.date(2025, 4, 26))  # Saturday worked in exchange for 2 May
    assert working_days_after(dt.date(2025, 8, 29), 1) == dt.date(2025, 9, 3)


days = st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2032, 12, 31))


@given(day=days, n=st.integers(min_value=1, max_value=10))
def test_working_days_before_lands_on_a_working_day_with_exactly_n_between(day: dt.date, n: int) -> None:
    r = working_days_before(day, n)
    assert r < day and is_working_day(r)
    between = sum(1 for i in range((day - r).days) if is_working_day(r + dt.timedelta(days=i)))
    assert between == n


@given(day=days, cadence=st.sampled_from([Cadence.month, Cadence.quarter, Cadence.half, Cadence.year]))
def test_period_key_and_bounds_agree(day: dt.date, cadence: Cadence) -> None:
    first, last = period_bounds(period_key(cadence, day))
    assert first <= day <= last
    assert (last + dt.timedelta(days=1)).day == 1 and first.day == 1


@given(
    start=days,
    length=st.integers(min_value=0, max_value=800),
    cadence=st.sampled_from(["month", "quarter", "half", "year"]),
)
@settings(max_examples=60, deadline=None)
def test_occurrences_tile_the_plan_period_without_gaps_or_overlaps(start: dt.date, length: int, cadence: str) -> None:
    end = start + dt.timedelta(days=length)
    text = DEMO.replace("period: {start: 2025-08-01, end: 2025-12-31}", f"period: {{start: {start}, end: {end}}}")
    text = text.replace("    cadence: month\n", f"    cadence: {cadence}\n", 1)
    text = text.replace('    only: ["2025-Q3"]\n', "")  # the contest's quarter would lie outside a moved period
    plan = parse_plan(text)
    occ = [o for o in plan_occurrences(plan) if o.duty == "posts"]
    assert occ[0].start_day == start and occ[-1].last_day == end
    for a, b in itertools.pairwise(occ):
        assert a.last_day + dt.timedelta(days=1) == b.start_day
    for o in occ:
        assert o.starts < o.due <= o.closes and o.starts <= o.due_soon_from < o.due


@given(first=days, day=st.integers(min_value=1, max_value=31))
def test_due_rule_day_is_clipped_to_the_month_end_including_leap_years(first: dt.date, day: int) -> None:
    f, last = period_bounds(period_key(Cadence.quarter, first))
    due = _due_day(DueRule(in_month="last", day=day), f, last)
    assert due.month == last.month and due.day == min(day, last.day)


def test_due_rule_in_february_of_a_leap_year() -> None:
    f, last = period_bounds("2028-02")
    assert _due_day(DueRule(in_month="last", day=31), f, last) == dt.date(2028, 2, 29)
    f, last = period_bounds("2027-02")
    assert _due_day(DueRule(in_month="last", day=31), f, last) == dt.date(2027, 2, 28)


def test_due_rule_next_month_crosses_the_year_boundary() -> None:
    f, last = period_bounds("2025-Q4")
    assert _due_day(DueRule(in_month="next", day=5), f, last) == dt.date(2026, 1, 5)


def test_report_data_windows_follow_the_national_cut_off_unless_the_plan_is_due_earlier() -> None:
    import datetime as _dt

    from cchc.core.calendar import report_data_window
    from cchc.core.loader import load_plan
    from tests.conftest import PLAN_DIR

    phu_thai = load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")
    quarterly = next(r for r in phu_thai.reports if r.id == "bao-cao-quy")
    # Due Wed 10 Sep (an assumed date), before the 14th: the data stop when the draft is made, 5 working days
    # before (6-7 Sep a weekend).
    assert report_data_window(quarterly, "2025-Q3") == (_dt.date(2025, 6, 15), _dt.date(2025, 9, 3))
    # Due 5 Sep (the units' date in this plan): the 5 working days step over the 1-2 Sep holidays.
    earlier = quarterly.model_copy(update={"due": DueRule(in_month="last", day=5)})
    assert report_data_window(earlier, "2025-Q3") == (_dt.date(2025, 6, 15), _dt.date(2025, 8, 27))
    later = quarterly.model_copy(update={"due": None})  # due at the period's end: the 14th cut-off holds
    assert report_data_window(later, "2025-Q3") == (_dt.date(2025, 6, 15), _dt.date(2025, 9, 14))
    assert report_data_window(later, "2025-Q1") == (_dt.date(2024, 12, 15), _dt.date(2025, 3, 14))
    whole = later.model_copy(update={"cutoff_day": None})
    assert report_data_window(whole, "2025-Q3") == (_dt.date(2025, 7, 1), _dt.date(2025, 9, 30))

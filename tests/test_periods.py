"""Period keys: one type, parsed in one place; every form round-trips and knows its days and its successor."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cchc.core.periods import Cadence, PeriodKey, is_period


@pytest.mark.parametrize(
    ("key", "cadence", "first", "last", "following"),
    [
        ("2025-10", Cadence.month, dt.date(2025, 10, 1), dt.date(2025, 10, 31), "2025-11"),
        ("2025-12", Cadence.month, dt.date(2025, 12, 1), dt.date(2025, 12, 31), "2026-01"),
        ("2024-02", Cadence.month, dt.date(2024, 2, 1), dt.date(2024, 2, 29), "2024-03"),
        ("2025-Q3", Cadence.quarter, dt.date(2025, 7, 1), dt.date(2025, 9, 30), "2025-Q4"),
        ("2025-Q4", Cadence.quarter, dt.date(2025, 10, 1), dt.date(2025, 12, 31), "2026-Q1"),
        ("2025-H2", Cadence.half, dt.date(2025, 7, 1), dt.date(2025, 12, 31), "2026-H1"),
        ("2025", Cadence.year, dt.date(2025, 1, 1), dt.date(2025, 12, 31), "2026"),
    ],
)
def test_a_key_knows_its_cadence_days_and_successor(
    key: str, cadence: Cadence, first: dt.date, last: dt.date, following: str
) -> None:
    p = PeriodKey.parse(key)
    assert (p.cadence, p.first, p.last, str(p.next()), str(p)) == (cadence, first, last, following, key)


@pytest.mark.parametrize("bad", ["2025-13", "2025-00", "2025-Q5", "2025-H3", "25-10", "2025-q3", "2025-10-01", ""])
def test_anything_else_is_refused_with_the_forms_that_work(bad: str) -> None:
    assert not is_period(bad)
    with pytest.raises(ValueError, match="use 2025-10, 2025-Q3, 2025-H2 or 2025"):
        PeriodKey.parse(bad)


def test_a_one_off_window_has_no_key() -> None:
    with pytest.raises(ValueError, match="one-off"):
        PeriodKey.of(Cadence.once, dt.date(2025, 7, 1))


@given(
    st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)), st.sampled_from([c for c in Cadence if c is not Cadence.once])
)
def test_the_period_of_a_day_holds_that_day_and_round_trips(day: dt.date, cadence: Cadence) -> None:
    p = PeriodKey.of(cadence, day)
    assert p.first <= day <= p.last
    assert PeriodKey.parse(str(p)) == p
    assert p.next().first == p.last + dt.timedelta(days=1)

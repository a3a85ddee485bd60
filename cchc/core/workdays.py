"""Vietnamese working days (weekends, public holidays, Tết, substitute days and make-up Saturdays)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _calendar(year: int) -> holidays.HolidayBase:
    # A window of years so that lookups near a year boundary stay in one object.
    return holidays.country_holidays("VN", years=range(year - 1, year + 2))


def is_working_day(day: dt.date) -> bool:
    return bool(_calendar(day.year).is_working_day(day))


def working_days_before(day: dt.date, n: int) -> dt.date:
    """The n-th working day strictly before ``day`` (n=0 gives ``day`` itself)."""
    if n <= 0:
        return day
    d = day
    counted = 0
    while counted < n:
        d -= dt.timedelta(days=1)
        if is_working_day(d):
            counted += 1
    return d


def working_days_after(day: dt.date, n: int) -> dt.date:
    """The n-th working day strictly after ``day``."""
    d = day
    counted = 0
    while counted < n:
        d += dt.timedelta(days=1)
        if is_working_day(d):
            counted += 1
    return d


def first_working_day_from(day: dt.date) -> dt.date:
    d = day
    while not is_working_day(d):
        d += dt.timedelta(days=1)
    return d


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days in [start, end)."""
    count = 0
    d = start
    while d < end:
        if is_working_day(d):
            count += 1
        d += dt.timedelta(days=1)
    return count

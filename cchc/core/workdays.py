"""Vietnamese working days (weekends, public holidays, Tết, substitute days and make-up Saturdays).

The ``holidays`` package knows the national calendar. A city or province sometimes decides a local
make-up working day or an extra day off; a plan declares those (``calendar:`` in its spec) and its
``WorkCalendar`` applies them on top, without waiting for a new release of the package.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import holidays


@lru_cache(maxsize=64)
def _calendar(year: int) -> holidays.HolidayBase:
    # Imported on first use: the package is slow to load, and a command that counts no working day
    # (`cchc status`, `cchc --help`) should not pay for it.
    import holidays

    # A window of years so that lookups near a year boundary stay in one object.
    return holidays.country_holidays("VN", years=range(year - 1, year + 2))


@lru_cache(maxsize=64)
def _year(year: int) -> tuple[int, bytes, tuple[int, ...]]:
    """One year of the national calendar as a table: its first day's ordinal, whether each day is a working day,
    and the running count of working days (a plan's calendar asks day by day, hundreds of thousands of times for a
    province; the package's own lookup costs microseconds each)."""
    cal = _calendar(year)
    first = dt.date(year, 1, 1)
    days = (dt.date(year + 1, 1, 1) - first).days
    work = bytes(bool(cal.is_working_day(first + dt.timedelta(days=i))) for i in range(days))
    return first.toordinal(), work, tuple(itertools.accumulate(work, initial=0))


def _national(day: dt.date) -> bool:
    first, work, _ = _year(day.year)
    return bool(work[day.toordinal() - first])


def _national_between(start: dt.date, end: dt.date) -> int:
    """National working days in [start, end), from the running counts: a few lookups per year spanned."""
    lo, hi = start.toordinal(), end.toordinal()
    total = 0
    year = start.year
    while lo < hi:
        first, work, counts = _year(year)
        stop = min(hi, first + len(work))
        total += counts[stop - first] - counts[lo - first]
        lo = stop
        year += 1
    return total


@dataclass(frozen=True)
class WorkCalendar:
    days_off: frozenset[dt.date] = field(default_factory=frozenset)  # extra days off decided locally
    days_on: frozenset[dt.date] = field(default_factory=frozenset)  # local make-up working days

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.days_on:
            return True
        if day in self.days_off:
            return False
        return _national(day)

    def before(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day strictly before ``day`` (n=0 gives ``day`` itself)."""
        if n <= 0:
            return day
        d = day
        counted = 0
        while counted < n:
            d -= dt.timedelta(days=1)
            if self.is_working_day(d):
                counted += 1
        return d

    def after(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day strictly after ``day``."""
        d = day
        counted = 0
        while counted < n:
            d += dt.timedelta(days=1)
            if self.is_working_day(d):
                counted += 1
        return d

    def first_from(self, day: dt.date) -> dt.date:
        d = day
        while not self.is_working_day(d):
            d += dt.timedelta(days=1)
        return d

    def between(self, start: dt.date, end: dt.date) -> int:
        """Working days in [start, end): the national count, corrected where the plan's own days differ."""
        if end <= start:
            return 0
        count = _national_between(start, end)
        for day in self.days_on | self.days_off:
            if start <= day < end:
                count += self.is_working_day(day) - _national(day)
        return count


NATIONAL = WorkCalendar()


@lru_cache(maxsize=64)
def with_overrides(days_off: frozenset[dt.date], days_on: frozenset[dt.date]) -> WorkCalendar:
    return WorkCalendar(days_off, days_on) if days_off or days_on else NATIONAL


def is_working_day(day: dt.date) -> bool:
    return NATIONAL.is_working_day(day)


def working_days_before(day: dt.date, n: int, cal: WorkCalendar = NATIONAL) -> dt.date:
    return cal.before(day, n)


def working_days_after(day: dt.date, n: int, cal: WorkCalendar = NATIONAL) -> dt.date:
    return cal.after(day, n)


def first_working_day_from(day: dt.date, cal: WorkCalendar = NATIONAL) -> dt.date:
    return cal.first_from(day)


def working_days_between(start: dt.date, end: dt.date, cal: WorkCalendar = NATIONAL) -> int:
    return cal.between(start, end)

"""Period keys ("2025-10", "2025-Q3", "2025-H2", "2025"): parsed in one place, into one type.

A period is a named stretch of the calendar that occurrences and reports are judged over; the
cadence (cchc.core.spec.Cadence) says how a duty's timeline is cut into them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

import pendulum


class Cadence(StrEnum):
    """How a duty's timeline is cut into occurrences (the spec's `cadence:`)."""

    month = "month"
    quarter = "quarter"
    half = "half"
    year = "year"
    once = "once"


PERIOD_KEY_PATTERN = r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4]|-H[12])?$"  # the spec's JSON Schema says the same
_KEY = re.compile(r"^(?P<y>\d{4})(?:-(?P<m>0[1-9]|1[0-2])|-Q(?P<q>[1-4])|-H(?P<h>[12]))?$")
_MONTHS = {Cadence.month: 1, Cadence.quarter: 3, Cadence.half: 6, Cadence.year: 12}


@dataclass(frozen=True, order=True)
class PeriodKey:
    year: int
    cadence: Cadence
    index: int  # month 1-12, quarter 1-4, half 1-2; 1 for a year

    @classmethod
    def parse(cls, key: str) -> PeriodKey:
        m = _KEY.match(key)
        if not m:
            raise ValueError(f"'{key}' is not a period (use 2025-10, 2025-Q3, 2025-H2 or 2025)")
        year = int(m["y"])
        if m["m"]:
            return cls(year, Cadence.month, int(m["m"]))
        if m["q"]:
            return cls(year, Cadence.quarter, int(m["q"]))
        if m["h"]:
            return cls(year, Cadence.half, int(m["h"]))
        return cls(year, Cadence.year, 1)

    @classmethod
    def of(cls, cadence: Cadence, day: dt.date) -> PeriodKey:
        """The period of this cadence that holds ``day``."""
        if cadence is Cadence.once:
            raise ValueError("a one-off window has no period key of its own")
        months = _MONTHS[cadence]
        return cls(day.year, cadence, (day.month - 1) // months + 1)

    @property
    def months(self) -> int:
        return _MONTHS[self.cadence]

    @property
    def first(self) -> pendulum.Date:
        return pendulum.date(self.year, (self.index - 1) * self.months + 1, 1)

    @property
    def last(self) -> pendulum.Date:
        return self.first.add(months=self.months).subtract(days=1)

    def next(self) -> PeriodKey:
        return PeriodKey.of(self.cadence, self.last + dt.timedelta(days=1))

    def __str__(self) -> str:
        if self.cadence is Cadence.month:
            return f"{self.year}-{self.index:02d}"
        if self.cadence is Cadence.quarter:
            return f"{self.year}-Q{self.index}"
        if self.cadence is Cadence.half:
            return f"{self.year}-H{self.index}"
        return f"{self.year}"


def is_period(key: str) -> bool:
    return _KEY.match(key) is not None

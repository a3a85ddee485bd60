"""Judging an occurrence at a moment: the pure rule behind every status word."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from cchc.core.calendar import Occurrence


class Status(StrEnum):
    upcoming = "upcoming"
    open = "open"
    due_soon = "due_soon"
    met = "met"
    met_late = "met_late"
    overdue = "overdue"
    missed = "missed"
    waived = "waived"
    before_effect = "before_effect"  # the period is (mostly) before the plan took effect: not judged


DONE = frozenset({Status.met, Status.met_late, Status.waived})


@dataclass(frozen=True)
class Tally:
    """Evidence counted for one occurrence, as of the moment judged."""

    on_time: int = 0  # dated inside [starts, due)
    late: int = 0  # dated in [due, closes), only for kinds that accept late work
    waived: bool = False


def judge(occ: Occurrence, tally: Tally, at: dt.datetime) -> Status:
    """Status of ``occ`` at ``at`` (aware datetime). Evidence must already be limited to dates <= at."""
    if tally.waived:
        return Status.waived
    if at < occ.starts:
        return Status.upcoming
    if tally.on_time >= occ.needed:
        return Status.met
    if tally.on_time + tally.late >= occ.needed:
        return Status.met_late
    if not occ.in_force:
        return Status.before_effect
    if at < occ.due:
        return Status.due_soon if at >= occ.due_soon_from else Status.open
    if at < occ.closes:
        return Status.overdue
    return Status.missed


def tally_dates(occ: Occurrence, dates: list[dt.date], at_day: dt.date, waived: bool = False) -> Tally:
    """Count evidence dates for ``occ`` in memory (the store does the same in SQL)."""
    on_time = late = 0
    for d in dates:
        if d > at_day or d < occ.start_day or d >= occ.close_day:
            continue
        if d <= occ.last_day:
            on_time += 1
        else:
            late += 1
    return Tally(on_time=on_time, late=late, waived=waived)

"""The plan calendar: every (duty, period) occurrence with its window and due time.

All moments are in the plan's time zone. A due time is *exclusive*: "trước ngày 06"
means the last day that counts is the 5th and the deadline is 00:00 of the 6th.
Nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pendulum
from pendulum import Date, DateTime

from cchc.core.periods import Cadence, PeriodKey
from cchc.core.spec import DueRule, Duty, DutyKind, Plan, Report
from cchc.core.workdays import NATIONAL, WorkCalendar, working_days_before, working_days_between

DUE_SOON_WORKING_DAYS = 5


@dataclass(frozen=True)
class Occurrence:
    """One (duty or report, period) pair."""

    plan: str
    duty: str
    kind: DutyKind
    period: str
    starts: dt.datetime  # aware, in the plan's time zone
    due: dt.datetime  # exclusive
    closes: dt.datetime  # exclusive; after this the occurrence is missed if not met
    required: int | None  # shown to people; None where no count applies
    needed: int  # evidence items that satisfy it
    evidence_kinds: tuple[str, ...]
    lead: str
    due_soon_from: dt.datetime
    # False for a period that began before the plan took effect and leaves too little of itself to judge:
    # never overdue or missed, never in a report's "tồn tại, hạn chế".
    in_force: bool = True
    co_leads: tuple[str, ...] = ()  # units the plan names jointly with ``lead``: each is a lead

    @property
    def leads(self) -> tuple[str, ...]:
        return (self.lead, *self.co_leads)

    @property
    def start_day(self) -> dt.date:
        return self.starts.date()

    @property
    def last_day(self) -> dt.date:
        """The last calendar day that is still on time."""
        return (self.due - dt.timedelta(days=1)).date()

    @property
    def close_day(self) -> dt.date:
        """First day no longer counted (exclusive)."""
        return self.closes.date()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.plan, self.duty, self.period)


DEFAULT_REPORT_DUE = DueRule(in_month="last", day=5)  # "trước ngày 06 của tháng cuối kỳ", the usual regime


def period_bounds(key: str) -> tuple[Date, Date]:
    """First and last day of a period key: ``2025-10``, ``2025-Q3``, ``2025-H2``, ``2025``."""
    p = PeriodKey.parse(key)
    return p.first, p.last


def period_key(cadence: Cadence, day: dt.date) -> str:
    return str(PeriodKey.of(cadence, day))


def _months(cadence: Cadence) -> int:
    return {Cadence.month: 1, Cadence.quarter: 3, Cadence.half: 6, Cadence.year: 12}[cadence]


def _periods(cadence: Cadence, start: dt.date, end: dt.date) -> Iterator[tuple[str, Date, Date]]:
    """Whole periods of the cadence that overlap [start, end]."""
    step = _months(cadence)
    first_month = ((start.month - 1) // step) * step + 1
    cur = pendulum.date(start.year, first_month, 1)
    while cur <= end:
        last = cur.add(months=step).subtract(days=1)
        yield period_key(cadence, cur), cur, last
        cur = cur.add(months=step)


def _due_day(rule: DueRule | None, first: Date, last: Date) -> Date:
    """The last on-time day of a period under its due rule."""
    if rule is None:
        return last
    if rule.in_month == "last":
        month_start = last.start_of("month")
    elif rule.in_month == "next":
        month_start = last.add(days=1)
    else:
        month_start = first.add(months=rule.in_month - 1)
        if month_start > last:
            raise ValueError(f"in_month {rule.in_month} is past the end of the period")
    day = min(rule.day, month_start.days_in_month)
    return month_start.replace(day=day)


def smallest_key(start: dt.date, end: dt.date) -> str:
    """The narrowest standard period containing [start, end], for one-off windows."""
    for cadence in (Cadence.month, Cadence.quarter, Cadence.half, Cadence.year):
        k = period_key(cadence, start)
        if k == period_key(cadence, end):
            return k
    return f"{start.isoformat()}..{end.isoformat()}"


def _at(day: dt.date, tz: str) -> DateTime:
    return pendulum.datetime(day.year, day.month, day.day, tz=tz)


class _Builder:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.tz = plan.timezone
        self.plan_start = plan.period.start
        self.plan_end = plan.period.end
        self.effective = plan.effective_on
        self.share = plan.partial_period_share
        self.cal = plan.work_calendar

    def in_force(self, start: dt.date, end: dt.date) -> bool:
        """A period entered part-way is judged only if enough of its working days remain."""
        if start >= self.effective:
            return True
        if end < self.effective:
            return False
        whole = working_days_between(start, end + dt.timedelta(days=1), self.cal)
        left = working_days_between(self.effective, end + dt.timedelta(days=1), self.cal)
        return whole == 0 or left >= self.share * whole

    def make(
        self,
        duty_id: str,
        kind: DutyKind,
        key: str,
        start: dt.date,
        due_day: dt.date,
        close_day: dt.date,
        required: int | None,
        needed: int,
        evidence: tuple[str, ...],
        lead: str,
        period_end: dt.date | None = None,
        co_leads: tuple[str, ...] = (),
    ) -> Occurrence:
        due = _at(due_day, self.tz).add(days=1)
        closes = max(_at(close_day, self.tz).add(days=1), due)
        soon = _at(working_days_before(due_day, DUE_SOON_WORKING_DAYS, self.cal), self.tz)
        return Occurrence(
            plan=self.plan.id,
            duty=duty_id,
            kind=kind,
            period=key,
            starts=_at(start, self.tz),
            due=due,
            closes=closes,
            required=required,
            needed=needed,
            evidence_kinds=evidence,
            lead=lead,
            due_soon_from=max(soon, _at(start, self.tz)),
            in_force=self.in_force(start, period_end or due_day),
            co_leads=co_leads,
        )

    def duty(self, d: Duty) -> list[Occurrence]:
        assert d.requirement is not None or d.kind is DutyKind.report
        kinds = tuple(k.value for k in d.counted_kinds)
        needed = d.requirement.min_count if d.requirement else 1
        required = needed if d.kind in (DutyKind.quota, DutyKind.continuous) else None
        late_allowed = d.kind in (DutyKind.deadline, DutyKind.report)
        out: list[Occurrence] = []
        if d.cadence is Cadence.once:
            assert d.window is not None
            w = d.window
            close = max(self.plan_end, w.due) if late_allowed else w.due
            key = smallest_key(w.start, w.due)
            co = d.leads[1:]
            out.append(self.make(d.id, d.kind, key, w.start, w.due, close, required, needed, kinds, d.lead, None, co))
            return out
        for key, first, last in _periods(d.cadence, self.plan_start, self.plan_end):
            if d.only and key not in d.only:
                continue
            start = max(first, self.plan_start)
            end = min(last, self.plan_end)
            due_day: dt.date
            if d.due:
                due_day = _due_day(d.due, first, last)
            elif d.for_report:
                due_day = self.unit_report_due(d.for_report, first, last)
            else:
                due_day = end
            close = max(self.plan_end, due_day) if late_allowed else due_day
            co = d.leads[1:]
            out.append(self.make(d.id, d.kind, key, start, due_day, close, required, needed, kinds, d.lead, end, co))
        return out

    def unit_report_due(self, report_id: str, first: Date, last: Date) -> dt.date:
        """Units report to the compiling office a few working days before the compiled report is due."""
        r = self.plan.report(report_id)
        compiled = _due_day(r.due or DEFAULT_REPORT_DUE, first, last)
        return max(working_days_before(compiled, self.plan.unit_report_working_days, self.cal), first)

    def report(self, r: Report) -> list[Occurrence]:
        out: list[Occurrence] = []
        cadence = Cadence(r.cadence)
        default_rule = DEFAULT_REPORT_DUE
        for key, first, last in _periods(cadence, self.plan_start, self.plan_end):
            if r.only and key not in r.only:
                continue
            start = max(first, self.plan_start)
            due_day = _due_day(r.due or default_rule, first, last)
            close = max(self.plan_end, due_day)
            out.append(
                self.make(
                    r.id,
                    DutyKind.report,
                    key,
                    start,
                    due_day,
                    close,
                    None,
                    1,
                    tuple(k.value for k in r.counted_kinds),
                    r.compiler,
                    min(last, self.plan_end),
                )
            )
        return out


# Plans are frozen: their occurrences are computed once per plan object (tens of ms each time), which the
# schedules (once per deployment), the report workflow and `cchc replay` ask for again and again.
_OCCURRENCES: dict[int, tuple[Plan, tuple[Occurrence, ...]]] = {}


def plan_occurrences(plan: Plan) -> list[Occurrence]:
    """Every occurrence of every duty and report of the plan, sorted by due time."""
    hit = _OCCURRENCES.get(id(plan))
    if hit is not None and hit[0] is plan:  # the entry holds the plan, so its id cannot be reused meanwhile
        return list(hit[1])
    occ = _plan_occurrences(plan)
    if len(_OCCURRENCES) >= 16:
        _OCCURRENCES.clear()
    _OCCURRENCES[id(plan)] = (plan, tuple(occ))
    return occ


def _plan_occurrences(plan: Plan) -> list[Occurrence]:
    b = _Builder(plan)
    occ: list[Occurrence] = []
    for d in plan.duties:
        occ.extend(b.duty(d))
    for r in plan.reports:
        occ.extend(b.report(r))
    occ.sort(key=lambda o: (o.due, o.duty, o.period))
    return occ


def occurrences(
    plan: Plan,
    start: dt.date | None = None,
    end: dt.date | None = None,
    duties: Iterable[str] | None = None,
) -> list[Occurrence]:
    """Occurrences whose window [starts, due) overlaps the days [start, end]."""
    wanted = set(duties) if duties is not None else None
    out = []
    for o in plan_occurrences(plan):
        if wanted is not None and o.duty not in wanted:
            continue
        if start is not None and o.last_day < start:
            continue
        if end is not None and o.start_day > end:
            continue
        out.append(o)
    return out


def to_local(moment: dt.datetime, tz: str) -> DateTime:
    """Refuse naive datetimes: a moment without an offset is ambiguous."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; give an offset such as +07:00")
    return pendulum.instance(moment).in_timezone(tz)


def report_data_window(report: Report, period: str, cal: WorkCalendar = NATIONAL) -> tuple[dt.date, dt.date]:
    """The days whose records a report of ``period`` covers (national practice).

    From the day after the cut-off in the last month of the previous period to the cut-off
    (the 14th by default) in the last month of this one. When the plan's own due date comes
    before that cut-off, the data stop on the day the draft is made. Without a cut-off day
    the window is the calendar period itself.
    """
    first, last = period_bounds(period)
    if report.cutoff_day is None:
        start: dt.date = first
        end: dt.date = last
    else:
        prev_last_month = first.subtract(months=1)
        start = prev_last_month.replace(day=min(report.cutoff_day, prev_last_month.days_in_month)).add(days=1)
        end = last.replace(day=min(report.cutoff_day, last.days_in_month))
    due = _due_day(report.due, first, last)
    if due < end:
        end = working_days_before(due, report.draft_working_days, cal)
    return start, end


def served_by(plan: Plan, report_id: str, period: str) -> tuple[str, str] | None:
    """The report (and its period) whose one document also serves this report's occurrence: same days, same
    due date (a plan's 6-month report for H2 and its annual report, say). None when it stands on its own."""
    serving = [r for r in plan.reports if report_id in r.serves]
    if not serving:
        return None
    by_key = {(o.duty, o.period): o for o in plan_occurrences(plan)}
    mine = by_key.get((report_id, period))
    if mine is None:
        return None
    for r in serving:
        for (duty, p), o in by_key.items():
            if duty == r.id and o.start_day == mine.start_day and o.last_day == mine.last_day:
                return r.id, p
    return None

"""The escalation ladder as a pure policy: judged occurrences at a moment -> notification intents.

Each ladder step has a moment (a local 08:00 on a Vietnamese working day). A step is due once
its moment has passed and its condition still holds; the outbox makes sending it exactly once.

Which due steps are sent is decided from the moment of the run that judges them, never from which
run saw them first, so runs ticked in order, in reverse or at once queue the same messages:
- only the newest due step of an occurrence is sent; older ones are *superseded*;
- a pre-due step (reminder, progress) is sent while the due time has not passed, however late the
  system first saw it: the unit can still act on it;
- a post-due step (overdue, escalation) older than ``stale_after_days`` is *stale*.
Superseded and stale steps are recorded, never sent, so a system started in the middle of a plan
does not flood anyone with old news.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cchc.core.assumptions import unconfirmed
from cchc.core.calendar import Occurrence, served_by
from cchc.core.evaluate import Status
from cchc.core.spec import DutyKind, Escalation, LadderStep, Plan, UnitRole
from cchc.core.workdays import (
    NATIONAL,
    WorkCalendar,
    first_working_day_from,
    working_days_after,
    working_days_before,
)

SEND_HOUR = 8
OPEN = frozenset({Status.open, Status.due_soon})
PRE_DUE = frozenset({"reminder", "progress"})


@dataclass(frozen=True)
class Intent:
    plan: str
    duty: str
    period: str
    step: str
    action: str  # reminder | progress | overdue | escalation
    to: tuple[str, ...]  # unit ids
    cc: tuple[str, ...]
    moment: dt.datetime
    stale: bool  # recorded, not sent: superseded by a newer step, or past its time
    status: Status
    count: int
    assumed: tuple[str, ...] = ()  # aspects of the rule that rest on an unconfirmed assumption

    @property
    def occurrence_key(self) -> str:
        return f"{self.plan}:{self.duty}:{self.period}"


def ladder_for(plan: Plan, duty_id: str) -> Escalation:
    try:
        own = plan.duty(duty_id).escalation
    except KeyError:  # a report, or the plan as a whole
        own = None
    return own or plan.escalation


def _at(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, SEND_HOUR, tzinfo=ZoneInfo(tz))


def step_moment(step: LadderStep, occ: Occurrence, tz: str, cal: WorkCalendar = NATIONAL) -> dt.datetime | None:
    """When a step falls due for an occurrence, or None when it does not apply to it."""
    if step.action == "reminder":
        if occ.kind is DutyKind.quota:
            return None  # quotas get the progress reminder instead
        day = working_days_before(occ.last_day, step.working_days, cal)
        return _at(day, tz) if day >= occ.start_day else None
    if step.action == "progress":
        if occ.kind is not DutyKind.quota or step.after_day is None:
            return None
        last_month = occ.last_day.replace(day=1)
        try:
            day = first_working_day_from(last_month.replace(day=step.after_day) + dt.timedelta(days=1), cal)
        except ValueError:
            return None
        return _at(day, tz) if occ.start_day <= day <= occ.last_day else None
    return _at(working_days_after(occ.last_day, max(step.working_days, 1), cal), tz)


def _applies(step: LadderStep, status: Status, count: int, occ: Occurrence) -> bool:
    if step.action in ("reminder",):
        return status in OPEN
    if step.action == "progress":
        return status in OPEN and occ.required is not None and count < occ.required
    if step.action == "overdue":
        return status in (Status.overdue, Status.missed)
    # Escalation only while the work can still be done; a closed window cannot be rescued.
    return status is Status.overdue


def _units(plan: Plan, occ: Occurrence, who: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for w in who:
        if w == "lead":
            ids = list(occ.leads)
        elif w == "coordinator":
            ids = [u.id for u in plan.units_with_role(UnitRole.coordinator)]
        elif w == "leader":
            ids = [u.id for u in plan.units_with_role(UnitRole.leader)]
        else:  # support
            try:
                ids = list(plan.duty(occ.duty).support)
            except KeyError:  # a report has no support units
                ids = []
        out.extend(i for i in ids if i not in out)
    return tuple(out)


def intents(
    plan: Plan,
    judged: Iterable[tuple[Occurrence, Status, int]],
    at: dt.datetime,
    stale_after: dt.timedelta | None = None,
) -> list[Intent]:
    """Every step that is due at ``at`` (moment passed, condition holds); all but the one to send are stale."""
    out: list[Intent] = []
    for occ, status, count in judged:
        if status in (Status.met, Status.met_late, Status.waived, Status.upcoming, Status.before_effect):
            continue
        if occ.kind is DutyKind.report and served_by(plan, occ.duty, occ.period) is not None:
            continue  # one document serves both: the serving report's ladder speaks for it
        ladder = ladder_for(plan, occ.duty)
        lateness = stale_after if stale_after is not None else dt.timedelta(days=ladder.stale_after_days)
        assumed = unconfirmed(plan, occ.duty)
        due: list[tuple[LadderStep, dt.datetime]] = []
        for step in ladder.ladder:
            if assumed and step.action == "escalation":
                continue  # a rule the plan does not state is the lead's reminder, never the leader's business
            moment = step_moment(step, occ, plan.timezone, plan.work_calendar)
            if moment is not None and moment <= at and _applies(step, status, count, occ):
                due.append((step, moment))
        # The newest due step; on a tie the later one in the ladder (an escalation beats its notice).
        newest = max(range(len(due)), key=lambda i: (due[i][1], i), default=-1)
        for i, (step, moment) in enumerate(due):
            if i != newest:
                stale = True
            elif step.action in PRE_DUE:
                stale = at >= occ.due  # still actionable until the due time, however late first seen
            else:
                stale = at - moment > lateness
            to = _units(plan, occ, step.to)
            cc = tuple(u for u in _units(plan, occ, step.cc) if u not in to)
            out.append(
                Intent(
                    plan=plan.id,
                    duty=occ.duty,
                    period=occ.period,
                    step=step.step,
                    action=step.action,
                    to=to,
                    cc=cc,
                    moment=moment,
                    stale=stale,
                    status=status,
                    count=count,
                    assumed=assumed,
                )
            )
    return out

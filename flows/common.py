"""The shape every duty flow shares: collect, evaluate, act, publish.

A run judges the moment it was *scheduled* for (in the plan's time zone), never the
wall clock, so a late or replayed run judges the period it was meant for.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar, cast

import pendulum
from prefect.context import SyncClientContext
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from tasks import duty as t

T = TypeVar("T")


def passed_as_is(value: T) -> T:
    """A large task input Prefect hands over untouched: unquoted, it would walk it for futures on every call."""
    return cast(T, quote(value))


def run_moment(at: dt.datetime | None, tz: str) -> pendulum.DateTime:
    if at is not None:
        if at.tzinfo is None:
            return pendulum.instance(at, tz=tz)  # a form in the UI gives a naive local time
        return pendulum.instance(at).in_timezone(tz)
    scheduled: dt.datetime = flow_run.scheduled_start_time
    return pendulum.instance(scheduled).in_timezone(tz)


def run_duty(plan_id: str, duty_id: str, at: dt.datetime | None, reason: str) -> dict[str, Any]:
    plan = t.load_plan(plan_id)
    moment = run_moment(at, plan.timezone)
    now = pendulum.now("UTC")
    gap = t.note_run(plan, now)  # any run, scheduled or not, shows the system is running
    # One API client for every task of the run (an async flow's sync tasks would each open their own).
    with SyncClientContext.get_or_create():
        collected = t.collect_evidence(passed_as_is(plan), duty_id, moment) if t.has_sources(plan, duty_id) else 0
        evaluation = t.evaluate(plan, duty_id, moment, now)
        events = t.emit_status_events(plan, evaluation.changes)
        # The mail pass plans from this evaluation instead of judging the plan a second time.
        mail = t.notify(passed_as_is(plan), [duty_id], moment, now, passed_as_is(evaluation.plan_judged))
        t.publish_artifacts(passed_as_is(plan), duty_id, passed_as_is(evaluation), moment)
    return {
        "plan": plan_id,
        "duty": duty_id,
        "at": moment.isoformat(),
        "reason": reason,
        "collected": collected,
        "statuses": {f"{j.occurrence.period}": j.status.value for j in evaluation.duty_judged},
        "changes": [(j.occurrence.period, prev, j.status.value) for j, prev in evaluation.changes],
        "events": events,
        "mail": mail,
        "gap": gap,
    }

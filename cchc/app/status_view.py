"""Occurrences and statuses as JSON (`cchc calendar --json`, `cchc status --json`, the flows' tables).

Apart from cchc.app.service (SQLAlchemy, the store, every use case) so that the quick status read
(cchc.app.status_read) prints exactly what the use cases print without importing them; service names these
functions too.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pendulum

from cchc.core import assumptions
from cchc.core.calendar import Occurrence, occurrences
from cchc.core.spec import Plan
from cchc.core.views import duty_title

if TYPE_CHECKING:
    from cchc.store.judging import Judged


def iso(moment: dt.datetime) -> str:
    return pendulum.instance(moment).isoformat()


def due_display(o: Occurrence) -> pendulum.DateTime:
    """Last on-time second, for people: 'due at the end of 5 September'."""
    return pendulum.instance(o.due).subtract(seconds=1)


def occurrence_json(plan: Plan, o: Occurrence) -> dict[str, Any]:
    return {
        "plan": plan.id,
        "duty": o.duty,
        "kind": o.kind.value,
        "period": o.period,
        "starts": iso(o.starts),
        "due": iso(due_display(o)),
        "due_date": o.last_day.isoformat(),
        "closes": iso(o.closes),
        "required": o.required,
        "lead": o.lead,
        "leads": list(o.leads),
        "title": duty_title(plan, o.duty),
        "in_force": o.in_force,
        # Aspects of the rule the plan does not state and nobody has confirmed yet.
        "assumed": list(assumptions.unconfirmed(plan, o.duty)),
    }


def calendar_json(plan: Plan, start: dt.date | None, end: dt.date | None) -> list[dict[str, Any]]:
    return [occurrence_json(plan, o) for o in occurrences(plan, start, end)]


def status_json(plan: Plan, judged: list[Judged]) -> list[dict[str, Any]]:
    out = []
    for j in judged:
        obj = occurrence_json(plan, j.occurrence)
        obj["status"] = j.status.value
        obj["count"] = j.count
        out.append(obj)
    return out

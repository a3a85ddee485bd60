"""A plan amended mid-way: what changed, and which occurrences keep the rules they were judged under.

An amendment takes effect on its own date (the spec's ``amended_on``). Every occurrence whose period
began before that day keeps the rules of the version it was judged under (its count, its dates), so a
status already judged stays; periods that begin on or after it follow the amended spec. A duty the
amendment adds counts from that day, as a plan counts from its effective date (a period entered part-way
is judged only if enough of it is left). A spec edited without ``amended_on`` is a correction of how the
plan was read, and applies to every period. Pure: occurrences in, occurrences out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from cchc.core.calendar import Occurrence
from cchc.core.spec import Duty, Plan, Report


def carry_over(old: Sequence[Occurrence], new: Sequence[Occurrence], plan: Plan, since: dt.date) -> list[Occurrence]:
    """The occurrences after an amendment effective on ``since``: old ones kept before it, new ones after."""
    before = {(o.duty, o.period): o for o in old if o.start_day < since}
    known_items = {o.duty for o in old}
    cal = plan.work_calendar
    out: list[Occurrence] = []
    for o in new:
        kept = before.pop((o.duty, o.period), None)
        if kept is not None:
            out.append(kept)
        elif o.start_day < since and o.duty not in known_items:
            # An added duty counts from the amendment's day, like a plan from its effective date.
            whole = cal.between(o.start_day, o.last_day + dt.timedelta(days=1))
            left = cal.between(since, o.last_day + dt.timedelta(days=1))
            enough = o.last_day >= since and (whole == 0 or left >= plan.partial_period_share * whole)
            out.append(dataclasses.replace(o, in_force=o.in_force and enough))
        else:
            out.append(o)
    out.extend(before.values())  # periods of a removed duty (or dropped period) that were already under way
    out.sort(key=lambda o: (o.due, o.duty, o.period))
    return out


def changes(old: Plan, new: Plan) -> list[str]:
    """What an edit of the spec changed, one line each, for the audit trail."""
    out: list[str] = []
    for kind, a, b in (("duty", old.duties, new.duties), ("report", old.reports, new.reports)):
        before: dict[str, Duty | Report] = {x.id: x for x in a}
        after: dict[str, Duty | Report] = {x.id: x for x in b}
        out += [f"{kind} added: {i}" for i in after if i not in before]
        out += [f"{kind} removed: {i}" for i in before if i not in after]
        for i in after.keys() & before.keys():
            was, now = before[i].model_dump(), after[i].model_dump()
            fields = sorted(k for k in now if now[k] != was.get(k))
            if fields:
                out.append(f"{kind} {i}: {', '.join(fields)}")
    for f in ("period", "effective_from", "issued_on", "calendar", "units", "escalation", "amended_on"):
        if getattr(old, f) != getattr(new, f):
            out.append(f"plan: {f}")
    return sorted(out)

"""The province roll-up: one set-based query over occurrences, evidence and waivers, grouped by commune.

The status of each occurrence is decided in SQL by the very rule of ``cchc.core.evaluate.judge`` (in the
same order: waived, upcoming, met, met late, before effect, open / due soon, overdue, missed), over the same
tally as ``repo.evaluate`` (evidence of a counted kind, not rejected, dated inside the occurrence's days and
on or before the day judged). Then the statuses are counted per commune and duty kind, or per commune and
duty. No loop over communes or plans: a province of 114 plans is one statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, select, tuple_
from sqlalchemy.orm import Session

from cchc.core.province import GROUP_VI, REPORT_GROUP, By, Counts, Line, merge_lines
from cchc.store.models import DutyRow, EvidenceRow, OccurrenceRow, PlanRow, WaiverRow
from cchc.store.repo import counted_evidence

STATUSES = ("met", "met_late", "open", "due_soon", "overdue", "missed", "waived", "upcoming", "before_effect")


class RollupError(ValueError):
    pass


def rollup_query(  # type: ignore[no-untyped-def]
    plan_ids: Sequence[str],
    at: dt.datetime,
    tz: str,
    report_items: Collection[tuple[str, str]],
    by: By = "kind",
):
    """The statement: one row per commune and group, with a count per status.

    ``report_items``: the (plan id, report id) pairs that are the commune's own periodic reports (the store
    keeps them as items of kind 'report', like a unit's report duty); they count apart, as reports."""
    if at.tzinfo is None:
        raise RollupError("the roll-up needs an aware moment")
    at_day = at.astimezone(ZoneInfo(tz)).date()
    o = OccurrenceRow.__table__.alias("o")
    e = EvidenceRow.__table__.alias("e")
    w = WaiverRow.__table__.alias("w")
    _, join_on = counted_evidence(o, e, at_day)  # the status tally's rule (the correlated form on both backends)
    on_time = func.coalesce(func.sum(case((e.c.occurred_on <= o.c.last_day, 1), else_=0)), 0)
    counted = func.count(e.c.id)
    waived = (
        select(literal(1))
        .where(w.c.plan_id == o.c.plan_id, w.c.duty_id == o.c.duty_id, w.c.period == o.c.period)
        .exists()
    )
    # cchc.core.evaluate.judge, branch for branch.
    status = case(
        (waived, "waived"),
        (o.c.starts > at, "upcoming"),
        (on_time >= o.c.needed, "met"),
        (counted >= o.c.needed, "met_late"),
        (o.c.in_force.is_(False), "before_effect"),
        (o.c.due > at, case((o.c.due_soon_from <= at, "due_soon"), else_="open")),
        (o.c.closes > at, "overdue"),
        else_="missed",
    )
    pairs = sorted(set(report_items))
    is_report = case((tuple_(o.c.plan_id, o.c.duty_id).in_(pairs), 1), else_=0) if pairs else literal(0)
    judged = (
        select(
            o.c.plan_id.label("plan_id"),
            o.c.duty_id.label("duty_id"),
            o.c.kind.label("kind"),
            is_report.label("is_report"),
            status.label("status"),
        )
        .select_from(o.outerjoin(e, join_on))
        .where(o.c.plan_id.in_(list(plan_ids)))
        .group_by(o.c.id)  # the other columns depend on the key (SQLite and PostgreSQL accept this)
        .cte("judged")
    )
    p = PlanRow.__table__.alias("p")
    j = judged
    tallies = [func.sum(case((j.c.status == s, 1), else_=0)).label(s) for s in STATUSES]
    keys = [p.c.commune_code, j.c.kind, j.c.is_report]
    if by == "duty":
        d = DutyRow.__table__.alias("d")
        keys += [j.c.plan_id, j.c.duty_id, d.c.title]
        source = j.join(p, p.c.id == j.c.plan_id).outerjoin(
            d, and_(d.c.plan_id == j.c.plan_id, d.c.duty_id == j.c.duty_id)
        )
    else:
        source = j.join(p, p.c.id == j.c.plan_id)
    return select(*keys, func.min(p.c.commune_name).label("commune_name"), *tallies).select_from(source).group_by(*keys)


def rollup_lines(
    session: Session,
    plan_ids: Sequence[str],
    at: dt.datetime,
    tz: str,
    report_items: Collection[tuple[str, str]],
    by: By = "kind",
) -> tuple[Line, ...]:
    """Run the statement and hand back pure ``Line`` values (``cchc.core.province``)."""
    if not plan_ids:
        return ()
    lines = []
    for r in session.execute(rollup_query(plan_ids, at, tz, report_items, by)):
        m = r._mapping
        n = {s: int(m[s] or 0) for s in STATUSES}
        counts = Counts(
            met=n["met"],
            met_late=n["met_late"],
            open=n["open"] + n["due_soon"],
            overdue=n["overdue"],
            missed=n["missed"],
            waived=n["waived"],
            upcoming=n["upcoming"],
            before_effect=n["before_effect"],
        )
        kind = REPORT_GROUP if int(m["is_report"]) else str(m["kind"])
        if by == "duty":
            group, plan_id, title = str(m["duty_id"]), str(m["plan_id"]), str(m["title"] or m["duty_id"])
        else:
            group, plan_id, title = kind, None, GROUP_VI.get(kind, kind)
        lines.append(Line(int(m["commune_code"]), str(m["commune_name"]), group, kind, counts, plan_id, title))
    return merge_lines(lines)

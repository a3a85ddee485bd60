"""Store operations: keep plans in sync, record evidence once, judge occurrences set-based."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from cchc.core import amend
from cchc.core.calendar import Occurrence, plan_occurrences
from cchc.core.spec import DutyKind, Plan
from cchc.store import dialect
from cchc.store.judging import _MOMENTS, _STATIC, _zone, judge_rows, tally_day
from cchc.store.judging import Judged as Judged
from cchc.store.judging import _in_zone as _in_zone
from cchc.store.judging import gc_paused as _no_gc_pauses
from cchc.store.models import (
    AuditRow,
    DutyEvidenceKind,
    DutyRow,
    EvidenceRow,
    OccurrenceRow,
    PlanRow,
    WaiverRow,
)


class StoreError(ValueError):
    """Bad input refused at the store boundary; nothing was written."""


def spec_fingerprint(plan: Plan) -> tuple[str, str]:
    payload = plan.model_dump_json()
    return hashlib.sha256(payload.encode()).hexdigest(), payload


def sync_plan(session: Session, plan: Plan, now: dt.datetime) -> bool:
    """Insert or update a plan, its duties and its calendar. Evidence is never touched.

    Returns True when anything changed. Occurrences that a changed spec no longer
    has are removed; evidence stays keyed by (plan, duty) and counts again if the
    duty comes back.

    Safe when several processes sync the same plan at once (the portal and the runner
    of `cchc up` both do as they start): the plan's row is inserted if missing (a
    racing insert waits for the first and then does nothing) and locked before its
    fingerprint is compared, so one process writes a version and the others, once it
    has committed, find it written. On SQLite every transaction already holds the
    write lock from its BEGIN IMMEDIATE.
    """
    digest, payload = spec_fingerprint(plan)
    row = session.get(PlanRow, plan.id)
    if row is not None and row.spec_sha256 == digest:
        return False  # already this version: nothing to write, nothing to wait for
    values = {
        "title": plan.title,
        "commune_code": plan.commune.code,
        "commune_name": plan.commune.name,
        "province": plan.commune.province,
        "period_start": plan.period.start,
        "period_end": plan.period.end,
        "spec_sha256": digest,
        "spec_json": payload,
        "loaded_at": now,
    }
    inserted = session.execute(
        dialect.insert(session, PlanRow)
        .values(id=plan.id, **values)
        .on_conflict_do_nothing(index_elements=[PlanRow.id])
        .returning(PlanRow.id)
    ).scalar()
    if inserted is None:
        # The row is there (or was just committed by a racing insert): lock it, so a concurrent sync of this
        # plan waits here, and compare with what is committed now (populate_existing: not a stale copy).
        row = session.scalars(
            select(PlanRow)
            .where(PlanRow.id == plan.id)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE: what the UPDATE below would take anyway
            .execution_options(populate_existing=True)
        ).one()
        if row.spec_sha256 == digest:
            return False
        previous = _stored_plan(row.spec_json)
        for k, v in values.items():
            setattr(row, k, v)
    else:
        previous = None

    session.execute(delete(DutyRow).where(DutyRow.plan_id == plan.id))
    session.execute(delete(DutyEvidenceKind).where(DutyEvidenceKind.plan_id == plan.id))
    duty_rows, kind_rows = _duty_rows(plan)
    since = plan.amended_on if previous is not None else None
    if previous is not None:
        # What the edit changed, in the audit trail; an amendment keeps a removed duty's periods under way.
        lines = amend.changes(previous, plan)
        action = "plan.amend" if plan.amended_on is not None else "plan.correct"
        reason = plan.amendment_note if plan.amended_on is not None else "đính chính cách đọc kế hoạch (áp dụng mọi kỳ)"
        when = f"có hiệu lực từ {plan.amended_on.isoformat()}; " if plan.amended_on else ""
        audit(session, now, "tệp kế hoạch", action, plan.id, reason=reason, detail=when + "; ".join(lines))
        if since is not None:
            current = {d["duty_id"] for d in duty_rows}
            for d in previous.duties:
                if d.id not in current:
                    duty_rows.append(
                        {"plan_id": plan.id, "duty_id": d.id, "kind": d.kind.value, "title": d.title,
                         "lead": d.lead, "active": False}
                    )  # fmt: skip
                    kind_rows.extend({"plan_id": plan.id, "duty_id": d.id, "kind": k.value} for k in d.counted_kinds)
    session.execute(insert(DutyRow), duty_rows)
    session.execute(insert(DutyEvidenceKind), kind_rows)
    _sync_occurrences(session, plan, since)
    return True


_BULK_PLANS = 100  # plan rows per multi-row INSERT (each carries its spec's JSON)
_BULK_ROWS = 20_000  # occurrence rows gathered before they are written
_DIGESTS = 10_000  # ids per fingerprint query: a country's in one, well under SQLite's 32,766 parameters


def sync_plans(session: Session, plans: Sequence[Plan], now: dt.datetime) -> list[str]:
    """``sync_plan`` for many plans at once, with the same rows as a result; returns the ids that changed.

    One query reads the stored fingerprints of all of them: an unchanged plan costs nothing more. Plans with no
    row go in bulk (multi-row INSERTs of plan rows, then duties, counted kinds and occurrences by executemany);
    the plan rows are inserted ON CONFLICT DO NOTHING in id order, so a process syncing the same plans at once
    waits for the other's rows and does not deadlock, and a plan whose row it finds inserted meanwhile takes the
    one-plan path. Changed plans take ``sync_plan`` (the row lock, the amendment audit), in id order.

    One transaction: the caller chooses the batch (SQLite holds its write lock until the commit)."""
    ids = list(dict.fromkeys(p.id for p in plans))
    stored: dict[str, str] = {}
    for i in range(0, len(ids), _DIGESTS):
        q = select(PlanRow.id, PlanRow.spec_sha256).where(PlanRow.id.in_(ids[i : i + _DIGESTS]))
        stored.update((pid, sha) for pid, sha in session.execute(q))
    fresh: dict[str, tuple[Plan, str, str]] = {}  # a new plan's first version: its bulk insert
    one_by_one: list[Plan] = []  # changed plans, and later versions of a plan given twice
    sent: set[str] = set()
    for p in plans:
        if p.id not in fresh and p.id not in stored:
            fresh[p.id] = (p, *spec_fingerprint(p))
        elif p.id in fresh or p.id in sent or stored[p.id] != spec_fingerprint(p)[0]:
            one_by_one.append(p)
            sent.add(p.id)  # its later versions follow it, even one equal to the stored version
    inserted = _insert_plan_rows(session, fresh, now)
    changed: list[str] = []
    rows: tuple[list[dict[str, object]], ...] = ([], [], [])  # duties, counted kinds, occurrences
    for pid, (p, _, _) in fresh.items():  # the given order: occurrence ids as the one-plan loop numbers them
        if pid not in inserted:
            one_by_one.insert(0, p)  # inserted meanwhile by another process: compare under its lock
            continue
        changed.append(pid)
        d_rows, k_rows = _duty_rows(p)
        rows[0].extend(d_rows)
        rows[1].extend(k_rows)
        rows[2].extend({"plan_id": pid, "duty_id": o.duty, "period": o.period, **_occ_values(o)}
                       for o in {(o.duty, o.period): o for o in plan_occurrences(p)}.values())  # fmt: skip
        if len(rows[2]) >= _BULK_ROWS:  # a country's rows at once would hold a few hundred MB
            _insert_rows(session, rows)
    _insert_rows(session, rows)
    for p in sorted(one_by_one, key=lambda p: p.id):  # stable: a plan given twice keeps its versions' order
        if sync_plan(session, p, now) and p.id not in changed:
            changed.append(p.id)
    return changed


def _insert_rows(session: Session, rows: tuple[list[dict[str, object]], ...]) -> None:
    """Write the gathered duty, kind and occurrence rows, and forget them."""
    for entity, values in zip((DutyRow, DutyEvidenceKind, OccurrenceRow), rows, strict=True):
        if values:
            # Core executemany, no ORM bookkeeping per row (psycopg pipelines it: faster than multi-row VALUES
            # or SQLAlchemy's RETURNING batches, measured)
            session.execute(insert(cast(Table, entity.__table__)), values)
            values.clear()


def _insert_plan_rows(session: Session, fresh: dict[str, tuple[Plan, str, str]], now: dt.datetime) -> set[str]:
    """Insert the plan rows that are not there yet; returns the ids this transaction inserted."""
    order = sorted(fresh)  # every process takes the rows in one order: a racing insert waits, never deadlocks
    done: set[str] = set()
    for i in range(0, len(order), _BULK_PLANS):
        values = []
        for pid in order[i : i + _BULK_PLANS]:
            p, digest, payload = fresh[pid]
            values.append(
                {"id": pid, "title": p.title, "commune_code": p.commune.code, "commune_name": p.commune.name,
                 "province": p.commune.province, "period_start": p.period.start, "period_end": p.period.end,
                 "spec_sha256": digest, "spec_json": payload, "loaded_at": now}
            )  # fmt: skip
        stmt = dialect.insert(session, PlanRow.__table__).values(values)
        done.update(session.scalars(stmt.on_conflict_do_nothing(index_elements=["id"]).returning(PlanRow.id)))
    return done


def _duty_rows(plan: Plan) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """A plan's duty rows (reports with kind 'report') and the evidence kinds each counts."""
    duty_rows: list[dict[str, object]] = []
    kind_rows: list[dict[str, object]] = []
    for d in plan.duties:
        duty_rows.append(
            {"plan_id": plan.id, "duty_id": d.id, "kind": d.kind.value, "title": d.title, "lead": d.lead,
             "active": True}
        )  # fmt: skip
        kind_rows.extend({"plan_id": plan.id, "duty_id": d.id, "kind": k.value} for k in d.counted_kinds)
    for r in plan.reports:
        duty_rows.append(
            {"plan_id": plan.id, "duty_id": r.id, "kind": "report", "title": r.title, "lead": r.compiler,
             "active": True}
        )  # fmt: skip
        kind_rows.extend({"plan_id": plan.id, "duty_id": r.id, "kind": k.value} for k in r.counted_kinds)
    return duty_rows, kind_rows


def _stored_plan(payload: str | None) -> Plan | None:
    """The version of the plan the store holds (None if an older cchc wrote one this one cannot read)."""
    if not payload:
        return None
    try:
        return Plan.model_validate_json(payload)
    except ValueError:
        return None


def _occ_values(o: Occurrence) -> dict[str, object]:
    return {
        "kind": o.kind.value,
        "lead": o.lead,
        "starts": o.starts,
        "due": o.due,
        "closes": o.closes,
        "due_soon_from": o.due_soon_from,
        "start_day": o.start_day,
        "last_day": o.last_day,
        "close_day": o.close_day,
        "required": o.required,
        "needed": o.needed,
        "in_force": o.in_force,
        "co_leads": ",".join(o.co_leads),
    }


def _sync_occurrences(session: Session, plan: Plan, since: dt.date | None = None) -> None:
    existing = {
        (r.duty_id, r.period): r for r in session.scalars(select(OccurrenceRow).where(OccurrenceRow.plan_id == plan.id))
    }
    fresh = plan_occurrences(plan)
    if since is not None:  # an amendment: periods already under way keep the rules they were judged under
        fresh = amend.carry_over([_orm_occurrence(r, plan.timezone) for r in existing.values()], fresh, plan, since)
    wanted = {(o.duty, o.period): o for o in fresh}
    gone = [r.id for k, r in existing.items() if k not in wanted]
    if gone:
        session.execute(delete(OccurrenceRow).where(OccurrenceRow.id.in_(gone)))
    new_rows = []
    for k, o in wanted.items():
        row = existing.get(k)
        if row is None:
            new_rows.append({"plan_id": plan.id, "duty_id": o.duty, "period": o.period, **_occ_values(o)})
        else:
            for col, v in _occ_values(o).items():
                setattr(row, col, v)
    if new_rows:
        session.execute(insert(OccurrenceRow), new_rows)


def known_plan_ids(session: Session) -> list[str]:
    return list(session.scalars(select(PlanRow.id).order_by(PlanRow.id)))


# --- evidence ---------------------------------------------------------------


@dataclass(frozen=True)
class NewEvidence:
    plan_id: str
    duty_id: str
    kind: str
    title: str
    occurred_on: dt.date
    origin: str = "manual"
    url: str | None = None
    file_sha256: str | None = None
    file_name: str | None = None
    unit_id: str | None = None


def normalize_url(url: str) -> str:
    """Scheme and host are case-insensitive; a trailing slash or fragment is not a new post."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise StoreError(f"'{url}' is not an http/https link")
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def url_key(url: str) -> str:
    """The dedup key of a link; a very long link is keyed by its hash (the column holds 600 characters)."""
    norm = normalize_url(url)
    return "url:" + norm if len(norm) <= 590 else "url-sha256:" + hashlib.sha256(norm.encode()).hexdigest()


def dedup_key(ev: NewEvidence) -> str:
    if ev.url:
        return url_key(ev.url)
    if ev.file_sha256:
        return "sha256:" + ev.file_sha256
    title = " ".join(ev.title.split()).casefold()
    return f"title:{ev.kind}:{ev.occurred_on.isoformat()}:{title}"[:600]


@dataclass(frozen=True)
class Recorded:
    id: int
    duplicate: bool


def add_evidence(session: Session, ev: NewEvidence, now: dt.datetime) -> Recorded:
    """Record once: the same link or file for the same duty is a duplicate, reported as such."""
    key = dedup_key(ev)
    values = {
        "plan_id": ev.plan_id,
        "duty_id": ev.duty_id,
        "kind": ev.kind,
        "title": ev.title,
        "url": ev.url,
        "file_sha256": ev.file_sha256,
        "file_name": ev.file_name,
        "occurred_on": ev.occurred_on,
        "unit_id": ev.unit_id,
        "origin": ev.origin,
        "recorded_at": now,
        "dedup_key": key,
    }
    ins = dialect.insert(session, EvidenceRow).values(**values)
    new_id = session.execute(ins.on_conflict_do_nothing().returning(EvidenceRow.id)).scalar()
    if new_id is not None:
        return Recorded(id=int(new_id), duplicate=False)
    existing = session.scalar(
        select(EvidenceRow.id).where(
            EvidenceRow.plan_id == ev.plan_id, EvidenceRow.duty_id == ev.duty_id, EvidenceRow.dedup_key == key
        )
    )
    assert existing is not None
    return Recorded(id=int(existing), duplicate=True)


def waive(session: Session, plan_id: str, duty_id: str, period: str, reason: str, by: str, now: dt.datetime) -> bool:
    if not reason.strip():
        raise StoreError("a waiver needs a reason")
    exists = session.scalar(
        select(OccurrenceRow.id).where(
            OccurrenceRow.plan_id == plan_id, OccurrenceRow.duty_id == duty_id, OccurrenceRow.period == period
        )
    )
    if exists is None:
        raise StoreError(f"{plan_id}/{duty_id} has no occurrence for period '{period}'")
    ins = dialect.insert(session, WaiverRow).values(
        plan_id=plan_id, duty_id=duty_id, period=period, reason=reason, by=by, at=now
    )
    created = session.execute(ins.on_conflict_do_nothing().returning(WaiverRow.id)).scalar() is not None
    if created:
        audit(session, now, by, "occurrence.waive", plan_id, duty_id, period, reason=reason)
    return created


def reject(session: Session, plan_id: str, evidence_id: int, reason: str, by: str, now: dt.datetime) -> EvidenceRow:
    """The item stops counting and stays in the record, with who rejected it and why."""
    if not reason.strip():
        raise StoreError("a rejection needs a reason")
    row = session.scalar(
        select(EvidenceRow).where(EvidenceRow.plan_id == plan_id, EvidenceRow.id == evidence_id).with_for_update()
    )
    if row is None:
        raise StoreError(f"plan {plan_id} has no evidence #{evidence_id}")
    if row.rejected_at is None:
        row.rejected_at, row.rejected_reason = now, reason
        audit(
            session,
            now,
            by,
            "evidence.reject",
            plan_id,
            row.duty_id,
            evidence_id=row.id,
            reason=reason,
            detail=f"{row.kind}: {row.title}",
        )
    return row


def audit(
    session: Session,
    at: dt.datetime,
    actor: str,
    action: str,
    plan_id: str,
    duty_id: str | None = None,
    period: str | None = None,
    evidence_id: int | None = None,
    reason: str | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        AuditRow(
            at=at,
            actor=actor[:200],
            action=action,
            plan_id=plan_id,
            duty_id=duty_id,
            period=period,
            evidence_id=evidence_id,
            reason=reason,
            detail=detail,
        )
    )


def audit_trail(session: Session, plan_id: str, limit: int = 500) -> list[AuditRow]:
    q = select(AuditRow).where(AuditRow.plan_id == plan_id).order_by(AuditRow.id.desc()).limit(limit)
    return list(session.scalars(q))


# --- evaluation ---------------------------------------------------------------

# The rows' judging is cchc.store.judging's (shared with the quick status read, cchc.store.fastread).
_RAW = NullType()


def counted_evidence(o: Any, e: Any, at_day: dt.date, postgres: bool = False) -> tuple[FromClause, ColumnElement[bool]]:
    """What an occurrence ``o`` counts of evidence ``e`` as of ``at_day``: its item's, within its window, up to that
    day, not rejected, of a kind the item counts. Returns what to outer-join to ``o`` and on what (shared by the
    status tally and the province roll-up, so both count the same rows).

    The counted kinds: SQLite probes them per evidence row (a correlated IN, its fastest plan); PostgreSQL
    joins them (its planner then hashes the evidence once instead of a subplan per row)."""
    k = DutyEvidenceKind.__table__.alias("k")
    join_on = and_(
        e.c.plan_id == o.c.plan_id,
        e.c.duty_id == o.c.duty_id,
        e.c.occurred_on >= o.c.start_day,
        e.c.occurred_on < o.c.close_day,
        e.c.occurred_on <= at_day,
        e.c.rejected_at.is_(None),
    )
    if postgres:
        kinds = and_(k.c.plan_id == e.c.plan_id, k.c.duty_id == e.c.duty_id, k.c.kind == e.c.kind)
        return e.join(k, kinds), join_on
    probe = e.c.kind.in_(select(k.c.kind).where(k.c.plan_id == o.c.plan_id, k.c.duty_id == o.c.duty_id))
    return e, and_(join_on, probe)


def _tally_query(  # type: ignore[no-untyped-def]
    plan_ids: Sequence[str] | None,
    at: dt.datetime,
    tz: str,
    duty_ids: Sequence[str] | None = None,
    postgres: bool = False,
):
    """One grouped query: on-time and late evidence per occurrence, as of ``at`` (its day in the plans' zone).

    Each row: the occurrence's columns named in ``_STATIC`` as the driver hands them (no per-value type
    processing: ``evaluate`` converts each distinct value once), then plan_id, on_time, late and waived.
    No ORDER BY: ``evaluate`` orders the judged occurrences (sorting the grouped rows in SQL costs more).

    The counted kinds: SQLite probes them per evidence row (a correlated IN, its fastest plan); PostgreSQL
    joins them (its planner then hashes the evidence once instead of a subplan per row: 30 % less at national
    size). Either way one evidence row matches one (plan, item, kind) key at most, so the counts are the same.
    """
    at_day = tally_day(at, tz)
    o = OccurrenceRow.__table__.alias("o")
    e = EvidenceRow.__table__.alias("e")
    w = WaiverRow.__table__.alias("w")
    counted, join_on = counted_evidence(o, e, at_day, postgres)
    on_time = func.coalesce(func.sum(case((e.c.occurred_on <= o.c.last_day, 1), else_=0)), 0)
    late = func.coalesce(func.sum(case((e.c.occurred_on > o.c.last_day, 1), else_=0)), 0)
    waived = (
        select(literal(1))
        .where(w.c.plan_id == o.c.plan_id, w.c.duty_id == o.c.duty_id, w.c.period == o.c.period)
        .exists()
    )
    static: list[ColumnElement[Any]] = [o.c[name] for name in _STATIC]
    if postgres:  # moments as naive UTC: a plain timestamp costs the server and the driver less than one with a zone
        static = [func.timezone("UTC", c) if name in _MOMENTS else c for name, c in zip(_STATIC, static, strict=True)]
    q = (
        select(*(type_coerce(c, _RAW) for c in (*static, o.c.plan_id, on_time, late, waived)))
        .select_from(o.outerjoin(counted, join_on))
        .group_by(o.c.id)  # the other columns depend on the key (SQLite and PostgreSQL accept this)
    )
    if plan_ids is not None:
        q = q.where(o.c.plan_id.in_(list(plan_ids)))
    if duty_ids is not None:
        q = q.where(o.c.duty_id.in_(list(duty_ids)))
    return q


def _orm_occurrence(r: OccurrenceRow, tz: str) -> Occurrence:
    zone = _zone(tz)

    def local(v: dt.datetime) -> dt.datetime:
        return (v if v.tzinfo else v.replace(tzinfo=dt.UTC)).astimezone(zone)

    return Occurrence(
        plan=r.plan_id,
        duty=r.duty_id,
        kind=DutyKind(r.kind),
        period=r.period,
        starts=local(r.starts),
        due=local(r.due),
        closes=local(r.closes),
        required=r.required,
        needed=r.needed,
        evidence_kinds=(),
        lead=r.lead,
        due_soon_from=local(r.due_soon_from),
        in_force=bool(r.in_force),
        co_leads=tuple(u for u in (r.co_leads or "").split(",") if u),
    )


def stored_occurrences(session: Session, plan: Plan) -> list[Occurrence]:
    """The plan's calendar as the store holds it (an amendment's earlier periods keep their old rules)."""
    q = select(OccurrenceRow).where(OccurrenceRow.plan_id == plan.id)
    rows = [_orm_occurrence(r, plan.timezone) for r in session.scalars(q)]
    return sorted(rows, key=lambda o: (o.due, o.duty, o.period))


def _evaluate(
    session: Session, at: dt.datetime, plan_ids: Sequence[str] | None, tz: str, duty_ids: Sequence[str] | None
) -> list[Judged]:
    postgres = dialect.is_postgres(session)
    if postgres:
        # Compiling this one statement just in time costs PostgreSQL more (1 s and up) than it saves.
        session.execute(text("SET LOCAL jit = off"))
    rows = session.execute(_tally_query(plan_ids, at, tz, duty_ids, postgres)).all()
    return judge_rows(rows, at, tz)


def evaluate(
    session: Session,
    at: dt.datetime,
    plan_ids: Sequence[str] | None = None,
    tz: str = "Asia/Ho_Chi_Minh",
    duty_ids: Sequence[str] | None = None,
) -> list[Judged]:
    """Status of every occurrence of the given plans (all plans when None) at ``at``, by due time, item, period.

    Each occurrence is judged by the pure ``judge`` over its SQL tally. At national size (3,321 plans, 150,000
    occurrences, 3M evidence rows; bench/bench_evaluate.py --national) the work beside the query is kept small:
    plain values from the driver, each distinct static part and tally converted once, ``at`` taken into the
    plans' zone once (a comparison across zones costs ~8x), and the order made by grouping, not by a sort.
    """
    if at.tzinfo is None:
        raise StoreError("evaluation needs an aware moment")
    with _no_gc_pauses():
        return _evaluate(session, at, plan_ids, tz, duty_ids)


def record_statuses(session: Session, judged: Sequence[Judged], at: dt.datetime) -> list[tuple[Judged, str | None]]:
    """Store each status; return those that changed with their previous status.

    The conditional UPDATE makes concurrent runs agree: only one of them sees the change.
    """
    changed: list[tuple[Judged, str | None]] = []
    for j in judged:
        o = j.occurrence
        prev = session.scalar(
            select(OccurrenceRow.status).where(
                OccurrenceRow.plan_id == o.plan, OccurrenceRow.duty_id == o.duty, OccurrenceRow.period == o.period
            )
        )
        if prev == j.status.value:
            continue
        res = session.execute(
            update(OccurrenceRow)
            .where(
                OccurrenceRow.plan_id == o.plan,
                OccurrenceRow.duty_id == o.duty,
                OccurrenceRow.period == o.period,
                or_(OccurrenceRow.status.is_(None), OccurrenceRow.status != j.status.value),
            )
            .values(status=j.status.value, status_at=at)
        )
        if res.rowcount:  # type: ignore[attr-defined]
            changed.append((j, prev))
    return changed


def evidence_for(session: Session, plan_id: str, duty_id: str | None = None) -> list[EvidenceRow]:
    q = select(EvidenceRow).where(EvidenceRow.plan_id == plan_id)
    if duty_id is not None:
        q = q.where(EvidenceRow.duty_id == duty_id)
    return list(session.scalars(q.order_by(EvidenceRow.occurred_on, EvidenceRow.id)))


def spec_payload(session: Session, plan_id: str) -> dict[str, object] | None:
    row = session.get(PlanRow, plan_id)
    return json.loads(row.spec_json) if row else None

"""The outbox: every message is a row before it is a send, keyed so it exists once.

Rows move queued -> sending (claimed) -> sent | failed, or are written as skipped.
Nothing is deleted. No transaction is held while talking to the SMTP server:
rows are claimed in one short transaction and settled in another.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, Engine, and_, func, select, update
from sqlalchemy.orm import Session

from cchc.store.db import session_scope
from cchc.store.dialect import insert, is_postgres
from cchc.store.models import OutboxRow

QUEUED, SENDING, SENT, FAILED, SKIPPED = "queued", "sending", "sent", "failed", "skipped"
STATUSES = (QUEUED, SENDING, SENT, FAILED, SKIPPED)
# Backoff after the n-th temporary failure; the last value repeats.
BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=6),
)
# RFC 5321 asks to keep trying for days; after this a message is given up and reported.
GIVE_UP_AFTER = dt.timedelta(days=4)
# A claim older than this belongs to a run that died; the row is sent again with the same Message-ID.
LEASE = dt.timedelta(minutes=10)


REPORT_STEP_PREFIX = "report:"  # report drafts, deliveries, approval notices: not ladder steps
# A row skipped because its moment had passed for the run that first saw it: a run whose own moment
# finds it fresh sends it after all, so the outcome does not depend on which run came first.
PASSED_BY = "bỏ qua:"


@dataclass(frozen=True)
class Attachment:
    """A file of the content store (by sha256) sent with a message."""

    sha256: str
    name: str
    type: str

    @staticmethod
    def dump(items: Sequence[Attachment]) -> str | None:
        return json.dumps([a.__dict__ for a in items], ensure_ascii=False) if items else None

    @staticmethod
    def load(raw: str | None) -> list[Attachment]:
        return [Attachment(**a) for a in json.loads(raw)] if raw else []


@dataclass
class NewMessage:
    key: str
    plan_id: str
    step: str
    recipient: str  # comma-separated addresses of one unit (or one person)
    subject: str
    body_text: str
    body_html: str
    message_id: str
    due_at: dt.datetime
    duty_id: str | None = None
    period: str | None = None
    unit_id: str | None = None
    cc: Sequence[str] = field(default_factory=tuple)
    status: str = QUEUED
    last_error: str | None = None
    attachments: Sequence[Attachment] = field(default_factory=tuple)


def enqueue(session: Session, messages: Sequence[NewMessage], now: dt.datetime) -> list[str]:
    """Insert rows that do not exist yet; returns the keys that were new."""
    if not messages:
        return []
    rows = [
        {
            "key": m.key,
            "plan_id": m.plan_id,
            "duty_id": m.duty_id,
            "period": m.period,
            "step": m.step,
            "unit_id": m.unit_id,
            "recipient": m.recipient,
            "cc": ", ".join(m.cc),
            "subject": m.subject,
            "body_text": m.body_text,
            "body_html": m.body_html,
            "message_id": m.message_id,
            "status": m.status,
            "attempts": 0,
            "last_error": m.last_error,
            "due_at": m.due_at,
            "created_at": now,
            "next_attempt_at": now,
            "attachments": Attachment.dump(m.attachments),
        }
        for m in messages
    ]
    stmt = (
        insert(session, OutboxRow).values(rows).on_conflict_do_nothing(index_elements=["key"]).returning(OutboxRow.key)
    )
    new = [k for (k,) in session.execute(stmt)]
    return new + _revive(session, [m for m in messages if m.status == QUEUED and m.key not in set(new)], now)


def _revive(session: Session, messages: Sequence[NewMessage], now: dt.datetime) -> list[str]:
    """Rows an earlier-processed run skipped as past their time, now found fresh by this run's moment."""
    revived: list[str] = []
    for m in messages:
        done = session.execute(
            update(OutboxRow)
            .where(OutboxRow.key == m.key, OutboxRow.status == SKIPPED, OutboxRow.last_error.startswith(PASSED_BY))
            .values(
                status=QUEUED,
                last_error=None,
                subject=m.subject,
                body_text=m.body_text,
                body_html=m.body_html,
                due_at=m.due_at,
                attempts=0,
                next_attempt_at=now,
            )
        )
        if cast(CursorResult[Any], done).rowcount:
            revived.append(m.key)
    return revived


def existing_keys(session: Session, keys: Sequence[str], fresh: Sequence[str] = ()) -> set[str]:
    """The keys that have a row, less those among ``fresh`` (found due by this run) that were skipped as
    past their time: the caller writes those again and enqueue revives them."""
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = list(keys[i : i + 500])
        found.update(k for (k,) in session.execute(select(OutboxRow.key).where(OutboxRow.key.in_(chunk))))
    wanted = [k for k in fresh if k in found]
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        found.difference_update(
            k
            for (k,) in session.execute(
                select(OutboxRow.key).where(
                    OutboxRow.key.in_(chunk), OutboxRow.status == SKIPPED, OutboxRow.last_error.startswith(PASSED_BY)
                )
            )
        )
    return found


def claim(
    engine: Engine,
    now: dt.datetime,
    limit: int = 500,
    plan_id: str | None = None,
    lease: dt.timedelta = LEASE,
    token: str | None = None,
) -> list[OutboxRow]:
    """Take up to ``limit`` sendable rows for this worker (``token``), in one short transaction.

    PostgreSQL skips rows another worker holds; SQLite serialises writers with BEGIN IMMEDIATE.
    The update is conditional, so two workers can never both claim a row. A row claimed longer than
    ``lease`` ago belongs to a pass that died: it is taken over (its message may have gone out once).
    """
    with session_scope(engine) as s:
        return claim_in(s, now, limit, plan_id, lease, token)


def claim_in(
    s: Session,
    now: dt.datetime,
    limit: int = 500,
    plan_id: str | None = None,
    lease: dt.timedelta = LEASE,
    token: str | None = None,
    take_over: bool = True,
) -> list[OutboxRow]:
    """``claim`` inside a transaction the caller holds (a pass settles one row and claims the next at once).

    Each lookup is one UPDATE ... WHERE id IN (index-ordered SELECT ... LIMIT n) RETURNING the rows, since a
    pass runs it once per message. Rows a dead pass held come first; ``take_over=False`` skips that lookup
    (a pass takes over at its start; a row whose lease runs out mid-pass waits for the next pass).
    """
    lookups: list[tuple[Any, tuple[Any, ...]]] = []
    if take_over:
        lookups.append((and_(OutboxRow.status == SENDING, OutboxRow.claimed_at < now - lease), (OutboxRow.id,)))
    lookups.append(
        (and_(OutboxRow.status == QUEUED, OutboxRow.next_attempt_at <= now), (OutboxRow.next_attempt_at, OutboxRow.id))
    )
    rows: list[OutboxRow] = []
    for cond, order in lookups:
        if len(rows) >= limit:
            break
        pick = select(OutboxRow.id).where(cond)
        if plan_id is not None:
            pick = pick.where(OutboxRow.plan_id == plan_id)
        pick = pick.order_by(*order).limit(limit - len(rows))
        if is_postgres(s):
            # PostgreSQL may run a LIMIT subquery of an UPDATE more than once: pick first, then update.
            picked = list(s.scalars(pick.with_for_update(skip_locked=True)))
            if not picked:
                continue
            target: Any = OutboxRow.id.in_(picked)
        else:
            target = OutboxRow.id.in_(pick.scalar_subquery())
        # The WHERE repeats the condition: a row another worker claimed meanwhile is not won twice.
        won = s.scalars(
            update(OutboxRow)
            .where(target, cond)
            .values(status=SENDING, claimed_at=now, claimed_by=token, attempts=OutboxRow.attempts + 1)
            .returning(OutboxRow),
            execution_options={"synchronize_session": False},
        ).all()
        rows.extend(sorted(won, key=lambda r: r.id))
    for r in rows:
        s.expunge(r)
    return rows


def _held(row_id: int, token: str | None) -> Any:
    """The row is still this pass's: claimed (sending) and, when the pass has a token, by this pass."""
    held = and_(OutboxRow.id == row_id, OutboxRow.status == SENDING)
    return and_(held, OutboxRow.claimed_by == token) if token is not None else held


def mark_sent(
    session: Session, row_id: int, reply: str, now: dt.datetime, refused: str | None = None, token: str | None = None
) -> bool:
    """False when another pass took the row over (this one outlived its lease)."""
    result = session.execute(
        update(OutboxRow)
        .where(_held(row_id, token))
        # An earlier attempt's error stays on the row unless some recipients were refused now.
        .values(
            status=SENT,
            server_reply=reply[:2000],
            sent_at=now,
            claimed_at=None,
            claimed_by=None,
            **({"last_error": refused} if refused else {}),
        )
    )
    return _changed(result)


def mark_failed(session: Session, row_id: int, reason: str, token: str | None = None) -> bool:
    result = session.execute(
        update(OutboxRow)
        .where(_held(row_id, token))
        .values(status=FAILED, last_error=reason[:2000], claimed_at=None, claimed_by=None)
    )
    return _changed(result)


def mark_retry(
    session: Session, row: OutboxRow, reason: str, now: dt.datetime, token: str | None = None
) -> Literal["queued", "failed", "lost"]:
    """Back to the queue with backoff, or failed once it is too old; "lost" if another pass holds the row."""
    if now - row.created_at > GIVE_UP_AFTER:
        held = mark_failed(session, row.id, f"gave up after {row.attempts} attempts: {reason}", token)
        return "failed" if held else "lost"
    delay = BACKOFF[min(max(row.attempts, 1), len(BACKOFF)) - 1]
    result = session.execute(
        update(OutboxRow)
        .where(_held(row.id, token))
        .values(status=QUEUED, last_error=reason[:2000], next_attempt_at=now + delay, claimed_at=None, claimed_by=None)
    )
    return "queued" if _changed(result) else "lost"


def release(session: Session, row_id: int, reason: str, token: str | None = None) -> None:
    """Give a claimed row back untouched (the configuration is wrong, not the message)."""
    session.execute(
        update(OutboxRow)
        .where(_held(row_id, token))
        .values(
            status=QUEUED, last_error=reason[:2000], claimed_at=None, claimed_by=None, attempts=OutboxRow.attempts - 1
        )
    )


def _changed(result: Any) -> bool:
    return int(getattr(result, "rowcount", 0) or 0) == 1


def cancel(
    session: Session,
    plan_id: str,
    keep: set[str],
    duty_ids: Sequence[str] | None,
    reason: str,
    at: dt.datetime,
    now: dt.datetime,
    lease: dt.timedelta = LEASE,
) -> list[str]:
    """Queued ladder rows whose step is no longer due at ``at`` (met, waived, superseded) become skipped.

    ``keep`` holds "duty:period:step" of every step still due; notices and digests have no duty. Only
    rows waiting for a retry are withdrawn (tried once, or left by a pass that died): a row another
    pass queued a moment ago is that pass's to send, as it would have been had the runs not overlapped.
    A step not yet due at ``at`` is not this run's to judge.
    """
    q = select(OutboxRow.id, OutboxRow.key, OutboxRow.duty_id, OutboxRow.period, OutboxRow.step).where(
        OutboxRow.plan_id == plan_id,
        OutboxRow.status == QUEUED,
        OutboxRow.duty_id.is_not(None),
        OutboxRow.step.not_like(f"{REPORT_STEP_PREFIX}%"),
        OutboxRow.due_at <= at,
        (OutboxRow.attempts > 0) | (OutboxRow.created_at <= now - lease),
    )
    if duty_ids is not None:
        q = q.where(OutboxRow.duty_id.in_(list(duty_ids)))
    gone = [r for r in session.execute(q).all() if f"{r.duty_id}:{r.period}:{r.step}" not in keep]
    if gone:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_([r.id for r in gone]), OutboxRow.status == QUEUED)
            .values(status=SKIPPED, last_error=reason)
        )
    return [r.key for r in gone]


def rows(
    session: Session,
    plan_id: str | None = None,
    status: str | None = None,
    keys: Sequence[str] | None = None,
    steps: Sequence[str] | None = None,
) -> list[OutboxRow]:
    q = select(OutboxRow)
    if steps is not None:
        q = q.where(OutboxRow.step.in_(list(steps)))
    if plan_id is not None:
        q = q.where(OutboxRow.plan_id == plan_id)
    if status is not None:
        q = q.where(OutboxRow.status == status)
    if keys is not None:
        q = q.where(OutboxRow.key.in_(list(keys)))
    return list(session.scalars(q.order_by(OutboxRow.id)))


def last_digest_at(session: Session, plan_id: str, before_week: str) -> dt.datetime | None:
    """When the plan's latest digest of an earlier week was written; skipped ones never went out.

    Weeks are '2025-W43', so text order is week order.
    """
    q = select(func.max(OutboxRow.created_at)).where(
        OutboxRow.plan_id == plan_id,
        OutboxRow.step == "digest",
        OutboxRow.status != SKIPPED,
        OutboxRow.period < before_week,
    )
    moment: dt.datetime | None = session.scalar(q)
    return moment


def latest(session: Session, plan_id: str, limit: int) -> list[OutboxRow]:
    """The newest rows first."""
    q = select(OutboxRow).where(OutboxRow.plan_id == plan_id).order_by(OutboxRow.id.desc()).limit(limit)
    return list(session.scalars(q))


def retry_now(session: Session, now: dt.datetime, plan_id: str | None = None) -> int:
    """`cchc mail flush`: everything queued is due at once, whatever its backoff said."""
    q = update(OutboxRow).where(OutboxRow.status == QUEUED, OutboxRow.next_attempt_at > now)
    if plan_id is not None:
        q = q.where(OutboxRow.plan_id == plan_id)
    result = cast(CursorResult[Any], session.execute(q.values(next_attempt_at=now)))
    return result.rowcount or 0


def backlog(session: Session, since: dt.datetime) -> tuple[int, dt.datetime | None, int]:
    """`cchc doctor`: how many rows wait to be sent (queued or being sent), the oldest due time among them,
    and how many failed among those created since ``since``: a stuck queue or a failing server shows here."""
    queued, oldest = session.execute(
        select(func.count(), func.min(OutboxRow.due_at)).where(OutboxRow.status.in_((QUEUED, SENDING)))
    ).one()
    failed = session.execute(
        select(func.count()).where(OutboxRow.status == FAILED, OutboxRow.created_at >= since)
    ).scalar_one()
    return int(queued), oldest, int(failed)

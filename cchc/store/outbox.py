"""The outbox: every message is a row before it is a send, keyed so it exists once.

Rows move queued -> sending (claimed) -> sent | failed, or are written as skipped.
Nothing is deleted. No transaction is held while talking to the SMTP server:
rows are claimed in one short transaction and settled in another.

A mail pass runs one statement per step on one connection (``take``, ``take_id``, ``peek``, ``settle_*``):
plain SQL expressions built once, no ORM, since it runs them for every message it sends.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Dialect,
    Engine,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal,
    null,
    or_,
    select,
    true,
    update,
)
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


_T = cast(Table, OutboxRow.__table__)

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
    if is_postgres(session):
        new = _insert_postgres(session.connection(), rows)
    else:
        # One statement run for many rows, compiled once: SQLAlchemy sends them 20 to a VALUES list, short
        # enough for SQLite to cache its plan.
        stmt = insert(session, _T).on_conflict_do_nothing(index_elements=["key"]).returning(_T.c.key)
        conn = session.connection().execution_options(insertmanyvalues_page_size=20)
        new = [k for (k,) in conn.execute(stmt, rows)]
    fresh = set(new)
    return new + _revive(session, [m for m in messages if m.status == QUEUED and m.key not in fresh], now)


# On PostgreSQL a chunk of rows goes as one array per column, unnested into one INSERT: one round trip and
# one short statement a chunk, where SQLAlchemy's VALUES lists (20 rows each) took 150 for 3,000 rows.
_PG_CHUNK = 5000
_PG_ARRAYS = {  # the array type of each column that is not text
    "attempts": "integer[]",
    "due_at": "timestamptz[]",
    "created_at": "timestamptz[]",
    "next_attempt_at": "timestamptz[]",
}


@functools.cache
def _pg_insert_sql(columns: tuple[str, ...], dialect: Dialect) -> str:
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(_T.c[c].name) for c in columns)  # the table's own columns: KeyError otherwise
    arrays = ", ".join(f"%s::{_PG_ARRAYS.get(c, 'text[]')}" for c in columns)
    # Only identifiers of the table definition are formatted in; every value is a bound parameter.
    return (
        f"INSERT INTO {quote(_T.name)} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
        " ON CONFLICT (key) DO NOTHING RETURNING key"
    )


def _insert_postgres(conn: Connection, rows: list[dict[str, Any]]) -> list[str]:
    """INSERT ... SELECT FROM unnest(arrays) ON CONFLICT (key) DO NOTHING RETURNING key, in the caller's
    transaction; the keys come back in the order given, as SQLAlchemy's batches returned them."""
    columns = tuple(rows[0])
    # The columns' own bind processing (UTCDateTime refuses a naive moment), as SQLAlchemy would apply it.
    procs = [_T.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in columns]
    sql = _pg_insert_sql(columns, conn.dialect)
    cursor = cast(Any, conn.connection.dbapi_connection).cursor()
    inserted: set[str] = set()
    try:
        for i in range(0, len(rows), _PG_CHUNK):
            chunk = rows[i : i + _PG_CHUNK]
            arrays = [
                [p(r[c]) for r in chunk] if p else [r[c] for r in chunk] for c, p in zip(columns, procs, strict=True)
            ]
            cursor.execute(sql, arrays)
            inserted.update(k for (k,) in cursor.fetchall())
    finally:
        cursor.close()
    order = [r["key"] for r in rows]
    return [k for k in dict.fromkeys(order) if k in inserted]


def _revive(session: Session, messages: Sequence[NewMessage], now: dt.datetime) -> list[str]:
    """Rows an earlier-processed run skipped as past their time, now found fresh by this run's moment."""
    passed: set[str] = set()
    keys = [m.key for m in messages]
    for i in range(0, len(keys), 500):
        passed.update(
            session.scalars(
                select(OutboxRow.key).where(
                    OutboxRow.key.in_(keys[i : i + 500]),
                    OutboxRow.status == SKIPPED,
                    OutboxRow.last_error.startswith(PASSED_BY),
                )
            )
        )
    revived: list[str] = []
    for m in messages:
        if m.key not in passed:
            continue
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


@dataclass(frozen=True)
class Held:
    """A row as the claim that took it returned it: what a pass needs to build, send and settle its message."""

    id: int
    key: str
    plan_id: str
    step: str
    unit_id: str | None
    recipient: str
    cc: str
    subject: str
    body_text: str
    body_html: str
    message_id: str
    attachments: str | None
    attempts: int
    created_at: dt.datetime

    def same_message(self, other: Held) -> bool:
        """Everything that goes into the message and its envelope is unchanged (not the counters)."""
        return all(getattr(self, f) == getattr(other, f) for f in _MESSAGE_FIELDS)


_MESSAGE_FIELDS = ("id", "unit_id", "recipient", "cc", "subject", "body_text", "body_html", "message_id", "attachments")
_HELD_COLUMNS = tuple(_T.c[f.name] for f in fields(Held))


def _held_row(row: Any) -> Held:
    return Held(*row)


@functools.cache
def _take_stmt(postgres: bool, expired: bool, by_plan: bool, by_id: bool) -> Any:
    """UPDATE ... WHERE id = (the first sendable row) ... RETURNING it: one statement claims one row.

    The row is picked by a scalar subquery (one row, so PostgreSQL runs it once, as an InitPlan; FOR UPDATE SKIP
    LOCKED passes over rows another worker is taking) and the WHERE repeats the condition, so a row another
    worker claimed meanwhile is never won twice. ``by_id`` claims the row a pass peeked at, if still sendable.
    """
    if expired:  # a row a dead pass held past its lease
        cond = and_(_T.c.status == SENDING, _T.c.claimed_at < bindparam("cutoff"))
        order: tuple[Any, ...] = (_T.c.id,)
    else:
        cond = and_(_T.c.status == QUEUED, _T.c.next_attempt_at <= bindparam("now"))
        order = (_T.c.next_attempt_at, _T.c.id)
    if by_id:
        target: Any = _T.c.id == bindparam("row_id")
    else:
        pick = select(_T.c.id).where(cond)
        if by_plan:
            pick = pick.where(_T.c.plan_id == bindparam("p_plan"))
        pick = pick.order_by(*order).limit(1)
        if postgres:
            pick = pick.with_for_update(skip_locked=True)
        target = _T.c.id == pick.scalar_subquery()
    return (
        update(_T)
        .where(target, cond)
        .values(status=SENDING, claimed_at=bindparam("now"), claimed_by=bindparam("token"), attempts=_T.c.attempts + 1)
        .returning(*_HELD_COLUMNS)
    )


@functools.cache
def _peek_stmt(by_plan: bool) -> Any:
    q = select(*_HELD_COLUMNS).where(_T.c.status == QUEUED, _T.c.next_attempt_at <= bindparam("now"))
    if by_plan:
        q = q.where(_T.c.plan_id == bindparam("p_plan"))
    return q.order_by(_T.c.next_attempt_at, _T.c.id).limit(bindparam("p_limit"))


def take(
    conn: Connection,
    now: dt.datetime,
    plan_id: str | None = None,
    lease: dt.timedelta = LEASE,
    token: str | None = None,
    take_over: bool = True,
) -> Held | None:
    """Claim the next sendable row for this pass (``token``) inside the caller's transaction.

    A row a dead pass held longer than ``lease`` comes first when ``take_over`` (a pass takes over at its
    start; a lease that runs out mid-pass waits for the next pass): its message may have gone out once.
    """
    postgres = conn.dialect.name == "postgresql"
    params = {"now": now, "cutoff": now - lease, "token": token, "p_plan": plan_id}
    for expired in (True, False) if take_over else (False,):
        row = conn.execute(_take_stmt(postgres, expired, plan_id is not None, False), params).first()
        if row is not None:
            return _held_row(row)
    return None


def take_id(conn: Connection, row_id: int, now: dt.datetime, token: str | None = None) -> Held | None:
    """Claim the row ``peek`` showed, if it is still queued and due (None when another pass was quicker)."""
    stmt = _take_stmt(conn.dialect.name == "postgresql", False, False, True)
    row = conn.execute(stmt, {"row_id": row_id, "now": now, "token": token}).first()
    return None if row is None else _held_row(row)


def peek(conn: Connection, now: dt.datetime, plan_id: str | None = None, limit: int = 1) -> list[Held]:
    """The rows ``take`` would claim next among the queued ones, in that order, without claiming them (a pass
    prepares a message's envelope meanwhile, and claims it with ``take_id`` before the message goes out)."""
    params = {"now": now, "p_plan": plan_id, "p_limit": limit}
    return [_held_row(row) for row in conn.execute(_peek_stmt(plan_id is not None), params)]


@functools.cache
def _settle_stmt(values: tuple[str, ...], by_token: bool) -> Any:
    """The row is still this pass's: claimed (sending) and, when the pass has a token, by this pass."""
    held = and_(_T.c.id == bindparam("row_id"), _T.c.status == SENDING)
    if by_token:
        held = and_(held, _T.c.claimed_by == bindparam("token"))
    return (
        update(_T)
        .where(held)
        .values({**{v: bindparam(f"v_{v}") for v in values}, "claimed_at": None, "claimed_by": None})
    )


def _settle(conn: Connection, row_id: int, token: str | None, **values: Any) -> bool:
    stmt = _settle_stmt(tuple(values), token is not None)
    result = conn.execute(stmt, {"row_id": row_id, "token": token, **{f"v_{k}": v for k, v in values.items()}})
    return _changed(result)


def settle_sent(
    conn: Connection, row_id: int, reply: str, now: dt.datetime, refused: str | None = None, token: str | None = None
) -> bool:
    """False when another pass took the row over (this one outlived its lease)."""
    # An earlier attempt's error stays on the row unless some recipients were refused now.
    extra = {"last_error": refused} if refused else {}
    return _settle(conn, row_id, token, status=SENT, server_reply=reply[:2000], sent_at=now, **extra)


@functools.cache
def _sent_then_take_stmt() -> Any:
    """PostgreSQL: record a sent message and claim the next row in one statement (one round trip).

    Both are data-modifying CTEs on one snapshot: the claim's WHERE requires the settlement to have
    happened, so a pass that lost its row claims nothing, exactly as the two statements in sequence.
    """
    settled = _settle_stmt(("status", "server_reply", "sent_at"), True).returning(_T.c.id).cte("settled")
    claim = (
        update(_T)
        .where(
            _T.c.id == bindparam("next_id"),
            _T.c.status == QUEUED,
            _T.c.next_attempt_at <= bindparam("now"),
            select(settled.c.id).exists(),
        )
        .values(status=SENDING, claimed_at=bindparam("now"), claimed_by=bindparam("token"), attempts=_T.c.attempts + 1)
        .returning(*_HELD_COLUMNS)
        .cte("claimed")
    )
    held = select(func.count()).select_from(settled).scalar_subquery().label("held")
    one = select(literal(1).label("one")).subquery("one")
    return select(held, *(claim.c[c.name] for c in _HELD_COLUMNS)).select_from(one.outerjoin(claim, true()))


@functools.cache
def _sent_and_take_stmt() -> Any:
    """SQLite: record a sent message and claim the next row in one UPDATE of the two rows (no data-modifying
    CTEs there). Each row keeps its own condition (the sent one still this pass's, the next one still queued
    and due), and RETURNING names the rows changed: a pass whose sent row is not among them lost it, and gives
    back the next row if it was claimed. SQLite runs one writer at a time, so nobody sees the claim alone."""
    when = _T.c.claimed_at.type
    prev = _T.c.id == bindparam("row_id")
    held = and_(prev, _T.c.status == SENDING, _T.c.claimed_by == bindparam("token"))
    claimable = and_(
        _T.c.id == bindparam("next_id"), _T.c.status == QUEUED, _T.c.next_attempt_at <= bindparam("now", type_=when)
    )
    return (
        update(_T)
        .where(or_(held, claimable))
        .values(
            status=case((prev, SENT), else_=SENDING),
            server_reply=case((prev, bindparam("v_server_reply")), else_=_T.c.server_reply),
            sent_at=case((prev, bindparam("v_sent_at", type_=when)), else_=_T.c.sent_at),
            claimed_at=case((prev, null()), else_=bindparam("now", type_=when)),
            claimed_by=case((prev, null()), else_=bindparam("token")),
            attempts=case((prev, _T.c.attempts), else_=_T.c.attempts + 1),
        )
        .returning(*_HELD_COLUMNS)
    )


@functools.cache
def _unclaim_stmt() -> Any:
    """Undo a claim this pass made a moment ago (it lost the row before it, so it stops): untouched, uncounted."""
    return (
        update(_T)
        .where(_T.c.id == bindparam("row_id"), _T.c.status == SENDING, _T.c.claimed_by == bindparam("token"))
        .values(status=QUEUED, claimed_at=None, claimed_by=None, attempts=_T.c.attempts - 1)
    )


class _Direct:
    """A statement compiled once for one dialect and run on the driver's own cursor.

    The mail pass runs one per message sent; SQLAlchemy's execution around it (events, an execution context,
    a result object, and on SQLite its BEGIN IMMEDIATE and COMMIT) costs several times SQLite's own work for
    it. Values still go through the column types' bind and result processors, as SQLAlchemy's would. On a
    connection outside a transaction the statement commits alone (SQLite's autocommit, PostgreSQL's
    AUTOCOMMIT connection); inside one it joins it.
    """

    executed = 0  # statements run this way in this process (a bench adds them to SQLAlchemy's count)

    def __init__(self, stmt: Any, dialect: Dialect, columns: Sequence[Any]) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        binds = {name: bp for bp, name in compiled.bind_names.items()}
        self.constants = {name: bp.value for name, bp in binds.items() if not bp.required}
        self.procs = {name: bp.type.dialect_impl(dialect).bind_processor(dialect) for name, bp in binds.items()}
        self.positions: Sequence[str] | None = compiled.positiontup  # None: named parameters
        self.results = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]

    def run(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        values = {**self.constants, **params}
        procs = self.procs
        args: Any
        if self.positions is not None:
            args = tuple(procs[n](values[n]) if procs[n] else values[n] for n in self.positions)
        else:
            args = {n: procs[n](v) if procs[n] else v for n, v in values.items()}
        cursor = cast(Any, conn.connection.dbapi_connection).cursor()
        try:
            cursor.execute(self.sql, args)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        _Direct.executed += 1
        return [tuple(p(v) if p else v for p, v in zip(self.results, row, strict=True)) for row in rows]


@functools.cache
def _direct(postgres: bool, dialect: Dialect) -> _Direct:
    if postgres:
        return _Direct(_sent_then_take_stmt(), dialect, (func.count(), *_HELD_COLUMNS))
    return _Direct(_sent_and_take_stmt(), dialect, _HELD_COLUMNS)


def direct_statements() -> int:
    """How many statements this process ran on the driver directly (``_Direct``)."""
    return _Direct.executed


def settle_sent_take_id(
    conn: Connection, row_id: int, reply: str, now: dt.datetime, token: str, next_id: int, at: dt.datetime
) -> tuple[bool, Held | None]:
    """``settle_sent`` (no refused recipient) then ``take_id(next_id)``, in one statement.

    Returns (held, claimed): held False when another pass took ``row_id`` over (then nothing is claimed);
    claimed None when another pass was quicker to ``next_id``."""
    if conn.dialect.name != "postgresql":
        params = {
            "row_id": row_id,
            "token": token,
            "v_server_reply": reply[:2000],
            "v_sent_at": now,
            "next_id": next_id,
            "now": at,
        }
        changed = {row[0]: row for row in _direct(False, conn.dialect).run(conn, params)}
        claimed = changed.get(next_id) if next_id != row_id else None
        if row_id not in changed:
            if claimed is not None:
                conn.execute(_unclaim_stmt(), {"row_id": next_id, "token": token})
            return False, None
        return True, None if claimed is None else _held_row(claimed)
    params = {
        "row_id": row_id,
        "token": token,
        "v_status": SENT,
        "v_server_reply": reply[:2000],
        "v_sent_at": now,
        "next_id": next_id,
        "now": at,
    }
    (row,) = _direct(True, conn.dialect).run(conn, params)
    if not row[0]:
        return False, None
    return True, None if row[1] is None else _held_row(row[1:])


def settle_failed(conn: Connection, row_id: int, reason: str, token: str | None = None) -> bool:
    return _settle(conn, row_id, token, status=FAILED, last_error=reason[:2000])


def settle_retry(
    conn: Connection,
    row_id: int,
    attempts: int,
    created_at: dt.datetime,
    reason: str,
    now: dt.datetime,
    token: str | None = None,
) -> Literal["queued", "failed", "lost"]:
    """Back to the queue with backoff, or failed once it is too old; "lost" if another pass holds the row."""
    if now - created_at > GIVE_UP_AFTER:
        held = settle_failed(conn, row_id, f"gave up after {attempts} attempts: {reason}", token)
        return "failed" if held else "lost"
    delay = BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]
    held = _settle(conn, row_id, token, status=QUEUED, last_error=reason[:2000], next_attempt_at=now + delay)
    return "queued" if held else "lost"


def give_back(conn: Connection, row_id: int, reason: str, token: str | None = None) -> None:
    """Give a claimed row back untouched (the configuration is wrong, not the message)."""
    # Rare (a configuration fault), so built here: the attempt did not count.
    held = and_(_T.c.id == row_id, _T.c.status == SENDING)
    if token is not None:
        held = and_(held, _T.c.claimed_by == token)
    conn.execute(
        update(_T)
        .where(held)
        .values(status=QUEUED, last_error=reason[:2000], claimed_at=None, claimed_by=None, attempts=_T.c.attempts - 1)
    )


def mark_sent(
    session: Session, row_id: int, reply: str, now: dt.datetime, refused: str | None = None, token: str | None = None
) -> bool:
    """``settle_sent`` inside a session's transaction."""
    return settle_sent(session.connection(), row_id, reply, now, refused, token)


def mark_failed(session: Session, row_id: int, reason: str, token: str | None = None) -> bool:
    return settle_failed(session.connection(), row_id, reason, token)


def mark_retry(
    session: Session, row: OutboxRow, reason: str, now: dt.datetime, token: str | None = None
) -> Literal["queued", "failed", "lost"]:
    return settle_retry(session.connection(), row.id, row.attempts, row.created_at, reason, now, token)


def release(session: Session, row_id: int, reason: str, token: str | None = None) -> None:
    give_back(session.connection(), row_id, reason, token)


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

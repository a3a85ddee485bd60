"""One pass as the schedule runs it: judge, turn due ladder steps into outbox rows, send what is queued.

`cchc tick`, `cchc mail flush` and the duty flows on Prefect all call this module, so the
three paths cannot behave differently. Everything takes the moment it acts at.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import functools
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, TypeVar, cast

import aiosmtplib
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from cchc.app import report_workflow as workflow
from cchc.app import service
from cchc.core import escalation, views
from cchc.core.spec import Plan, UnitRole
from cchc.settings import Settings
from cchc.store import outbox as ob
from cchc.store import repo
from cchc.store.db import session_scope
from cchc.store.models import OutboxRow
from notifications import compose
from notifications.delivery import make_transport, run_sync
from notifications.messages import (
    coordinator_notice,
    digest_gaps,
    digest_messages,
    digest_moment,
    ladder_key,
    ladder_messages,
    no_email_notices,
)
from notifications.smtp import EnvelopeTransport, MailConfigError, Outcome, Transport

T = TypeVar("T")
LOOK_AHEAD = 50  # rows a pass looks up at once to announce each next envelope early


@dataclass
class Line:
    key: str
    to: str
    subject: str
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        return {"key": self.key, "to": self.to, "subject": self.subject, "detail": self.detail}


@dataclass
class TickResult:
    plan: str | None
    at: dt.datetime | None
    transport: str = ""
    queued: list[Line] = field(default_factory=list)
    skipped: list[Line] = field(default_factory=list)
    sent: list[Line] = field(default_factory=list)
    retrying: list[Line] = field(default_factory=list)
    failed: list[Line] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    config_error: str | None = None  # the mail settings are wrong: nothing could be sent
    reports: list[str] = field(default_factory=list)  # "report:period" delivered and recorded in this pass

    def merge(self, other: TickResult) -> None:
        for name in ("queued", "skipped", "sent", "retrying", "failed", "problems", "reports"):
            getattr(self, name).extend(getattr(other, name))
        self.transport = other.transport or self.transport
        self.config_error = other.config_error or self.config_error

    def as_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "at": self.at.isoformat() if self.at else None,
            "transport": self.transport,
            **{
                k: [line.as_json() for line in getattr(self, k)]
                for k in ("queued", "skipped", "sent", "retrying", "failed")
            },
            "problems": self.problems,
            "reports": self.reports,
        }


def plan_pass(
    settings: Settings,
    engine: Engine,
    plan: Plan,
    judged: Sequence[repo.Judged],
    at: dt.datetime,
    now: dt.datetime,
    duty_ids: Sequence[str] | None = None,
    digest: bool = True,
) -> TickResult:
    """Judged occurrences -> outbox rows (new ones only), and queued rows no longer due -> skipped."""
    result = TickResult(plan=plan.id, at=at)
    chosen = [j for j in judged if duty_ids is None or j.occurrence.duty in duty_ids]
    due = escalation.intents(plan, [(j.occurrence, j.status, j.count) for j in chosen], at)
    occ_of = {(j.occurrence.duty, j.occurrence.period): j.occurrence for j in chosen}
    candidate_keys = [ladder_key(i, u) for i in due for u in i.to]
    fresh_keys = [ladder_key(i, u) for i in due if not i.stale for u in i.to]
    with session_scope(engine) as s:
        known = ob.existing_keys(s, candidate_keys, fresh_keys)
    messages, missing = ladder_messages(settings, plan, due, occ_of, at, known)
    if digest and duty_ids is None:
        with session_scope(engine) as s:
            week, moment = digest_moment(at, plan.timezone)
            digest_keys = [f"{plan.id}:digest:{week}:{u.id}" for u in plan.units_with_role(UnitRole.coordinator)]
            known_digest = ob.existing_keys(s, digest_keys, digest_keys)
            gaps = digest_gaps(s, plan, week, moment)
        messages += digest_messages(settings, plan, judged, at, known_digest, gaps)
    if missing:
        messages += no_email_notices(settings, plan, missing, at)
        result.problems += [
            f"unit '{u}' of plan {plan.id} has no email address; the coordinator is told" for u in missing
        ]
    keep = {f"{i.duty}:{i.period}:{i.step}" for i in due if not i.stale}
    with session_scope(engine) as s:
        new = set(ob.enqueue(s, messages, now))
        cancelled = ob.cancel(
            s,
            plan.id,
            keep,
            duty_ids,
            "không còn đến hạn: kỳ đã đạt, được miễn hoặc đã qua bước này",
            at,
            now,
            dt.timedelta(seconds=settings.outbox_lease_seconds),
        )
    for m in messages:
        if m.key not in new:
            continue  # another run queued it first
        line = Line(m.key, m.recipient, m.subject, m.last_error or "")
        {ob.QUEUED: result.queued, ob.SKIPPED: result.skipped, ob.FAILED: result.failed}[m.status].append(line)
    result.skipped += [Line(k, "", "", "không còn đến hạn") for k in cancelled]
    return result


# --- sending -------------------------------------------------------------------------------------

Letter = ob.Held | OutboxRow  # a claimed row, from a pass (Held) or from a caller of the session API


def build_email(settings: Settings, row: Letter, plan: Plan | None, now: dt.datetime) -> tuple[Any, list[str]]:
    to = [a.strip() for a in row.recipient.split(",") if a.strip()]
    cc = [a.strip() for a in row.cc.split(",") if a.strip()]
    name = views.unit_name(plan, row.unit_id) if plan is not None and row.unit_id else ""
    msg = compose.to_email(
        sender=settings.mail_from,
        recipient=[(name, a) for a in to],
        cc=cc,
        subject=row.subject,
        text=row.body_text,
        html=row.body_html,
        message_id=row.message_id,
        date=now,
        attachments=[(a.name, a.type, _stored(settings, a.sha256)) for a in ob.Attachment.load(row.attachments)],
    )
    return msg, to + [c for c in cc if c not in to]


def _stored(settings: Settings, sha256: str) -> bytes:
    path = service.stored_path(settings, sha256)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise AttachmentMissing(f"attachment {path} is missing from the file store") from None


class AttachmentMissing(Exception):
    """A message's file is gone from the content store: retrying cannot help."""


PlanLookup = Callable[[str], Plan | None]


def _failure_notice(
    settings: Settings, plan: Plan | None, row: Letter, why: str, now: dt.datetime
) -> list[ob.NewMessage]:
    if plan is None or row.step in ("notice",):
        return []  # never a notice about a notice: that would loop
    text = (
        f'Thư "{row.subject}" gửi {row.recipient} không gửi được: {why}. '
        "Đề nghị kiểm tra địa chỉ thư điện tử của đơn vị trong kế hoạch rồi báo lại cho đơn vị."
    )
    return coordinator_notice(settings, plan, f"{row.plan_id}:notice:failed:{row.key}", "thư không gửi được", text, now)


@dataclass
class _Letter:
    """One row's message, built once: its bytes go to the server, its envelope may go ahead of them."""

    row: ob.Held
    plan: Plan | None
    msg: EmailMessage | None = None
    data: bytes = b""
    recipients: list[str] = field(default_factory=list)
    outcome: Outcome | None = None  # known before DATA: the file is missing, or the envelope was refused
    announced: bool = False  # the envelope went out and the server waits for DATA


def _letter(settings: Settings, row: ob.Held, plan: Plan | None, now: dt.datetime, wire: bool) -> _Letter:
    """``wire``: the transport takes bytes (an envelope, then DATA); otherwise it takes the message itself and
    serialising it here would be wasted (folding Vietnamese headers is most of building a message)."""
    try:
        msg, recipients = build_email(settings, row, plan, now)
    except AttachmentMissing as e:
        # The row fails and the coordinator is told; the rest of the pass goes on.
        return _Letter(row, plan, outcome=Outcome("permanent", str(e)))
    if wire:
        # Only the bytes are kept: a message's parsed headers are thousands of objects, and letters kept
        # whole survive into the collector's older generations, whose collections cost a pass more than SQL.
        return _Letter(row, plan, None, msg.as_bytes(), recipients)
    return _Letter(row, plan, msg, b"", recipients)


@dataclass
class _Step:
    held: bool = True  # the previous row was recorded (False: another pass holds it now)
    won: ob.Held | None = None  # the row this pass claimed to send next
    after: ob.Held | None = None  # the row it would claim after that (not claimed)


class _PassStore:
    """The pass's connection (no pool checkout per message), each step its own short transaction.

    On PostgreSQL a step whose statements each stand alone (record a sent message, claim a row, look one up)
    runs them on a second connection in autocommit: the BEGIN and COMMIT round trips are two of five. On SQLite
    the usual step is one statement that commits alone; a failure with its notice is one transaction.

    ``threaded``: the steps run in one thread of their own, so the event loop carries the next envelope's
    commands (MAIL FROM, each RCPT TO) while the database works: the driver releases the interpreter lock
    while SQLite writes or PostgreSQL answers.
    """

    def __init__(self, engine: Engine, threaded: bool = False) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self.conn: Connection | None = None
        self.loose: Connection | None = None
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cchc-outbox") if threaded else None

    def run(self, fn: Callable[[Connection], T], atomic: bool = True) -> T:
        if not atomic and self.postgres:
            if self.loose is None:
                self.loose = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            return fn(self.loose)
        if self.conn is None:
            self.conn = self.engine.connect()
        if atomic:
            with self.conn.begin():
                return fn(self.conn)
        # SQLite, statements that stand alone: the usual one (ob.settle_sent_take_id) commits by itself; any
        # other opens SQLAlchemy's transaction (BEGIN IMMEDIATE), committed here.
        try:
            out = fn(self.conn)
        except BaseException:
            if self.conn.in_transaction():
                self.conn.rollback()
            raise
        if self.conn.in_transaction():
            self.conn.commit()
        return out

    async def arun(self, fn: Callable[[Connection], T], atomic: bool = True) -> T:
        if self.pool is None:
            return self.run(fn, atomic)
        return await asyncio.get_running_loop().run_in_executor(self.pool, self.run, fn, atomic)

    def close(self) -> None:
        try:
            for conn in (self.conn, self.loose):
                if conn is not None:
                    conn.close()
        finally:
            if self.pool is not None:
                self.pool.shutdown()


async def adeliver(
    settings: Settings,
    engine: Engine,
    now: dt.datetime,
    plans: PlanLookup,
    plan_id: str | None = None,
    transport: Transport | None = None,
    batch: int = 200,
    overlap: bool = True,
    threaded: bool | None = None,
) -> TickResult:
    """Send every row that is due, one connection for the whole pass; settle each row at once.

    The lease covers one message: a row is claimed just before its send, at the pass's clock moved on by
    the time the pass has taken, and settled only if this pass still holds it. So a slow server never
    causes a duplicate, a killed pass leaves at most one message in doubt, and a pass that outlived its
    lease stops instead of sending rows another pass owns. ``batch`` bounds the rows sent in one pass.

    One transaction per message records it, claims the next row and looks up the one after. With an SMTP
    server it runs while the next message's envelope (MAIL FROM, RCPT TO) is on the wire, and the pass
    waits for it before that message's DATA: nothing is delivered until the message before it is recorded,
    so a kill at any moment leaves at most one message delivered and not recorded, as without the overlap.
    ``overlap=False`` sends each envelope after that transaction instead (for comparison).
    ``threaded``: that transaction runs in a thread of its own, so the whole envelope (MAIL FROM and every
    RCPT TO) goes out meanwhile; None chooses it with the overlap on PostgreSQL, where a statement is a wait.
    """
    result = TickResult(plan=plan_id, at=None)
    try:
        transport = transport or make_transport(settings)
    except MailConfigError as e:
        result.problems.append(str(e))
        result.config_error = str(e)
        return result
    result.transport = transport.where
    token = uuid.uuid4().hex
    lease = dt.timedelta(seconds=settings.outbox_lease_seconds)
    started = time.monotonic()
    sender = settings.mail_from_address
    wire = isinstance(transport, EnvelopeTransport)
    ahead = overlap and wire
    # Plain arithmetic for the pass's clock: a pendulum moment adds a timedelta 20 times slower.
    base = dt.datetime.combine(now.date(), now.timetz()) if type(now) is not dt.datetime else now

    def clock() -> dt.datetime:
        return base + dt.timedelta(seconds=time.monotonic() - started)

    # Rows looked up ahead, in claim order: one lookup serves many messages (each is still claimed alone,
    # by id, just before its DATA; one another pass took meanwhile is skipped and the list read again).
    upcoming: collections.deque[ob.Held] = collections.deque()

    def step(prev: _Letter | None, want: ob.Held | None, first: bool, at: dt.datetime) -> Callable[[Connection], _Step]:
        """Record ``prev``'s outcome, claim ``want`` (or the next row), name the one after: one step."""

        def run(conn: Connection) -> _Step:
            won = None
            done = prev.outcome if prev is not None else None
            # The usual step (a message sent whole, the next row looked up) is one statement on PostgreSQL.
            combined = not first and want is not None and done is not None and done.kind == "sent" and not done.refused
            if combined:
                assert prev is not None and done is not None and want is not None
                held, won = ob.settle_sent_take_id(conn, prev.row.id, done.reply, now, token, want.id, at)
                if not held:
                    return _Step(held=False)
                result.sent.append(Line(prev.row.key, prev.row.recipient, prev.row.subject, done.reply))
            elif prev is not None:
                assert done is not None
                if not _settle_in(conn, settings, prev.row, done, prev.plan, now, result, token):
                    return _Step(held=False)
            if first:
                won = ob.take(conn, at, plan_id, lease, token, take_over=True)
            elif won is None:
                if not combined and want is not None:
                    won = ob.take_id(conn, want.id, at, token)
                if won is None:
                    # Another pass was quicker (or nothing was looked up: a notice this very step queued goes
                    # out in this pass): the next row, and what was looked up is stale.
                    upcoming.clear()
                    won = ob.take(conn, at, plan_id, lease, token, False)
            if won is None:
                return _Step(True, won, None)
            # The row after is looked up in any case: claiming it by id is what lets the next step record
            # this message and claim that row in one statement.
            if not upcoming:
                upcoming.extend(ob.peek(conn, at, plan_id, LOOK_AHEAD))
            while upcoming and upcoming[0].id == won.id:
                upcoming.popleft()
            return _Step(True, won, upcoming.popleft() if upcoming else None)

        return run

    # The next letter, built while the server takes in the message before it (nothing of it is sent then).
    built: list[_Letter] = []

    def build_next(row: ob.Held | None) -> Callable[[], None] | None:
        if row is None or not ahead:
            return None

        def build() -> None:
            # A fault here would cut off the message on the wire: it shows when the letter is built again,
            # after that message is recorded.
            with contextlib.suppress(Exception):
                built.append(_letter(settings, row, plans(row.plan_id), now, wire))

        return build

    def letter_for(row: ob.Held) -> _Letter:
        ready = built.pop() if built else None
        return (
            ready if ready is not None and ready.row is row else _letter(settings, row, plans(row.plan_id), now, wire)
        )

    async def whole(letter: _Letter, meanwhile: Callable[[], None] | None) -> Outcome:
        """Send a letter whose envelope has not gone ahead of it."""
        if letter.outcome is not None:
            return letter.outcome
        if isinstance(transport, EnvelopeTransport):
            refused = await transport.envelope(sender, letter.recipients, len(letter.data))
            return refused or await transport.data(letter.data, letter.row.message_id, meanwhile)
        assert letter.msg is not None
        return await transport.send(letter.msg, sender, letter.recipients)

    def give_back(row: ob.Held, e: MailConfigError) -> None:
        """The settings are wrong, not the message: the row goes back untouched, the pass stops."""
        why = str(e)
        store.run(lambda c: ob.give_back(c, row.id, why, token))
        result.problems.append(why)
        result.config_error = why

    store = _PassStore(engine, threaded=ahead and engine.dialect.name == "postgresql" if threaded is None else threaded)
    opened = False
    current: _Letter | None = None
    try:
        first = await store.arun(step(None, None, True, clock()), atomic=False)
        won, after = first.won, first.after
        for _ in range(batch * 1000):  # bounded against a runaway loop
            if won is None:
                break
            if current is None or current.row.id != won.id:
                current = _letter(settings, won, plans(won.plan_id), now, wire)
            if not opened:
                try:
                    await transport.open()
                    opened = True
                except MailConfigError as e:
                    give_back(won, e)
                    break
                except (OSError, aiosmtplib.SMTPException) as e:
                    down = Outcome("temporary", f"cannot connect to {transport.where}: {e}")
                    store.run(
                        functools.partial(
                            _settle_in,
                            settings=settings,
                            row=current.row,
                            outcome=down,
                            plan=current.plan,
                            now=now,
                            result=result,
                            token=token,
                        )
                    )
                    store.run(
                        functools.partial(
                            _retry_all,
                            settings=settings,
                            clock=clock,
                            plan_id=plan_id,
                            lease=lease,
                            token=token,
                            outcome=down,
                            plans=plans,
                            now=now,
                            result=result,
                        )
                    )
                    break
            try:
                built.clear()
                if current.announced:
                    envelopes = cast(EnvelopeTransport, transport)
                    outcome = await envelopes.data(current.data, won.message_id, build_next(after))
                else:
                    outcome = await whole(current, build_next(after))
            except MailConfigError as e:
                give_back(won, e)
                break
            current.outcome = outcome
            done, current = current, None
            # Record it and claim the next while the next message's envelope is on its way: its first
            # command is written before the transaction and its answers are read after, DATA only then.
            announcing: asyncio.Task[Outcome | None] | None = None
            if ahead and after is not None:
                current = letter_for(after)
                if current.outcome is None:
                    envelope = cast(EnvelopeTransport, transport).envelope(
                        sender, current.recipients, len(current.data)
                    )
                    announcing = asyncio.create_task(envelope)
                    await asyncio.sleep(0)  # the task runs up to its first answer: MAIL FROM is on the wire
            # A failure or a refused recipient queues a notice with its record: one transaction then.
            alone = outcome.kind == "sent" and not outcome.refused
            try:
                nxt = await store.arun(step(done, after, False, clock()), atomic=not alone)
            except BaseException:
                if announcing is not None:
                    announcing.cancel()
                raise
            if announcing is not None:
                assert current is not None
                try:
                    current.outcome = await announcing
                except MailConfigError as e:
                    if nxt.won is not None:
                        give_back(nxt.won, e)
                    else:
                        result.problems.append(str(e))
                        result.config_error = str(e)
                    break
                current.announced = current.outcome is None
            if current is not None:
                if nxt.won is not None and nxt.won.same_message(current.row):
                    current.row = nxt.won  # as claimed: its attempts count this one
                else:
                    # Another pass took that row (or it changed): the envelope is taken back, nothing was sent.
                    if current.announced:
                        await cast(EnvelopeTransport, transport).reset()
                    current = None
            if not nxt.held:
                result.problems.append(
                    f"mất quyền gửi thư {done.row.key}: lần gửi này quá {lease.total_seconds():.0f} giây "
                    "(CCHC_OUTBOX_LEASE_SECONDS) và một lần gửi khác đã nhận thư; dừng lần gửi này"
                )
                break
            won, after = nxt.won, nxt.after
    finally:
        try:
            if opened:
                await transport.close()
        finally:
            store.close()
    return result


def _retry_all(
    conn: Connection,
    settings: Settings,
    clock: Callable[[], dt.datetime],
    plan_id: str | None,
    lease: dt.timedelta,
    token: str,
    outcome: Outcome,
    plans: PlanLookup,
    now: dt.datetime,
    result: TickResult,
) -> None:
    """The server cannot be reached: every due row waits for its next attempt (one failure counted each)."""
    while row := ob.take(conn, clock(), plan_id, lease, token):
        _settle_in(conn, settings, row, outcome, plans(row.plan_id), now, result, token)


def _settle_in(
    conn: Connection,
    settings: Settings,
    row: Letter,
    outcome: Outcome,
    plan: Plan | None,
    now: dt.datetime,
    result: TickResult,
    token: str | None = None,
) -> bool:
    """Record the outcome; False when the row is no longer this pass's (nothing is recorded then).

    Each update is conditional on this pass holding the row, so a pass that lost it changes nothing.
    """
    line = Line(row.key, row.recipient, row.subject, outcome.reply)
    notices: list[ob.NewMessage] = []
    if outcome.kind == "sent":
        refused = "; ".join(f"{a}: {why}" for a, why in outcome.refused.items()) or None
        if not ob.settle_sent(
            conn, row.id, outcome.reply, now, refused=f"refused: {refused}" if refused else None, token=token
        ):
            return False
        result.sent.append(line)
        if refused:
            line.detail = f"refused: {refused}"
            notices = _failure_notice(settings, plan, row, f"máy chủ từ chối {refused}", now)
    elif outcome.kind == "temporary":
        state = ob.settle_retry(conn, row.id, row.attempts, row.created_at, outcome.reply, now, token)
        if state == "lost":
            return False
        if state == "queued":
            result.retrying.append(line)
        else:
            result.failed.append(line)
            notices = _failure_notice(settings, plan, row, f"thử lại nhiều lần vẫn lỗi ({outcome.reply})", now)
    else:
        why = "; ".join(f"{a}: {r}" for a, r in outcome.refused.items()) or outcome.reply
        if not ob.settle_failed(conn, row.id, why, token):
            return False
        line.detail = why
        result.failed.append(line)
        notices = _failure_notice(settings, plan, row, f"máy chủ từ chối ({why})", now)
    if notices:
        with Session(bind=conn) as s:  # joins the transaction the caller holds
            ob.enqueue(s, notices, now)
    return True


# --- the pass ------------------------------------------------------------------------------------


def plan_lookup(settings: Settings, first: Plan | None = None) -> PlanLookup:
    cache: dict[str, Plan | None] = {first.id: first} if first else {}

    def get(plan_id: str) -> Plan | None:
        if plan_id not in cache:
            try:
                cache[plan_id] = service.resolve_plan(plan_id, settings)
            except (service.UserError, service.SpecError):
                cache[plan_id] = None
        return cache[plan_id]

    return get


async def arun_tick(
    settings: Settings,
    plan: Plan,
    at: dt.datetime,
    now: dt.datetime,
    duty_ids: Sequence[str] | None = None,
    transport: Transport | None = None,
    judged: Sequence[repo.Judged] | None = None,
) -> TickResult:
    """Evaluate at ``at``, enqueue what is due, send this plan's queue. Safe to repeat and to overlap.

    ``judged``: the whole plan as the caller has just judged it at ``at`` (a duty run's evaluation),
    so it is not evaluated a second time; None evaluates here.
    """
    engine = service.engine_for(settings)
    if judged is None:
        judged = service.judge_plan(settings, plan, at, now)
    result = plan_pass(settings, engine, plan, judged, at, now, duty_ids)
    sent = await adeliver(settings, engine, now, plan_lookup(settings, plan), plan.id, transport)
    result.merge(sent)
    _settle_reports(settings, [plan], now, result)
    return result


def _settle_reports(settings: Settings, plans: Sequence[Plan], now: dt.datetime, result: TickResult) -> None:
    """Delivered reports become evidence of their report duty (see cchc.app.report_workflow.settle)."""
    for plan in plans:
        if plan.reports:
            for report_id, period in workflow.settle(settings, plan, now):
                result.reports.append(f"{plan.id}:{report_id}:{period}")


def run_tick(
    settings: Settings,
    plan: Plan,
    at: dt.datetime,
    now: dt.datetime,
    duty_ids: Sequence[str] | None = None,
    judged: Sequence[repo.Judged] | None = None,
) -> TickResult:
    return run_sync(arun_tick(settings, plan, at, now, duty_ids, judged=judged))


def flush(settings: Settings, now: dt.datetime, plan_id: str | None = None) -> TickResult:
    """`cchc mail flush`: everything queued, backoff or not, goes out now."""
    engine = service.engine_for(settings)
    with session_scope(engine) as s:
        ob.retry_now(s, now, plan_id)
    lookup = plan_lookup(settings)
    result = run_sync(adeliver(settings, engine, now, lookup, plan_id))
    ids = {plan_id} if plan_id else {r.plan_id for r in _sent_report_rows(engine)}
    _settle_reports(settings, [p for p in map(lookup, sorted(ids)) if p is not None], now, result)
    return result


def _sent_report_rows(engine: Engine) -> list[OutboxRow]:
    with session_scope(engine) as s:
        return ob.rows(s, status=ob.SENT, steps=[ob.REPORT_STEP_PREFIX + "delivery"])

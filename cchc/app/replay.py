"""Replay a plan over a range of days: every pass its schedules would have run, at their moments, in one process.

The moments come from the deployments as data (``cchc.core.deployments``, RRULE/RDATE read as Prefect
reads them). Each pass calls the use cases the flows' tasks call, in the flows' order, so replay and
the flows cannot drift apart:

- a duty run (flows/common.py ``run_duty``): collect (only from sources on this machine), judge and
  record the duty's statuses (``service.evaluate_duty``), the duty's mail (``mail_pass.arun_tick``);
- a report run (flows/report.py ``report_duty``): judge, draft (``report_workflow.draft``), tell the
  leader (``approval_late``), the decision taken from an approvals file instead of the Prefect form
  (``decide``), deliver, mail, and the delivery judged again;
- a mail pass (flows/mail.py ``plan_mail``): ``arun_tick`` over the whole plan (digest included).

The clock is simulated: a pass acts at its scheduled moment, ``now`` included, and records no beat of
the running system (a replayed moment says nothing about whether the system ran).

A scheduled duty run or mail pass is elided when nothing it depends on can have changed since the
previous run of the same deployment: no occurrence boundary (start, due-soon, due, close), ladder step,
staleness limit, evidence day or digest moment of its items in between, no evidence recorded by the replay
for them, no source to read and no mail waiting for a retry. Such a pass would judge the same statuses,
find every message already queued and send nothing, so eliding it changes no outcome; ``every_pass``
runs them all (the tests compare both, and both with the flows).
"""

from __future__ import annotations

import bisect
import datetime as dt
import ipaddress
import itertools
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cchc.app import collect as collectors
from cchc.app import report_workflow as workflow
from cchc.app import service
from cchc.app.mail_pass import TickResult, arun_tick
from cchc.core import escalation
from cchc.core.calendar import Occurrence, served_by, to_local
from cchc.core.deployments import FLOW_OF_KIND, REPORT_FLOW, DeploymentSpec, expected_runs, plan_deployments
from cchc.core.labels import STATUS_VI
from cchc.core.report_state import DRAFTABLE, ReportState
from cchc.core.spec import Duty, Plan
from cchc.core.views import duty_title, unit_name
from cchc.settings import Settings
from cchc.store import outbox as ob
from cchc.store import repo
from cchc.store.db import session_scope
from notifications.delivery import run_sync
from notifications.smtp import Outcome, Transport

Flow = Literal["duty", "report", "mail"]
FLOW_ORDER: dict[str, int] = {"duty": 0, "report": 1, "mail": 2}  # at one moment: duties, reports, then mail
EPSILON = dt.timedelta(microseconds=1)
MAIL_FLOW = "flows/mail.py:plan_mail"
LOOPBACK_NAMES = frozenset({"localhost"})


class DryRunTransport:
    """Delivers nothing: every message 'would be sent'. The outbox settles it as the flows' would."""

    where = "chạy thử (không gửi thư)"

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def open(self) -> None:
        return None

    async def send(self, msg: EmailMessage, sender: str, recipients: list[str]) -> Outcome:
        self.messages.append(msg)
        return Outcome("sent", "250 chạy thử: không gửi")

    async def close(self) -> None:
        return None


# --- the schedule -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledRun:
    moment: dt.datetime  # aware, in the plan's zone
    deployment: str
    flow: Flow
    item: str | None  # the duty or report; None for the plan's mail pass


def flow_of(spec: DeploymentSpec) -> Flow | None:
    """Which pass a deployment runs: a duty's (one per kind), a report's, the plan's mail, or none of them."""
    if (spec.flow_file, spec.flow_name) in FLOW_OF_KIND.values():
        return "duty"
    if (spec.flow_file, spec.flow_name) == REPORT_FLOW:
        return "report"
    if spec.entrypoint == MAIL_FLOW:
        return "mail"
    return None


def day_bounds(plan: Plan, start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[00:00 of ``start``, 00:00 of the day after ``end``) in the plan's zone."""
    zone = ZoneInfo(plan.timezone)
    lo = dt.datetime(start.year, start.month, start.day, tzinfo=zone)
    after = end + dt.timedelta(days=1)
    return lo, dt.datetime(after.year, after.month, after.day, tzinfo=zone)


def scheduled_runs(plan: Plan, start: dt.date, end: dt.date, at_hour: int | None = None) -> list[ScheduledRun]:
    """Every run the plan's deployments schedule in the days [start, end], in the order replay takes them.

    ``at_hour`` moves the daily runs of duties and reports to that hour, as the spec's ``run_time`` would.
    """
    timing = plan if at_hour is None else plan.model_copy(update={"run_time": dt.time(at_hour)})
    lo, hi = day_bounds(plan, start, end)
    zone = ZoneInfo(plan.timezone)
    out: list[tuple[dt.datetime, int, int, ScheduledRun]] = []
    for index, spec in enumerate(plan_deployments(timing)):
        flow = flow_of(spec)
        if flow is None:
            continue  # not a pass over the store (a page of the Prefect UI, a form): nothing to replay
        item = spec.parameters.get("duty_id") or spec.parameters.get("report_id")
        for moment in expected_runs(spec, lo, hi):
            out.append((moment, FLOW_ORDER[flow], index, ScheduledRun(moment.astimezone(zone), spec.name, flow, item)))
    out.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in out]


# --- approvals ----------------------------------------------------------------------------------


class ApprovalEntry(BaseModel):
    """One decision on a report's draft, as the coordinator would give it in the Prefect form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report: str = Field(description="Mã báo cáo (mục reports của kế hoạch).")
    period: str = Field(description="Kỳ báo cáo, ví dụ 2025-Q3.")
    decision: Literal["approve", "send_back"] = "approve"
    date: dt.date | None = Field(default=None, description="Ngày quyết định; để trống: ngay khi có dự thảo.")
    number: str = ""
    signer: str = ""
    note: str = ""
    by: str = "cchc replay"
    # Signing required (the default): the signed report went out through e-office with this number, on this
    # day (default: the day of approval); without it the report waits for its signature.
    eoffice: str = Field(default="", description="Số văn bản đã gửi qua e-office sau khi ký, ví dụ 123/BC-UBND.")
    sent: dt.date | None = Field(default=None, description="Ngày gửi qua e-office; để trống: ngày duyệt.")


def load_approvals(path: Path, plan: Plan) -> list[ApprovalEntry]:
    """Read and check an approvals file (a YAML list); every error names the file, the line and what to do."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise service.UserError(f"{path}: không đọc được tệp quyết định duyệt: {e.strerror or e}") from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise service.UserError(f"{where}: không đọc được YAML: {getattr(e, 'problem', None) or e}") from None
    if data is None:
        return []
    if not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
        raise service.UserError(
            f"{path}:1: tệp quyết định duyệt phải là một danh sách, mỗi mục dạng "
            "{report: bao-cao-quy, period: 2025-Q3, decision: approve, number: 12/BC-UBND, date: 2025-10-02}"
        )
    out = []
    for i, (raw, node) in enumerate(zip(data, root.value, strict=True)):
        where = f"{path}:{node.start_mark.line + 1}"
        try:
            entry = ApprovalEntry.model_validate(raw)
        except ValidationError as e:
            first = e.errors(include_url=False)[0]
            name = ".".join(str(p) for p in first["loc"]) or "mục"
            raise service.UserError(f"{where}: mục {i + 1}, trường '{name}': {first['msg']}") from None
        try:
            workflow.target(plan, entry.report, entry.period, dt.datetime.min.replace(tzinfo=dt.UTC))
        except service.UserError as e:
            raise service.UserError(f"{where}: mục {i + 1}: {e}") from None
        if entry.decision == "approve" and not entry.number.strip():
            raise service.UserError(f"{where}: mục {i + 1}: duyệt báo cáo cần số văn bản (number: 12/BC-UBND)")
        out.append(entry)
    return out


# --- what replay reports ------------------------------------------------------------------------


@dataclass
class Change:
    at: dt.datetime
    item: str
    period: str
    before: str | None
    after: str

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "item": self.item,
            "period": self.period,
            "from": self.before,
            "to": self.after,
        }


@dataclass
class Mail:
    at: dt.datetime
    key: str
    outcome: str  # sent | skipped | retrying | failed
    to: str
    subject: str
    detail: str = ""
    step: str = ""
    unit: str | None = None
    item: str | None = None
    period: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "key": self.key,
            "outcome": self.outcome,
            "step": self.step,
            "unit": self.unit,
            "item": self.item,
            "period": self.period,
            "to": self.to,
            "subject": self.subject,
            "detail": self.detail,
        }


@dataclass
class ReportEvent:
    at: dt.datetime
    report: str
    period: str
    what: str  # Vietnamese, for people

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "report": self.report, "period": self.period, "what": self.what}


@dataclass
class ReplayResult:
    plan: Plan
    start: dt.date
    end: dt.date
    store: str  # "scratch" or the store's address without its password
    send: bool
    transport: str
    scheduled: Counter[str] = field(default_factory=Counter)
    executed: Counter[str] = field(default_factory=Counter)
    changes: list[Change] = field(default_factory=list)
    mails: list[Mail] = field(default_factory=list)
    reports: list[ReportEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    final: list[repo.Judged] = field(default_factory=list)
    seconds: float = 0.0

    def days(self) -> list[tuple[dt.date, list[Change], list[ReportEvent], list[Mail]]]:
        """The log, one entry per day on which something happened."""
        tz = self.plan.timezone
        days: dict[dt.date, tuple[list[Change], list[ReportEvent], list[Mail]]] = {}
        for c in self.changes:
            days.setdefault(to_local(c.at, tz).date(), ([], [], []))[0].append(c)
        for r in self.reports:
            days.setdefault(to_local(r.at, tz).date(), ([], [], []))[1].append(r)
        for m in self.mails:
            days.setdefault(to_local(m.at, tz).date(), ([], [], []))[2].append(m)
        return [(d, *days[d]) for d in sorted(days)]

    def by_step(self) -> Counter[str]:
        return Counter(m.step for m in self.mails if m.outcome == "sent")

    def by_unit(self) -> Counter[str]:
        return Counter(unit_name(self.plan, m.unit) if m.unit else "-" for m in self.mails if m.outcome == "sent")

    def by_outcome(self) -> Counter[str]:
        return Counter(m.outcome for m in self.mails)

    def final_counts(self) -> Counter[str]:
        return Counter(j.status.value for j in self.final)

    def as_json(self) -> dict[str, Any]:
        tz = self.plan.timezone
        return {
            "plan": self.plan.id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "store": self.store,
            "mode": "send" if self.send else "dry-run",
            "transport": self.transport,
            "runs": {
                "scheduled": sum(self.scheduled.values()),
                "executed": sum(self.executed.values()),
                "scheduled_by_flow": dict(self.scheduled),
                "executed_by_flow": dict(self.executed),
            },
            "seconds": round(self.seconds, 3),
            "days": [
                {
                    "day": day.isoformat(),
                    "changes": [c.as_json() for c in changes],
                    "reports": [r.as_json() for r in reports],
                    "messages": [m.as_json() for m in mails],
                }
                for day, changes, reports, mails in self.days()
            ],
            "summary": {
                "messages": {
                    "total": len(self.mails),
                    "by_outcome": dict(self.by_outcome()),
                    "sent_by_step": dict(self.by_step()),
                    "sent_by_unit": dict(self.by_unit()),
                },
                "statuses": {
                    "counts": dict(self.final_counts()),
                    "occurrences": [
                        {
                            "item": j.occurrence.duty,
                            "title": duty_title(self.plan, j.occurrence.duty),
                            "period": j.occurrence.period,
                            "due": service.iso(service.due_display(j.occurrence)),
                            "status": j.status.value,
                            "status_vi": STATUS_VI[j.status],
                            "count": j.count,
                            "required": j.occurrence.required,
                        }
                        for j in self.final
                    ],
                },
            },
            "problems": self.problems,
            "local_time_zone": tz,
        }


# --- when a pass can change something -----------------------------------------------------------


def offline_sources(duty: Duty) -> bool:
    """Sources this machine can read without the network: every one on a loopback address."""
    if not duty.sources:
        return False
    for s in duty.sources:
        host = urlsplit(s.url).hostname or ""
        if host in LOOPBACK_NAMES:
            continue
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return False
        except ValueError:
            return False
    return True


class Events:
    """Moments at which an item's judgement, ladder or digest can change; a pass with none since its
    deployment's previous run has nothing to do."""

    def __init__(self, plan: Plan, occurrences: Sequence[Occurrence], evidence: Sequence[tuple[str, dt.date]]) -> None:
        self.plan = plan
        zone = ZoneInfo(plan.timezone)
        by_item: dict[str, set[dt.datetime]] = {}
        for o in occurrences:
            moments = by_item.setdefault(o.duty, set())
            moments.update({o.starts, o.due_soon_from, o.due, o.closes})
            ladder = escalation.ladder_for(plan, o.duty)
            late = dt.timedelta(days=ladder.stale_after_days)
            for step in ladder.ladder:
                m = escalation.step_moment(step, o, plan.timezone, plan.work_calendar)
                if m is not None:
                    moments.update({m, m + late + EPSILON})  # due, and no longer fresh just after its limit
        for item, day in evidence:
            by_item.setdefault(item, set()).add(dt.datetime(day.year, day.month, day.day, tzinfo=zone))
        self.by_item = {k: sorted(v) for k, v in by_item.items()}
        self.plan_wide: list[dt.datetime] = []  # the weekly digests, set by ``digests``

    def digests(self, lo: dt.datetime, hi: dt.datetime) -> None:
        zone = ZoneInfo(self.plan.timezone)
        late = dt.timedelta(days=escalation.ladder_for(self.plan, "").stale_after_days)
        day = lo.astimezone(zone).date() - dt.timedelta(days=7)
        day -= dt.timedelta(days=day.weekday())
        out = []
        while day <= hi.astimezone(zone).date():
            m = dt.datetime(day.year, day.month, day.day, escalation.SEND_HOUR, tzinfo=zone)
            out += [m, m + late + EPSILON]
            day += dt.timedelta(days=7)
        self.plan_wide = sorted(out)

    def add(self, item: str, moment: dt.datetime) -> None:
        bisect.insort(self.by_item.setdefault(item, []), moment)

    def between(self, items: Sequence[str], after: dt.datetime | None, until: dt.datetime) -> bool:
        """An event of these items in (after, until]."""
        return any(_within(self.by_item.get(i, []), after, until) for i in items)

    def digest_between(self, after: dt.datetime | None, until: dt.datetime) -> bool:
        return _within(self.plan_wide, after, until)


def _within(moments: list[dt.datetime], after: dt.datetime | None, until: dt.datetime) -> bool:
    i = 0 if after is None else bisect.bisect_right(moments, after)
    return i < len(moments) and moments[i] <= until


# --- the replay ---------------------------------------------------------------------------------


def scratch_settings(base: Settings, folder: Path) -> Settings:
    """The same settings over a store, file store and mail folder of their own under ``folder``."""
    return base.model_copy(update={"home": folder.resolve(), "database_url": None})


@contextmanager
def scratch_store(base: Settings) -> Iterator[Settings]:
    """A throwaway store (SQLite in a temporary folder), removed afterwards; the real one is never opened."""
    from cchc.store.db import dispose_all

    with tempfile.TemporaryDirectory(prefix="cchc-replay-") as folder:
        try:
            yield scratch_settings(base, Path(folder))
        finally:
            dispose_all()  # close the scratch engine before its file goes (engines reopen on demand)


class _Replay:
    def __init__(
        self,
        settings: Settings,
        plan: Plan,
        result: ReplayResult,
        transport: Transport,
        approvals: Sequence[ApprovalEntry],
        figures: bool = False,
    ) -> None:
        self.settings = settings
        self.figures = figures  # draw the heatmap into the drafts (a second or so each): only when asked
        self.plan = plan
        self.result = result
        self.transport = transport
        self.approvals = list(approvals)
        self.used: set[int] = set()
        self.eoffice: set[str] = set()  # "plan:report:period" delivered through e-office by this replay
        self.mail_pending = False  # a message waits for a retry: every pass runs from then on

    def note_changes(self, at: dt.datetime, changes: Sequence[tuple[repo.Judged, str | None]]) -> None:
        for j, before in changes:
            self.result.changes.append(Change(at, j.occurrence.duty, j.occurrence.period, before, j.status.value))

    def note_tick(self, at: dt.datetime, tick: TickResult, events: Events) -> None:
        for outcome, lines in (
            ("sent", tick.sent),
            ("skipped", tick.skipped),
            ("retrying", tick.retrying),
            ("failed", tick.failed),
        ):
            for line in lines:
                self.result.mails.append(Mail(at, line.key, outcome, line.to, line.subject, line.detail))
        if tick.retrying or tick.config_error:
            self.mail_pending = True
        self.result.problems += [p for p in tick.problems if p not in self.result.problems]
        for done in tick.reports:  # a delivered report became evidence: its items are judged anew from here
            _, item, period = done.split(":", 2)
            events.add(item, at + EPSILON)
            self.result.reports.append(ReportEvent(at, item, period, "đã gửi xong, ghi nhận là minh chứng"))

    async def duty_runs(self, m: dt.datetime, items: Sequence[str], events: Events) -> None:
        """The runs of these duties at one moment, as one: each is flows/common.py ``run_duty`` (collect,
        judge and record, the duty's mail); together they judge the plan once and send once."""
        plan = self.plan
        for item in items:
            try:
                duty = plan.duty(item)
            except KeyError:  # a unit's report duty has no sources
                continue
            if offline_sources(duty):
                collected = collectors.collect(self.settings, plan, duty.id, m, m)
                self.result.problems += [p for p in collected.problems if p not in self.result.problems]
                if collected.new:
                    events.add(duty.id, m)
        evaluation = service.evaluate_duties(self.settings, plan, items, m, m)
        self.note_changes(m, evaluation.changes)
        # As run_duty does: the mail pass plans from this evaluation instead of judging the plan again.
        tick = await arun_tick(self.settings, plan, m, m, list(items), self.transport, judged=evaluation.plan_judged)
        self.note_tick(m, tick, events)

    def _approval(self, report_id: str, period: str, today: dt.date) -> int | None:
        for i, a in enumerate(self.approvals):
            if i in self.used or a.report != report_id or a.period != period:
                continue
            return i if a.date is None or a.date <= today else None
        return None

    async def report_run(self, run: ScheduledRun, events: Events) -> None:
        assert run.item is not None
        m, plan, settings, report_id = run.moment, self.plan, self.settings, run.item
        log = self.result.reports
        tgt = workflow.target(plan, report_id, None, m)
        evaluation = service.evaluate_duty(settings, plan, report_id, m, m)
        self.note_changes(m, evaluation.changes)
        if served_by(plan, report_id, tgt.period) is not None:  # one document serves both: no draft of its own
            self.note_tick(m, await arun_tick(settings, plan, m, m, [report_id], self.transport), events)
            return
        today = to_local(m, plan.timezone).date()
        row = workflow.run_state(settings, plan, report_id, tgt.period)
        state = ReportState(row.state) if row else None
        decision = self._approval(report_id, tgt.period, today)
        # After a send-back the coordinator runs the report again with redraft (the flow's parameter).
        redraft = state == ReportState.sent_back and decision is not None
        if (today >= tgt.draft_day or redraft) and (state is None or state in DRAFTABLE):
            d = workflow.draft(settings, plan, tgt, m, m, redraft, figure=self.figures)
            state = d.state
            if d.new:
                log.append(
                    ReportEvent(m, report_id, tgt.period, f"lập dự thảo bản {d.version}, gửi cơ quan thường trực")
                )
            if workflow.approval_late(settings, plan, tgt, m, m):
                log.append(ReportEvent(m, report_id, tgt.period, "chưa duyệt sát hạn: báo lãnh đạo"))
        if state == ReportState.approved:
            self._delivered(tgt, m, workflow.deliver(settings, plan, tgt, m))
        if state == ReportState.signing:
            self._signed(tgt, m, today, events)
        tick = await arun_tick(settings, plan, m, m, [report_id], self.transport)
        self.note_tick(m, tick, events)
        if state == ReportState.drafted and decision is not None:
            a = self.approvals[decision]
            self.used.add(decision)
            current = workflow.run_state(settings, plan, report_id, tgt.period)
            choice = workflow.Decision(a.decision)
            decided = workflow.decide(
                settings, plan, tgt, choice, m, a.number, a.signer, a.note, a.by, current.version if current else None
            )
            what = f"duyệt, số {a.number.strip()}" if decided == ReportState.approved else "trả lại để sửa"
            log.append(ReportEvent(m, report_id, tgt.period, what + (f" ({a.note})" if a.note else "")))
            events.add(report_id, m)
            if decided == ReportState.approved:
                delivery = self._delivered(tgt, m, workflow.deliver(settings, plan, tgt, m))
                if delivery.state == ReportState.signing:
                    self._signed(tgt, m, today, events)
                tick = await arun_tick(settings, plan, m, m, [report_id], self.transport)
                self.note_tick(m, tick, events)
        key = f"{plan.id}:{report_id}:{tgt.period}"
        done = workflow.run_state(settings, plan, report_id, tgt.period)
        if key in tick.reports or (done is not None and done.state == ReportState.delivered and key in self.eoffice):
            self.eoffice.discard(key)  # delivered: the report's own occurrence is met
            again = service.evaluate_duty(settings, plan, report_id, m, m)
            self.note_changes(m, again.changes)

    def _delivered(self, tgt: workflow.Target, m: dt.datetime, delivery: workflow.Delivery) -> workflow.Delivery:
        self.result.problems += [p for p in delivery.problems if p not in self.result.problems]
        if delivery.state == ReportState.signing and delivery.pdf_sha256 is not None:
            what = "bản Word và PDF gửi đơn vị tổng hợp để trình ký; chờ ký"
            if not any(
                e.report == tgt.report.id and e.period == tgt.period and e.what == what for e in self.result.reports
            ):
                self.result.reports.append(ReportEvent(m, tgt.report.id, tgt.period, what))
        return delivery

    def _signed(self, tgt: workflow.Target, m: dt.datetime, today: dt.date, events: Events) -> None:
        """The decision's e-office record, once its day has come: the report is delivered (flows/report.py's
        'Đã ký và gửi' form, or `cchc report eoffice`)."""
        used = [self.approvals[i] for i in sorted(self.used)]
        entry = next((a for a in reversed(used) if a.report == tgt.report.id and a.period == tgt.period), None)
        if entry is None or not entry.eoffice.strip():
            return
        row = workflow.run_state(self.settings, self.plan, tgt.report.id, tgt.period)
        approved_on = to_local(row.decided_at, self.plan.timezone).date() if row and row.decided_at else today
        sent = entry.sent or approved_on
        if sent > today:
            return
        if workflow.sent_eoffice(self.settings, self.plan, tgt, entry.eoffice, sent.strftime("%d/%m/%Y"), entry.by, m):
            self.eoffice.add(f"{self.plan.id}:{tgt.report.id}:{tgt.period}")
            self.result.reports.append(
                ReportEvent(m, tgt.report.id, tgt.period, f"đã ký, gửi qua e-office số {entry.eoffice.strip()}")
            )
            events.add(tgt.report.id, m + EPSILON)

    async def mail_pass(self, run: ScheduledRun, events: Events) -> None:
        m = run.moment
        self.note_tick(m, await arun_tick(self.settings, self.plan, m, m, None, self.transport), events)


async def areplay(
    settings: Settings,
    plan: Plan,
    start: dt.date,
    end: dt.date,
    *,
    at_hour: int | None = None,
    approvals: Sequence[ApprovalEntry] = (),
    transport: Transport | None = None,
    send: bool = False,
    store_label: str = "scratch",
    every_pass: bool = False,
    figures: bool = False,
) -> ReplayResult:
    """Run every scheduled pass of ``plan`` in the days [start, end] on the store of ``settings``.

    ``figures``: the drafts carry the heatmap as the flows' drafts do (off by default: drawing it costs more
    than the rest of a half-year replay, and no judgement, message or state depends on it)."""
    if end < start:
        raise service.UserError(f"--to {end.isoformat()} is before --from {start.isoformat()}")
    if at_hour is not None and not 0 <= at_hour <= 23:
        raise service.UserError(f"--at-hour {at_hour}: give an hour from 0 to 23")
    began = time.perf_counter()
    transport = transport or DryRunTransport()
    result = ReplayResult(plan, start, end, store_label, send, transport.where)
    lo, hi = day_bounds(plan, start, end)
    engine = service.engine_for(settings)
    service.ensure_plan(engine, plan, lo)
    with session_scope(engine) as s:
        occurrences = repo.stored_occurrences(s, plan)
        evidence = [(e.duty_id, e.occurred_on) for e in repo.evidence_for(s, plan.id) if e.rejected_at is None]
    events = Events(plan, occurrences, evidence)
    events.digests(lo, hi)
    sourced = {d.id for d in plan.duties if offline_sources(d)}
    skipped_sources = [d.id for d in plan.duties if d.sources and d.id not in sourced]
    if skipped_sources:
        result.problems.append(
            "không thu thập từ nguồn cần mạng khi chạy lại (chỉ đọc nguồn trên máy này): " + ", ".join(skipped_sources)
        )
    replay = _Replay(settings, plan, result, transport, approvals, figures)
    items = [d.id for d in plan.duties] + [r.id for r in plan.reports]
    previous: dict[str, dt.datetime] = {}  # deployment -> its previous scheduled moment
    covered: dict[str, dt.datetime] = {}  # item -> the last moment a pass judged its ladder
    runs = scheduled_runs(plan, start, end, at_hour)
    for moment, group in itertools.groupby(runs, key=lambda r: r.moment):
        duties: list[str] = []
        for run in group:
            result.scheduled[run.flow] += 1
            before = previous.get(run.deployment)
            previous[run.deployment] = moment
            always = every_pass or before is None or replay.mail_pending
            if run.flow == "duty":
                assert run.item is not None
                # Its statuses are recorded by its own runs: run it when one of its moments passed since the last.
                if always or run.item in sourced or events.between([run.item], before, moment):
                    duties.append(run.item)
                continue
            if duties:  # the duties of this moment come first (FLOW_ORDER), as one pass
                result.executed["duty"] += len(duties)
                await replay.duty_runs(moment, duties, events)
                covered.update(dict.fromkeys(duties, moment))
                duties = []
            if run.flow == "report":  # few, and stateful (drafts, approvals): never elided
                assert run.item is not None
                result.executed["report"] += 1
                await replay.report_run(run, events)
                covered[run.item] = moment
                continue
            # The mail pass judges every item's ladder and the digest: run it when some item had a moment
            # since a pass last judged its ladder, or a digest fell due.
            assert before is not None or always
            if not (
                always
                or events.digest_between(before, moment)
                or any(events.between([i], covered.get(i, before), moment) for i in items)
            ):
                continue
            result.executed["mail"] += 1
            await replay.mail_pass(run, events)
            covered.update(dict.fromkeys(items, moment))
        if duties:
            result.executed["duty"] += len(duties)
            await replay.duty_runs(moment, duties, events)
            covered.update(dict.fromkeys(duties, moment))
    _describe_mail(settings, plan, result)
    final_at = hi - dt.timedelta(seconds=1)
    result.final = [
        j for j in service.judge_plan(settings, plan, final_at, final_at) if j.occurrence.starts <= final_at
    ]
    result.seconds = time.perf_counter() - began
    return result


def replay(settings: Settings, plan: Plan, start: dt.date, end: dt.date, **options: Any) -> ReplayResult:
    return run_sync(areplay(settings, plan, start, end, **options))


def _describe_mail(settings: Settings, plan: Plan, result: ReplayResult) -> None:
    """Step, unit, item and period of each message, from its outbox row (one query)."""
    keys = sorted({m.key for m in result.mails})
    if not keys:
        return
    with session_scope(service.engine_for(settings)) as s:
        rows = {
            r.key: (r.step, r.unit_id, r.duty_id, r.period, r.recipient, r.subject)
            for r in ob.rows(s, plan.id, keys=keys)
        }
    for m in result.mails:
        if m.key in rows:
            m.step, m.unit, m.item, m.period, to, subject = rows[m.key]
            m.to, m.subject = m.to or to, m.subject or subject

"""Tables of the store. Timestamps are timezone-aware UTC; naive ones are refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores UTC, returns aware UTC; a naive value is a bug at the boundary."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} refused: give it a time zone")
        utc = value.astimezone(dt.UTC)
        # SQLite keeps no offset: store naive UTC there, aware everywhere else.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        moment: dt.datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class PlanRow(Base):
    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    commune_code: Mapped[int] = mapped_column(Integer, index=True)
    commune_name: Mapped[str] = mapped_column(String(200))
    province: Mapped[str] = mapped_column(String(200))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    spec_sha256: Mapped[str] = mapped_column(String(64))
    spec_json: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DutyRow(Base):
    """Duties and reports of a plan (reports have kind 'report')."""

    __tablename__ = "duties"

    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True)
    duty_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    lead: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DutyEvidenceKind(Base):
    __tablename__ = "duty_evidence_kinds"

    plan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    duty_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)


class OccurrenceRow(Base):
    __tablename__ = "occurrences"
    __table_args__ = (UniqueConstraint("plan_id", "duty_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    duty_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))
    lead: Mapped[str] = mapped_column(String(64))
    starts: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    closes: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    due_soon_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    start_day: Mapped[dt.date] = mapped_column(Date)
    last_day: Mapped[dt.date] = mapped_column(Date)
    close_day: Mapped[dt.date] = mapped_column(Date)
    required: Mapped[int | None] = mapped_column(Integer, nullable=True)
    needed: Mapped[int] = mapped_column(Integer)
    in_force: Mapped[bool] = mapped_column(Boolean, server_default=true())
    co_leads: Mapped[str] = mapped_column(Text, server_default="")  # comma-separated unit ids
    # Last status recorded by a flow run, so that changes can be noticed.
    status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EvidenceRow(Base):
    __tablename__ = "evidence"
    __table_args__ = (
        UniqueConstraint("plan_id", "duty_id", "dedup_key"),
        Index("ix_evidence_plan_duty_day", "plan_id", "duty_id", "occurred_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(64))
    duty_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    file_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    file_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    unit_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    origin: Mapped[str] = mapped_column("source", String(20))  # cli, portal, form, feed, report
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    dedup_key: Mapped[str] = mapped_column(String(600))
    rejected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rejected_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class WaiverRow(Base):
    __tablename__ = "waivers"
    __table_args__ = (UniqueConstraint("plan_id", "duty_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(64))
    duty_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OutboxRow(Base):
    """One message to one recipient. The key makes every (occurrence, step, recipient) unique,
    so retries, overlapping runs and replays never queue the same message twice."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(400))
    plan_id: Mapped[str] = mapped_column(String(64), index=True)
    duty_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    period: Mapped[str | None] = mapped_column(String(32), nullable=True)
    step: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recipient: Mapped[str] = mapped_column(Text)  # every address of one unit or recipient, comma-separated
    cc: Mapped[str] = mapped_column(Text, default="")  # comma-separated addresses
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))  # queued | sending | sent | failed | skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    server_reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the pass holding the lease
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # JSON list of {"sha256", "name", "type"}: files from the content store sent with the message.
    attachments: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReportRunRow(Base):
    """Where one report of one period stands: drafted, sent back, approved, delivered.

    The approval lives here as well as in the paused Prefect run, so a crash after approval
    or a later run still delivers, and delivers once.
    """

    __tablename__ = "report_runs"
    __table_args__ = (UniqueConstraint("plan_id", "report_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(64), index=True)
    report_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))  # cchc.core.report_state.ReportState
    version: Mapped[int] = mapped_column(Integer, default=0)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    draft_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    drafted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)  # the moment judged
    # When the draft read the store: the final uses the same records, not ones recorded since.
    evidence_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signer_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    final_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Signing (0010): the PDF made for signing, the signed copy attached, or the e-office record.
    sign_pdf_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signed_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    signed_file_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    signed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    signed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_via: Mapped[str | None] = mapped_column(String(16), nullable=True)  # email | e-office
    sent_number: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the e-office document number
    sent_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class SourceCheckRow(Base):
    """The last reading of one automatic source: a failure is reported once, when it starts."""

    __tablename__ = "source_checks"
    __table_args__ = (UniqueConstraint("plan_id", "duty_id", "url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(64))
    duty_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2000))
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ok_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    items_seen: Mapped[int] = mapped_column(Integer, default=0)


class AuditRow(Base):
    """Every change a person makes to what counts: who, what, when, why."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))  # evidence.add | evidence.reject | occurrence.waive | report.*
    plan_id: Mapped[str] = mapped_column(String(64), index=True)
    duty_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    period: Mapped[str | None] = mapped_column(String(32), nullable=True)
    evidence_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class AssumptionDecisionRow(Base):
    """A coordinator's decision on an assumption of a plan's spec: confirmed as is, or changed."""

    __tablename__ = "assumption_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(64), index=True)
    item_id: Mapped[str] = mapped_column(String(64))  # duty or report id; "" for the plan's effective date
    aspect: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))  # confirm | change
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON of the changed rule


class PlanBeatRow(Base):
    """When a run of the plan last started (wall clock): the next run compares it with the schedule."""

    __tablename__ = "plan_beats"

    plan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RunGapRow(Base):
    """A stop of the plan's runs, found by the first run after it (see cchc.runs)."""

    __tablename__ = "run_gaps"
    __table_args__ = (UniqueConstraint("plan_id", "stopped_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(64))
    stopped_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the first scheduled run that did not come
    resumed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # when a run of the plan started again


class CoordinatorRow(Base):
    """A commune's coordinator, known by a signed sign-in link to the portal (cchc.core.coordinator_links).

    She acts only on her commune's plans (``plan_ids`` narrows it further when set); a revoked one's links
    are refused from that moment.
    """

    __tablename__ = "coordinators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    commune_code: Mapped[int] = mapped_column(Integer, index=True)
    plan_ids: Mapped[str] = mapped_column(Text, server_default="")  # comma-separated; empty: the whole commune
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class PlanSubmissionRow(Base):
    """A workbook a coordinator put in through the portal: a draft she has not sent yet, then pending until
    an operator accepts it (`cchc plan accept`, which alone writes plan_specs/) or rejects it."""

    __tablename__ = "plan_submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("coordinators.id"), index=True)
    commune_code: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    workbook: Mapped[bytes] = mapped_column(LargeBinary)
    workbook_sha256: Mapped[str] = mapped_column(String(64))
    plan_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # draft | pending | accepted | rejected
    errors: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list, when acceptance found any
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)

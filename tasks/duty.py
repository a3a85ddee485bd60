"""Steps of a duty run. Each calls one use case; the logic is tested in the core and the app layer.

Only the steps that reach outside (feed sources, mail, the UI's artifacts) are Prefect tasks, for their
retries and their own logs: each task costs a run a few API calls. Reading the plan, the run's beat,
the evaluation and the status events are plain calls that log to the flow run.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pendulum
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
from prefect.events import emit_event

from cchc.app import service
from cchc.app.mail_pass import run_tick
from cchc.core import views
from cchc.core.calendar import to_local
from cchc.core.evaluate import Status
from cchc.core.labels import MAIL_STATUS_VI
from cchc.core.spec import DutyKind, Plan, Report
from cchc.settings import Settings, get_settings
from cchc.store import outbox, repo
from cchc.store.db import session_scope

EVENT_OF_STATUS = {
    Status.met: "cchc.occurrence.met",
    Status.met_late: "cchc.occurrence.met",
    Status.overdue: "cchc.occurrence.overdue",
    Status.missed: "cchc.occurrence.missed",
}


def load_plan(plan_id: str) -> Plan:
    return service.resolve_plan(plan_id, get_settings())


def has_sources(plan: Plan, duty_id: str) -> bool:
    """Whether the duty has feed sources to read (a report or a duty without any has nothing to collect)."""
    item = plan.item(duty_id)
    return not isinstance(item, Report) and bool(item.sources)


# The steps' inputs (a plan, a judged plan) are large: no cache key is computed from them.
@task(name="thu thập minh chứng", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def collect_evidence(plan: Plan, duty_id: str, at: dt.datetime) -> int:
    """Automatic sources feed the store here; returns how many new items were recorded."""
    # Here, not at the top: only a duty with feed sources reads them (feedparser, selectolax; issue #18).
    from cchc.app import collect as collectors

    result = collectors.collect(get_settings(), plan, duty_id, at, pendulum.now("UTC"))
    logger = get_run_logger()
    for problem in result.problems:
        logger.warning("nguồn minh chứng: %s", problem)
    return result.new


def evaluate(plan: Plan, duty_id: str, at: dt.datetime, now: dt.datetime) -> service.DutyEvaluation:
    return service.evaluate_duty(get_settings(), plan, duty_id, at, now)


def emit_status_events(plan: Plan, changes: list[tuple[repo.Judged, str | None]]) -> int:
    sent = 0
    for j, previous in changes:
        name = EVENT_OF_STATUS.get(j.status)
        if name is None:
            continue
        o = j.occurrence
        emit_event(
            event=name,
            resource={
                "prefect.resource.id": f"cchc.occurrence.{o.plan}.{o.duty}.{o.period}",
                "prefect.resource.name": f"{views.duty_title(plan, o.duty)} — {o.period}",
            },
            related=[
                {"prefect.resource.id": f"cchc.duty.{o.plan}.{o.duty}", "prefect.resource.role": "duty"},
                {"prefect.resource.id": f"cchc.plan.{o.plan}", "prefect.resource.role": "plan"},
                {"prefect.resource.id": f"cchc.unit.{o.plan}.{o.lead}", "prefect.resource.role": "lead"},
            ],
            payload={
                "plan": o.plan,
                "duty": o.duty,
                "period": o.period,
                "status": j.status.value,
                "previous": previous or "",
                "count": j.count,
                "required": o.required,
                "due": service.iso(service.due_display(o)),
                "lead": o.lead,
            },
        )
        sent += 1
    return sent


def artifact_key(*parts: str) -> str:
    return "-".join(p.lower() for p in parts).replace("_", "-")


def note_run(plan: Plan, now: dt.datetime) -> dict[str, str] | None:
    """The run's beat (wall clock); a stop of the system since the previous run is recorded and logged once."""
    gap = service.note_run(get_settings(), plan, now)
    if gap is None:
        return None
    get_run_logger().warning(views.gap_notice(gap.stopped_from, gap.resumed_at, plan.timezone))
    return {"from": service.iso(gap.stopped_from), "to": service.iso(gap.resumed_at)}


def gap_notes(plan: Plan, at: dt.datetime) -> list[str]:
    """Stops found in the 14 days before the run's moment, as sentences for the coordinator."""
    gaps = service.recent_gaps(get_settings(), plan, at - service.GAPS_SHOWN)
    return [views.gap_notice(g.stopped_from, g.resumed_at, plan.timezone) for g in gaps]


def latest_artifacts(keys: list[str]) -> dict[str, tuple[Any, str | None]]:
    """The data and description of the newest version of each key, in one call (a missing key is absent)."""
    with get_client(sync_client=True) as client:
        found = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=keys))
        )
    return {a.key: (a.data, a.description) for a in found}


def unchanged(seen: dict[str, tuple[Any, str | None]], key: str, data: Any, description: str | None) -> bool:
    """A keyed artifact gets a new version on every write: skip the write when the newest says the same."""
    if key not in seen:
        return False
    old, old_description = seen[key]
    same_data = old == data or (not isinstance(data, str) and old == json.dumps(data))
    return same_data and (old_description or None) == (description or None)


@task(name="cập nhật bảng theo dõi")
def publish_artifacts(plan: Plan, duty_id: str, evaluation: service.DutyEvaluation, at: dt.datetime) -> None:
    logger = get_run_logger()
    # One line per period so far with its result: the run's log answers "where does this duty stand".
    for j in sorted(evaluation.duty_judged, key=lambda j: j.occurrence.starts):
        if j.occurrence.starts <= at:
            logger.info(views.period_line(j))
    notes = gap_notes(plan, at)
    status_key = artifact_key("plan", plan.id, "status")
    overdue_key = artifact_key("plan", plan.id, "overdue")
    table = views.status_table(plan, evaluation.plan_judged, at)
    table_description = views.status_description(plan, at, notes)
    overdue = views.overdue_markdown(plan, evaluation.plan_judged, at, notes)
    overdue_description = f"{views.commune_heading(plan)}: việc quá hạn theo đơn vị"
    progress: list[tuple[str, float, str]] = []
    item = plan.item(duty_id)
    if not isinstance(item, Report) and item.kind is DutyKind.quota:
        for j in views.current(evaluation.duty_judged, at):
            o = j.occurrence
            if o.required:
                progress.append(
                    (
                        artifact_key("quota", plan.id, duty_id, o.period),
                        min(100.0, 100.0 * j.count / o.required),
                        f"{item.title} — kỳ {o.period}: {j.count}/{o.required} minh chứng",
                    )
                )
    seen = latest_artifacts([status_key, overdue_key, *(k for k, _, _ in progress)])
    written = 0
    if not unchanged(seen, status_key, table, table_description):
        create_table_artifact(key=status_key, table=table, description=table_description)
        written += 1
    if not unchanged(seen, overdue_key, overdue, overdue_description):
        create_markdown_artifact(key=overdue_key, markdown=overdue, description=overdue_description)
        written += 1
    for key, value, description in progress:
        if not unchanged(seen, key, value, description):
            create_progress_artifact(progress=value, key=key, description=description)
            written += 1
    logger.info("bảng theo dõi: %d bảng cập nhật, %d không đổi", written, 2 + len(progress) - written)


@task(name="nhắc việc qua thư", retries=2, retry_delay_seconds=30, cache_policy=NO_CACHE)
def notify(
    plan: Plan,
    duty_ids: list[str] | None,
    at: dt.datetime,
    now: dt.datetime,
    judged: list[repo.Judged] | None = None,
) -> dict[str, Any]:
    """The same pass as `cchc tick`: queue due ladder steps, send this plan's queue (exactly once per key).

    ``judged``: the plan as this run has just judged it at ``at`` (not evaluated again); None judges here.
    """
    settings = get_settings()
    result = run_tick(settings, plan, at, now, duty_ids, judged=judged)
    if result.sent or result.failed or result.skipped:
        create_table_artifact(
            key=artifact_key("plan", plan.id, "mail"),
            table=_mail_table(settings, plan),
            description=f"{plan.commune_label}: thư nhắc việc gần đây (hàng đợi gửi thư)",
        )
    logger = get_run_logger()
    for problem in result.problems:
        logger.warning(problem)
    for line in result.failed:
        logger.error("thư không gửi được: %s → %s (%s)", line.key, line.to, line.detail)
    return {
        "sent": len(result.sent),
        "skipped": len(result.skipped),
        "retrying": len(result.retrying),
        "failed": len(result.failed),
        "reports": result.reports,
    }


def _mail_table(settings: Settings, plan: Plan, limit: int = 100) -> list[dict[str, str]]:
    """The plan's latest outbox rows, for the coordinator in the UI."""
    engine = service.engine_for(settings)
    with session_scope(engine) as s:
        latest = outbox.latest(s, plan.id, limit)
    return [
        views.md_cells(
            {
                "Thời điểm": views.fmt_day(to_local(r.due_at, plan.timezone).date()),
                "Bước": r.step,
                "Nhiệm vụ": views.duty_title(plan, r.duty_id) if r.duty_id else "",
                "Kỳ": r.period or "",
                "Người nhận": r.recipient or "-",
                "Tiêu đề": r.subject,
                "Trạng thái": MAIL_STATUS_VI.get(r.status, r.status),
                "Ghi chú": r.last_error or "",
            }
        )
        for r in latest
    ]

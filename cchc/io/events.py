"""Tell a running Prefect server that evidence arrived, so the duty's trigger re-runs it within seconds.

Used by the edges that run outside a flow (the CLI, the units' portal). Inside flows,
flows/events.py emits through Prefect's own client.

The coordinator sees the new count at once: the edge that recorded the evidence also publishes the plan's
status table (the same table the duty's run publishes, judged now, in one query) as the plan's status
artifact. The run the event triggers starts seconds later (a new process) and confirms it, or publishes
what it judged if that differs.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable

import httpx
from sqlalchemy.exc import SQLAlchemyError

from cchc.core import views
from cchc.core.deployments import EVIDENCE_EVENT
from cchc.core.spec import Plan
from cchc.settings import get_settings
from cchc.store import repo, runs
from cchc.store.db import get_engine, session_scope

GAPS_SHOWN = dt.timedelta(days=14)  # as the duty's run shows them (cchc.app.service.GAPS_SHOWN)


def post_evidence_event(
    plan: Plan, duty_id: str, rec: repo.Recorded, reason: str = "", publish: bool = True
) -> str | None:
    """Returns a warning for people when the server could not be told; None when told or nothing to tell.
    ``publish=False`` leaves the status table to the triggered run (bench/bench_up.py's baseline).

    Without PREFECT_API_URL there is nothing to tell; the next scheduled run sees the evidence.
    """
    api = get_settings().prefect_api_url
    if not api:
        return None
    event = {
        "id": str(uuid.uuid4()),
        "occurred": dt.datetime.now(dt.UTC).isoformat(),
        "event": EVIDENCE_EVENT,
        "resource": {"prefect.resource.id": f"cchc.duty.{plan.id}.{duty_id}"},
        "related": [{"prefect.resource.id": f"cchc.plan.{plan.id}", "prefect.resource.role": "plan"}],
        "payload": {
            "plan": plan.id,
            "duty": duty_id,
            "evidence_id": rec.id,
            "reason": reason or f"minh chứng mới #{rec.id}",
        },
    }
    try:
        httpx.post(f"{api.rstrip('/')}/events", json=[event], timeout=5.0).raise_for_status()
    except httpx.HTTPError as e:
        # The evidence is recorded either way; the schedule will pick it up.
        return f"could not notify Prefect at {api} ({e}); the next scheduled run will count it"
    if not publish:
        return None
    try:
        publish_status(plan, api, dt.datetime.now(dt.UTC))
    except (httpx.HTTPError, SQLAlchemyError) as e:
        return f"could not show the new status in Prefect at once ({e}); the duty's run will show it"
    return None


def publish_status_now(plan: Plan) -> str | None:
    """The plan's status table judged now, without an event; a warning for people when it could not be shown."""
    api = get_settings().prefect_api_url
    if not api:
        return None
    try:
        publish_status(plan, api, dt.datetime.now(dt.UTC))
    except (httpx.HTTPError, SQLAlchemyError) as e:
        return f"could not show the new status in Prefect at once ({e}); the duties' runs will show it"
    return None


def status_key(plan_id: str) -> str:
    """The plan's status artifact; the same key as tasks.duty.artifact_key("plan", plan_id, "status")."""
    return f"plan-{plan_id}-status".lower().replace("_", "-")


def publish_status(plan: Plan, api: str, now: dt.datetime) -> None:
    """The plan's status table as the duty's run would publish it at ``now`` (statuses are not recorded here:
    the run records them, and sends the events and mail a change brings)."""
    with session_scope(get_engine(get_settings().db_url)) as s:
        judged = repo.evaluate(s, now, [plan.id], plan.timezone)
        gaps = runs.gaps_since(s, plan.id, now - GAPS_SHOWN)
    notes = [views.gap_notice(g.stopped_from, g.resumed_at, plan.timezone) for g in gaps]
    artifact = {
        "key": status_key(plan.id),
        "type": "table",
        "description": views.status_description(plan, now, notes),
        "data": json.dumps(views.status_table(plan, judged, now)),
    }
    httpx.post(f"{api.rstrip('/')}/artifacts/", json=artifact, timeout=5.0).raise_for_status()


_sinks: list[Callable[[str], object]] = []


def add_warning_sink(sink: Callable[[str], object]) -> None:
    """Where a failure to tell Prefect is shown: the CLI prints it, the portal logs it."""
    if sink not in _sinks:
        _sinks.append(sink)


def evidence_listener(plan: Plan, duty_id: str, rec: repo.Recorded, reason: str = "") -> None:
    """Registered once per process (service.on_evidence_recorded de-duplicates), whoever imports it; it hears
    every change to what counts (recorded, rejected, waived, an assumption decided). A change to the whole plan
    (``duty_id`` "", its effective date) has no item's run to trigger: the status table is published at once,
    and each item's next run judges by it."""
    warning = post_evidence_event(plan, duty_id, rec, reason) if duty_id else publish_status_now(plan)
    if warning:
        for sink in list(_sinks):
            sink(warning)


# The report run's pauses (flows/report.py): its flow, the pause keys and the answers they wait for
# (ReportDecision with flows.report.Choice's values, SignedAndSent with SentVia's; the tests check they agree).
REPORT_FLOW = "cchc-report"
APPROVE_ANSWER, SEND_BACK_ANSWER = "Duyệt và gửi", "Trả lại để sửa"
ATTACHED_ANSWER = "Đính kèm bản đã ký"


def approval_keys(period: str, version: int) -> tuple[str, ...]:
    """flows/report.py pauses with key duyet-<period>-v<version>-<attempt> (v0: a run that did not draft)."""
    return f"duyet-{period.lower()}-v{version}-", f"duyet-{period.lower()}-v0-"


def signing_keys(period: str) -> tuple[str, ...]:
    """The second pause, for the signed copy or the e-office record: ky-<period>-<attempt>."""
    return (f"ky-{period.lower()}-",)


def resume_report_runs(
    plan_id: str, report_id: str, keys: tuple[str, ...], answer: dict[str, str]
) -> tuple[int, str | None]:
    """Resume every run of the report paused under one of ``keys`` with ``answer`` as its input: the run reads
    what is already stored (the first decision wins; the signed copy) and delivers at once.
    Returns how many were resumed, and a warning for people when Prefect could not be asked.
    Without PREFECT_API_URL there is no paused run to find."""
    api = get_settings().prefect_api_url
    if not api:
        return 0, None
    base = api.rstrip("/")
    query = {
        "flows": {"name": {"any_": [REPORT_FLOW]}},
        "flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}},
        "limit": 200,
    }
    resumed = 0
    try:
        found = httpx.post(f"{base}/flow_runs/filter", json=query, timeout=5.0)
        found.raise_for_status()
        for run in found.json():
            params = run.get("parameters") or {}
            details = (run.get("state") or {}).get("state_details") or {}
            if (params.get("plan_id"), params.get("report_id")) != (plan_id, report_id):
                continue
            if not str(details.get("pause_key") or "").startswith(keys):
                continue
            reply = httpx.post(f"{base}/flow_runs/{run['id']}/resume", json={"run_input": answer}, timeout=5.0)
            reply.raise_for_status()
            # REJECT/ABORT: it was resumed (or ended) meanwhile, or refused the answer; the stored decision stands.
            resumed += reply.json().get("status") == "ACCEPT"
    except (httpx.HTTPError, ValueError) as e:
        return resumed, f"could not resume the paused report run at {api} ({e}); the report's next run delivers"
    return resumed, None

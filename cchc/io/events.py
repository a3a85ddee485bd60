"""Tell a running Prefect server that evidence arrived, so the duty's trigger re-runs it within seconds.

Used by the edges that run outside a flow (the CLI, the units' portal). Inside flows,
flows/events.py emits through Prefect's own client.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import httpx

from cchc.core.deployments import EVIDENCE_EVENT
from cchc.core.spec import Plan
from cchc.settings import get_settings
from cchc.store import repo


def post_evidence_event(plan: Plan, duty_id: str, rec: repo.Recorded, reason: str = "") -> str | None:
    """Returns a warning for people when the server could not be told; None when told or nothing to tell.

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
    return None


_sinks: list[Callable[[str], object]] = []


def add_warning_sink(sink: Callable[[str], object]) -> None:
    """Where a failure to tell Prefect is shown: the CLI prints it, the portal logs it."""
    if sink not in _sinks:
        _sinks.append(sink)


def evidence_listener(plan: Plan, duty_id: str, rec: repo.Recorded) -> None:
    """Registered once per process (service.on_evidence_recorded de-duplicates), whoever imports it."""
    warning = post_evidence_event(plan, duty_id, rec)
    if warning:
        for sink in list(_sinks):
            sink(warning)

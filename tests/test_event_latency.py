"""Evidence recorded at an edge (CLI, portal) shows in Prefect at once (#18 item 5), on a real API server.

The edge posts the evidence event (the duty's trigger runs it) and publishes the plan's status table itself,
judged now with the same view the duty's run uses; the run confirms it seconds later. End to end through
`cchc up` (the runner polls every second) this is measured by bench/bench_up.py, and test_acceptance.py
sees the triggered run complete.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from cchc.app import service
from cchc.core import views
from cchc.core.deployments import EVIDENCE_EVENT
from cchc.io import events
from cchc.settings import Settings, get_settings
from cchc.store import repo
from cchc.store.db import session_scope
from tests.running import wait_for


def _latest_status(api: str, plan_id: str) -> list[dict[str, Any]]:
    body = {"artifacts": {"key": {"any_": [events.status_key(plan_id)]}}, "sort": "CREATED_DESC", "limit": 5}
    return list(httpx.post(f"{api}/artifacts/filter", json=body, timeout=10).json())


def _statuses(settings: Settings, plan_id: str) -> list[tuple[str, str, str | None]]:
    with session_scope(service.engine_for(settings)) as s:
        rows = s.execute(
            text("SELECT duty_id, period, status FROM occurrences WHERE plan_id = :p ORDER BY 1, 2"), {"p": plan_id}
        )
        return [(str(d), str(p), st) for d, p, st in rows]


def _api_env(monkeypatch: pytest.MonkeyPatch, api: str) -> Settings:
    monkeypatch.setenv("PREFECT_API_URL", api)
    get_settings.cache_clear()
    return get_settings()


@pytest.mark.usefixtures("prefect_harness")
def test_recording_evidence_publishes_the_new_status_at_once_and_the_event_for_the_run(
    demo_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.settings import PREFECT_API_URL

    api = str(PREFECT_API_URL.value()).rstrip("/")
    settings = _api_env(monkeypatch, api)
    plan = service.resolve_plan("demo", settings)
    # The demo plan has ended: its table shows each duty's last period (December 2025), where this post falls.
    item = service.EvidenceInput(
        duty="posts", kind="post", title="Tin số 1", occurred_on=dt.date(2025, 12, 10), url="https://x.example/1"
    )
    rec = service.record_evidence(settings, plan, item, dt.datetime.now(dt.UTC))
    before = {a["id"] for a in _latest_status(api, plan.id)}  # a listener another test registered may post too
    stored = _statuses(settings, plan.id)

    started = time.perf_counter()
    warning = events.post_evidence_event(plan, "posts", rec)
    took = time.perf_counter() - started
    assert warning is None
    fresh = [a for a in _latest_status(api, plan.id) if a["id"] not in before]
    assert fresh, "the status artifact was not published with the event"
    artifact = fresh[0]
    assert artifact["type"] == "table" and artifact["flow_run_id"] is None
    rows = json.loads(artifact["data"])
    # The same table the duty's run would publish at that moment (judged by the store, read-only here).
    moment = dt.datetime.fromisoformat(artifact["created"].replace("Z", "+00:00"))
    with session_scope(service.engine_for(settings)) as s:
        judged = repo.evaluate(s, moment, [plan.id], plan.timezone)
    assert rows == views.status_table(plan, judged, moment)
    assert next(r for r in rows if r["Mã"] == "posts")["Kết quả"] == "1/3"
    assert "Phủ Thông" in artifact["description"] or plan.title in artifact["description"]
    assert took < 3.0, f"the event and the table took {took:.2f} s"
    # Nothing recorded as a status: the run still finds each change itself, and sends its events and mail.
    assert _statuses(settings, plan.id) == stored

    # The event the duty's trigger matches went out too.
    def event_seen() -> bool:
        found = httpx.post(
            f"{api}/events/filter",
            json={"filter": {"event": {"name": [EVIDENCE_EVENT]}, "resource": {"id": [f"cchc.duty.{plan.id}.posts"]}}},
            timeout=10,
        ).json()
        return any(e["payload"].get("evidence_id") == rec.id for e in found["events"])

    wait_for("the evidence event on the server", event_seen, 30)


def test_an_unreachable_server_leaves_the_evidence_recorded_with_a_warning(
    demo_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _api_env(monkeypatch, "http://127.0.0.1:9/api")  # the discard port: nothing listens
    plan = service.resolve_plan("demo", settings)
    item = service.EvidenceInput(
        duty="posts", kind="post", title="Tin", occurred_on=dt.date(2025, 12, 10), url="https://x.example/2"
    )
    rec = service.record_evidence(settings, plan, item, dt.datetime.now(dt.UTC))
    warning = events.post_evidence_event(plan, "posts", rec)
    assert warning and "could not notify Prefect" in warning
    with session_scope(service.engine_for(settings)) as s:
        assert rec.id in {e.id for e in repo.evidence_for(s, plan.id, "posts")}

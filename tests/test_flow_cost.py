"""What a duty run no longer does twice (#18 item 4): judge the plan, parse its spec, expand its schedules.

Each saving keeps the behaviour: the mail pass planned from the run's own evaluation queues exactly what a
pass judging the plan itself queues; a spec whose bytes change is read again; a stop is still found.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from cchc.app import service
from cchc.app.mail_pass import run_tick
from cchc.core import assumptions
from cchc.core.runs import find_gap
from cchc.settings import Settings
from cchc.store import outbox as ob
from cchc.store import repo
from cchc.store.db import dispose_all, session_scope
from tests.conftest import PLAN_DIR

TZ = "Asia/Ho_Chi_Minh"


def vn(*args: int) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz=TZ)


def _counting(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[int]:
    """Count the calls of ``owner.name`` (the real function still runs)."""
    real: Callable[..., Any] = getattr(owner, name)
    calls: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def _outbox(settings: Settings, plan_id: str) -> list[tuple[str, str, str, str]]:
    with session_scope(service.engine_for(settings)) as s:
        return sorted((r.key, r.status, r.recipient, r.subject) for r in ob.rows(s, plan_id=plan_id))


def test_the_mail_pass_planned_from_the_runs_evaluation_queues_what_a_pass_judging_itself_queues(
    tmp_path: Path,
) -> None:
    """Phủ Thông's duties over two weeks of October, each day, in two stores: one pass per duty run that
    reuses the run's evaluation, one that judges the plan again as before. Same outbox, row for row."""
    reused = Settings(home=tmp_path / "reused", plan_dir=PLAN_DIR)
    judged_again = Settings(home=tmp_path / "again", plan_dir=PLAN_DIR)
    plan = service.resolve_plan("phu-thong-2025", reused)
    duties = [d.id for d in plan.duties[:6]]
    try:
        for day in range(6, 21):
            at = vn(2025, 10, day, 8)
            now = at.in_timezone("UTC")
            for duty in duties:
                a = service.evaluate_duty(reused, plan, duty, at, now)
                run_tick(reused, plan, at, now, [duty], judged=a.plan_judged)
                service.evaluate_duty(judged_again, plan, duty, at, now)
                run_tick(judged_again, plan, at, now, [duty])
        got = _outbox(reused, plan.id)
        assert got, "the fortnight queues reminders: the comparison is not empty"
        assert got == _outbox(judged_again, plan.id)
    finally:
        dispose_all()


def test_a_spec_is_parsed_again_exactly_when_its_bytes_change(cchc_env: Settings, tmp_path: Path) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    spec = plans / "demo.yaml"
    shutil.copyfile(PLAN_DIR.parent / "tests" / "fixtures" / "demo.yaml", spec)
    settings = Settings(home=cchc_env.home, plan_dir=plans)
    first = service.resolve_plan("demo", settings)
    assert service.resolve_plan("demo", settings) is first  # unchanged: not parsed again
    # Same size, same modification time, one word changed: a cache keyed on mtime would miss it.
    stat = spec.stat()
    text = spec.read_text(encoding="utf-8")
    assert "title: Đăng tin" in text
    spec.write_text(text.replace("title: Đăng tin", "title: Viết tin"), encoding="utf-8")
    os.utime(spec, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert spec.stat().st_size == stat.st_size and spec.stat().st_mtime_ns == stat.st_mtime_ns
    changed = service.resolve_plan("demo", settings)
    assert changed is not first
    assert changed.duty("posts").title == "Viết tin"
    # A spec that no longer validates is reported, not served from the cache.
    spec.write_text(text.replace("kind: quota", "kind: quotaa"), encoding="utf-8")
    with pytest.raises(service.SpecError) as e:
        service.resolve_plan("demo", settings)
    assert "demo.yaml" in str(e.value.issues[0].file)
    dispose_all()


def test_the_coordinators_decisions_apply_once_and_again_when_another_is_recorded(cchc_env: Settings) -> None:
    plan = service.resolve_plan("phu-thai-2025h2", cchc_env)
    open_items = [(i.id, a) for i in [*plan.duties, *plan.reports] for a in assumptions.unconfirmed(plan, i.id)]
    assert len(open_items) >= 2, "Phú Thái rests on assumptions (the commune's report date among them)"
    (item, aspect), (item2, aspect2) = open_items[:2]
    now = vn(2025, 9, 1, 9)
    service.decide_assumption(cchc_env, plan, item, aspect, "confirm", "Sở Nội vụ xác nhận", "vhxh", now)
    decided = service.resolve_plan("phu-thai-2025h2", cchc_env)
    assert aspect not in assumptions.unconfirmed(decided, item)
    assert service.resolve_plan("phu-thai-2025h2", cchc_env) is decided  # same decisions: applied once
    service.decide_assumption(cchc_env, decided, item2, aspect2, "confirm", "đúng quy định", "vhxh", now)
    again = service.resolve_plan("phu-thai-2025h2", cchc_env)
    assert again is not decided
    assert aspect2 not in assumptions.unconfirmed(again, item2)
    assert aspect not in assumptions.unconfirmed(again, item)


def test_the_schedules_are_expanded_only_when_the_previous_beat_is_older_than_the_grace(
    cchc_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = service.resolve_plan("phu-thai-2025h2", cchc_env)
    expanded = _counting(monkeypatch, service, "plan_deployments")
    assert service.note_run(cchc_env, plan, vn(2025, 11, 2, 8, 0, 4)) is None  # the first run ever
    assert service.note_run(cchc_env, plan, vn(2025, 11, 2, 8, 20)) is None  # 20 minutes later
    assert expanded == []
    gap = service.note_run(cchc_env, plan, vn(2025, 11, 5, 10, 12))  # three silent days
    assert gap is not None and gap.stopped_from.date().isoformat() == "2025-11-03"
    assert gap == find_gap(plan, vn(2025, 11, 2, 8, 20), vn(2025, 11, 5, 10, 12))  # the rule itself
    assert len(expanded) == 1
    assert service.note_run(cchc_env, plan, vn(2025, 11, 5, 10, 30)) is None  # the next run, on time
    assert len(expanded) == 1


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
async def test_a_duty_run_judges_the_plan_once_and_runs_tasks_only_for_mail_and_artifacts(
    demo_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.quota import quota_duty

    judged = _counting(monkeypatch, repo, "evaluate")
    state = await quota_duty(plan_id="demo", duty_id="posts", at=vn(2025, 10, 21, 8), return_state=True)
    result = await state.result()  # type: ignore[union-attr]
    assert result["statuses"]["2025-10"] == "open"
    assert len(judged) == 1, "the mail pass reuses the run's evaluation"
    flow_run_id = state.state_details.flow_run_id
    async with get_client() as client:
        deadline = time.monotonic() + 30
        while True:  # task runs reach the API as events, a moment after the flow returns
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            names = sorted(r.name.rsplit("-", 1)[0] for r in runs)
            if len(names) >= 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    # The demo duty has no feed source: no collection task; reading the plan, the beat, the evaluation
    # and the events are plain calls in the flow.
    assert names == ["cập nhật bảng theo dõi", "nhắc việc qua thư"]
    assert all(r.state is not None and r.state.is_completed() for r in runs)

"""Stops of the system: found from the run beats and the real schedules, recorded once, told to the coordinator."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from typing import TypeVar

import pendulum
import pytest
from sqlalchemy import func, select

from cchc.app import service
from cchc.app.mail_pass import run_tick
from cchc.core import views
from cchc.core.loader import load_plan
from cchc.core.runs import Gap, find_gap
from cchc.settings import Settings, get_settings
from cchc.store import outbox as ob
from cchc.store import runs as run_store
from cchc.store.db import get_engine, session_scope
from cchc.store.models import OutboxRow, PlanBeatRow, RunGapRow
from tests.conftest import PLAN_DIR

TZ = "Asia/Ho_Chi_Minh"
PHU_THAI = load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")  # daily duties to 21/01/2026, mail on working days to 20/02
T = TypeVar("T")


def vn(y: int, m: int, d: int, h: int, mi: int = 0, s: int = 0) -> pendulum.DateTime:
    return pendulum.datetime(y, m, d, h, mi, s, tz=TZ)


# --- the rule --------------------------------------------------------------------------------------


def test_the_first_run_ever_finds_no_stop() -> None:
    assert find_gap(PHU_THAI, None, vn(2025, 11, 5, 10, 12)) is None


def test_runs_that_came_on_time_or_a_little_late_are_no_stop() -> None:
    # Tuesday's last mail run at 17:05, Wednesday's duty runs at 08:00, its mail run at 08:05.
    assert find_gap(PHU_THAI, vn(2025, 10, 14, 17, 5, 4), vn(2025, 10, 15, 8, 0, 2)) is None
    assert find_gap(PHU_THAI, vn(2025, 10, 15, 8, 0, 2), vn(2025, 10, 15, 8, 5, 3)) is None
    # The 08:00 runs started 25 minutes late (a busy runner): within the grace.
    assert find_gap(PHU_THAI, vn(2025, 10, 14, 17, 5, 4), vn(2025, 10, 15, 8, 25)) is None
    # A run that reached the beat after a later-started one: the beat is ahead of it.
    assert find_gap(PHU_THAI, vn(2025, 10, 15, 8, 0, 3), vn(2025, 10, 15, 8, 0, 1)) is None


def test_three_days_without_runs_are_a_stop_from_the_first_run_that_did_not_come() -> None:
    # Last run Sunday 08:00 (the daily duties); nothing until Wednesday 10:12.
    gap = find_gap(PHU_THAI, vn(2025, 11, 2, 8, 0, 4), vn(2025, 11, 5, 10, 12))
    assert gap == Gap(vn(2025, 11, 3, 8), vn(2025, 11, 5, 10, 12))
    assert gap.length == dt.timedelta(days=2, hours=2, minutes=12)


def test_a_weekend_is_a_stop_only_when_runs_were_expected_in_it() -> None:
    friday_evening, monday = vn(2025, 10, 10, 17, 5, 4), vn(2025, 10, 13, 8, 0, 3)
    # During the plan the duties run every day, Saturday included.
    assert find_gap(PHU_THAI, friday_evening, monday) == Gap(vn(2025, 10, 11, 8), monday)
    # After 21/01/2026 only the mail runs are left, Monday to Friday: the weekend expects none.
    assert find_gap(PHU_THAI, vn(2026, 1, 30, 17, 5, 3), vn(2026, 2, 2, 8, 5, 4)) is None
    # ...but a Monday without runs is a stop from its first mail run.
    assert find_gap(PHU_THAI, vn(2026, 1, 30, 17, 5, 3), vn(2026, 2, 3, 8, 5, 4)) == Gap(
        vn(2026, 2, 2, 8, 5), vn(2026, 2, 3, 8, 5, 4)
    )


def test_after_the_plan_has_ended_nothing_is_expected_so_nothing_stops() -> None:
    assert find_gap(PHU_THAI, vn(2026, 3, 1, 8), vn(2026, 11, 30, 8)) is None


# --- the words -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "words"),
    [
        (dt.timedelta(days=2, hours=2, minutes=12), "2 ngày 2 giờ"),
        (dt.timedelta(days=3, minutes=40), "3 ngày"),
        (dt.timedelta(hours=3, minutes=20, seconds=59), "3 giờ 20 phút"),
        (dt.timedelta(hours=1), "1 giờ"),
        (dt.timedelta(minutes=45, seconds=30), "45 phút"),
        (dt.timedelta(seconds=20), "dưới 1 phút"),
    ],
)
def test_durations_read_in_vietnamese(length: dt.timedelta, words: str) -> None:
    assert views.fmt_duration(length) == words


NOTICE = (
    "Lưu ý: hệ thống đã ngừng chạy từ 08:00 ngày 03/11/2026 đến 10:12 ngày 05/11/2026 (2 ngày 2 giờ); "
    "các lần chạy theo lịch trong thời gian đó không diễn ra đúng giờ."
)


def test_a_stop_is_told_in_local_time_whatever_zone_it_was_stored_in() -> None:
    stopped, resumed = vn(2026, 11, 3, 8), vn(2026, 11, 5, 10, 12)
    assert views.gap_notice(stopped, resumed, TZ) == NOTICE
    assert views.gap_notice(stopped.in_timezone("UTC"), resumed.in_timezone("UTC"), TZ) == NOTICE


def test_the_overdue_summary_and_the_table_description_open_with_the_stop() -> None:
    at = vn(2025, 10, 14, 8)
    md = views.overdue_markdown(PHU_THAI, [], at, [NOTICE])
    assert md.splitlines()[:4] == [
        "# Xã Phú Thái: việc quá hạn tính đến ngày 14/10/2025 (giờ Việt Nam, UTC+7)",
        "",
        NOTICE,
        "",
    ]
    assert views.status_description(PHU_THAI, at, [NOTICE]).endswith(
        "tính đến ngày 14/10/2025 (giờ Việt Nam, UTC+7)\n\n" + NOTICE
    )
    assert NOTICE not in views.overdue_markdown(PHU_THAI, [], at)


# --- the store -------------------------------------------------------------------------------------


def test_the_beat_returns_the_previous_start_and_only_moves_forward(cchc_env: Settings) -> None:
    engine = get_engine(cchc_env.db_url)
    first, second = vn(2025, 10, 14, 8, 0, 2), vn(2025, 10, 14, 8, 5, 1)
    with session_scope(engine) as s:
        assert run_store.record_beat(s, "p", first) is None
    with session_scope(engine) as s:
        assert run_store.record_beat(s, "p", second) == first
    with session_scope(engine) as s:
        assert run_store.record_beat(s, "p", first) == second  # a run that started earlier but came later
        assert run_store.record_beat(s, "other", first) is None
    with session_scope(engine) as s:
        assert s.scalar(select(PlanBeatRow.last_run_at).where(PlanBeatRow.plan_id == "p")) == second


def test_a_stop_is_recorded_once_and_read_back_by_when_it_ended(cchc_env: Settings) -> None:
    engine = get_engine(cchc_env.db_url)
    with session_scope(engine) as s:
        assert run_store.add_gap(s, "p", vn(2025, 10, 11, 8), vn(2025, 10, 13, 10, 12))
        assert not run_store.add_gap(s, "p", vn(2025, 10, 11, 8), vn(2025, 10, 13, 10, 13))
        assert run_store.add_gap(s, "p", vn(2025, 9, 1, 8), vn(2025, 9, 2, 8))
        assert run_store.add_gap(s, "q", vn(2025, 10, 11, 8), vn(2025, 10, 13, 10, 12))
    with session_scope(engine) as s:
        got = run_store.gaps_since(s, "p", vn(2025, 10, 1, 0))
    assert got == [Gap(vn(2025, 10, 11, 8), vn(2025, 10, 13, 10, 12))]
    assert got[0].stopped_from.tzinfo is not None


def test_note_run_records_the_beat_and_a_stop_once(cchc_env: Settings) -> None:
    assert service.note_run(cchc_env, PHU_THAI, vn(2025, 11, 2, 8, 0, 4)) is None  # first run
    gap = service.note_run(cchc_env, PHU_THAI, vn(2025, 11, 5, 10, 12))
    assert gap == Gap(vn(2025, 11, 3, 8), vn(2025, 11, 5, 10, 12))
    assert service.note_run(cchc_env, PHU_THAI, vn(2025, 11, 5, 10, 12, 30)) is None
    assert service.recent_gaps(cchc_env, PHU_THAI, vn(2025, 11, 1, 0)) == [gap]


def _at_once(n: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work`` in n threads released together; results in thread order."""
    barrier = threading.Barrier(n)
    out: list[T | None] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            out[i] = work(i)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return out  # type: ignore[return-value]


def _concurrent_beats(url: str) -> None:
    engine = get_engine(url)
    starts = [vn(2025, 11, 5, 8, 0, 1) + dt.timedelta(milliseconds=i) for i in range(8)]

    def beat(i: int) -> dt.datetime | None:
        with session_scope(engine) as s:
            return run_store.record_beat(s, "p", starts[i])

    first = _at_once(8, beat)
    assert first.count(None) == 1, "exactly one run is the first ever"
    later = [vn(2025, 11, 6, 8, 0, 1) + dt.timedelta(milliseconds=i) for i in range(8)]
    starts[:] = later
    second = _at_once(8, beat)
    seen = [p for p in second if p is not None and p < later[0]]
    assert len(seen) == 1, f"exactly one run sees yesterday's beat: {second}"
    with session_scope(engine) as s:
        assert s.scalar(select(PlanBeatRow.last_run_at).where(PlanBeatRow.plan_id == "p")) == max(later)


def test_runs_starting_together_read_the_previous_beat_once(cchc_env: Settings) -> None:
    _concurrent_beats(cchc_env.db_url)


def test_runs_resuming_together_record_one_stop(cchc_env: Settings) -> None:
    service.note_run(cchc_env, PHU_THAI, vn(2025, 11, 2, 8, 0, 4))
    # Every duty of the plan starts at 08:00 on Wednesday, after three silent days.
    found = _at_once(8, lambda i: service.note_run(cchc_env, PHU_THAI, vn(2025, 11, 5, 8, 0, 1 + i)))
    assert len([g for g in found if g is not None]) == 1
    with session_scope(get_engine(cchc_env.db_url)) as s:
        assert s.scalar(select(func.count()).select_from(RunGapRow)) == 1
        assert s.scalar(select(RunGapRow.stopped_from)) == vn(2025, 11, 3, 8)


# --- the weekly digest -----------------------------------------------------------------------------


def _digests(settings: Settings) -> dict[str, OutboxRow]:
    with session_scope(service.engine_for(settings)) as s:
        return {r.period or "": r for r in ob.rows(s, plan_id="demo", steps=["digest"])}


def test_the_weekly_digest_tells_the_stops_found_since_the_previous_digest(demo_env: Settings) -> None:
    plan = service.resolve_plan("demo", demo_env)
    service.note_run(demo_env, plan, vn(2025, 10, 10, 17, 5, 4))  # Friday's last mail run
    first = service.note_run(demo_env, plan, vn(2025, 10, 13, 10, 12))  # back on Monday morning
    assert first == Gap(vn(2025, 10, 11, 8), vn(2025, 10, 13, 10, 12))
    run_tick(demo_env, plan, vn(2025, 10, 13, 10, 12, 30), vn(2025, 10, 13, 10, 12, 30))
    told = views.gap_notice(first.stopped_from, first.resumed_at, TZ)
    assert told == (
        "Lưu ý: hệ thống đã ngừng chạy từ 08:00 ngày 11/10/2025 đến 10:12 ngày 13/10/2025 (2 ngày 2 giờ); "
        "các lần chạy theo lịch trong thời gian đó không diễn ra đúng giờ."
    )
    week42 = _digests(demo_env)["2025-W42"]
    assert week42.body_text.startswith(f"Kính gửi Phòng Văn hóa - Xã hội,\n\n{told}\n\nTình hình thực hiện")
    assert f"<p><strong>{told}</strong></p>" in week42.body_html

    second = service.note_run(demo_env, plan, vn(2025, 10, 15, 9, 5, 2))  # silent from Monday 11:05
    assert second == Gap(vn(2025, 10, 13, 11, 5), vn(2025, 10, 15, 9, 5, 2))
    run_tick(demo_env, plan, vn(2025, 10, 20, 8, 5), vn(2025, 10, 20, 8, 5, 30))
    week43 = _digests(demo_env)["2025-W43"]
    assert views.gap_notice(second.stopped_from, second.resumed_at, TZ) in week43.body_text
    assert told not in week43.body_text, "a stop is told in one digest, not again the week after"

    run_tick(demo_env, plan, vn(2025, 10, 27, 8, 5), vn(2025, 10, 27, 8, 5, 30))
    week44 = _digests(demo_env)["2025-W44"]
    assert "Lưu ý" not in week44.body_text and "Lưu ý" not in week44.body_html


# --- the status artifacts (Prefect test harness) ---------------------------------------------------


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
async def test_the_status_artifacts_open_with_a_recent_stop_and_every_run_beats(demo_env: Settings) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.objects import Artifact
    from prefect.client.schemas.sorting import ArtifactSort

    from flows.mail import plan_mail
    from flows.quota import quota_duty

    plan = service.resolve_plan("demo", demo_env)
    service.note_run(demo_env, plan, vn(2025, 10, 10, 17, 5, 4))
    gap = service.note_run(demo_env, plan, vn(2025, 10, 13, 10, 12))
    assert gap is not None
    engine = get_engine(demo_env.db_url)
    before = pendulum.now("UTC")
    with session_scope(engine) as s:  # the runs below start now: no stop since this beat
        run_store.record_beat(s, "demo", before)

    result = await quota_duty(plan_id="demo", duty_id="posts", at=vn(2025, 10, 14, 8))
    assert result["gap"] is None
    with session_scope(engine) as s:
        after_duty = s.scalar(select(PlanBeatRow.last_run_at).where(PlanBeatRow.plan_id == "demo"))
    assert after_duty is not None and after_duty > before, "a duty run records its beat"

    told = views.gap_notice(gap.stopped_from, gap.resumed_at, TZ)
    async with get_client() as client:

        async def newest(key: str) -> Artifact:
            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC
            )
            assert arts, key
            return arts[0]

        table = await newest("plan-demo-status")
        assert (
            table.description
            == f"{plan.title}: kỳ hiện tại của mọi nhiệm vụ, tính đến ngày 14/10/2025 (giờ Việt Nam, UTC+7)\n\n{told}"
        )
        rows: list[dict[str, str]] = json.loads(table.data) if isinstance(table.data, str) else table.data  # type: ignore[assignment]
        assert any(r["Mã"] == "posts" for r in rows)
        md = await newest("plan-demo-overdue")
        assert str(md.data).split("\n\n")[1] == told

    # Fourteen days on, the stop is no longer news.
    await quota_duty(plan_id="demo", duty_id="posts", at=vn(2025, 10, 28, 8))
    async with get_client() as client:
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["plan-demo-overdue"])),
            sort=ArtifactSort.CREATED_DESC,
        )
        assert "Lưu ý" not in str(arts[0].data)

    mail = await plan_mail(plan_id="demo", at=vn(2025, 10, 14, 9, 5))
    assert mail["gap"] is None
    with session_scope(engine) as s:
        after_mail = s.scalar(select(PlanBeatRow.last_run_at).where(PlanBeatRow.plan_id == "demo"))
    assert after_mail is not None and after_mail > after_duty, "the mail run records its beat too"


# --- PostgreSQL ------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_runs_starting_together_read_the_previous_beat_once_on_postgresql(pg_url: str) -> None:
    _concurrent_beats(pg_url)


@pytest.mark.postgres
def test_runs_resuming_together_record_one_stop_on_postgresql(
    cchc_env: Settings, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCHC_DATABASE_URL", pg_url)
    get_settings.cache_clear()
    settings = get_settings()
    service.note_run(settings, PHU_THAI, vn(2025, 11, 2, 8, 0, 4))
    found = _at_once(8, lambda i: service.note_run(settings, PHU_THAI, vn(2025, 11, 5, 8, 0, 1 + i)))
    stops = [g for g in found if g is not None]
    assert len(stops) == 1 and stops[0].stopped_from == vn(2025, 11, 3, 8)
    assert service.recent_gaps(settings, PHU_THAI, vn(2025, 11, 1, 0)) == stops

"""The report workflow's queries (cchc.store.reports) and the doctor's outbox backlog, on a real store.

SQLite file by default; the same tests on PostgreSQL when CCHC_TEST_POSTGRES_URL is set (scripts/dev test).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pendulum
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cchc.core.loader import parse_plan
from cchc.core.report_state import ReportState
from cchc.settings import Settings
from cchc.store import outbox as ob
from cchc.store import repo, reports
from cchc.store.db import get_engine, session_scope
from tests.conftest import FIXTURES

DEMO = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))
NOW = pendulum.datetime(2025, 10, 28, 9, tz="Asia/Ho_Chi_Minh")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, cchc_env: Settings) -> Iterator[Engine]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else cchc_env.db_url
    engine = get_engine(url)
    with session_scope(engine) as s:
        repo.sync_plan(s, DEMO, NOW)
    yield engine


def _post(s: Session, title: str, day: dt.date, now: dt.datetime, plan_id: str = "demo") -> int:
    ev = repo.NewEvidence(plan_id, "posts", "post", title, day, url=f"https://a.example/{title}")
    return repo.add_evidence(s, ev, now).id


def test_a_run_row_is_created_pending_once_and_then_found_as_it_stands(engine: Engine) -> None:
    with session_scope(engine) as s:
        assert reports.find_run(s, "demo", "bao-cao-quy", "2025-Q3") is None
        row = reports.lock_run(s, "demo", "bao-cao-quy", "2025-Q3", NOW)
        assert (row.state, row.version, row.fingerprint, row.draft_sha256) == ("pending", 0, "", None)
        row.state, row.version = ReportState.drafted, 1
    with session_scope(engine) as s:
        again = reports.lock_run(s, "demo", "bao-cao-quy", "2025-Q3", NOW.add(days=1))
        assert (again.id, again.state, again.version) == (row.id, "drafted", 1)  # found, not reset
        assert again.updated_at == NOW  # the lock reads; it writes nothing
    with session_scope(engine) as s:
        found = reports.find_run(s, "demo", "bao-cao-quy", "2025-Q3")
        assert found is not None and found.id == row.id and found.state == ReportState.drafted
        assert reports.find_run(s, "demo", "bao-cao-quy", "2025-Q4") is None


def test_the_plans_runs_can_be_read_all_or_by_state(engine: Engine) -> None:
    with session_scope(engine) as s:
        reports.lock_run(s, "demo", "bao-cao-quy", "2025-Q3", NOW).state = ReportState.approved
        reports.lock_run(s, "demo", "bao-cao-quy", "2025-Q4", NOW)
        reports.lock_run(s, "other", "bao-cao-quy", "2025-Q3", NOW).state = ReportState.approved
    with session_scope(engine) as s:
        assert sorted(r.period for r in reports.plan_runs(s, "demo")) == ["2025-Q3", "2025-Q4"]
        assert [(r.plan_id, r.period) for r in reports.plan_runs(s, "demo", ReportState.approved)] == [
            ("demo", "2025-Q3")
        ]
        assert reports.plan_runs(s, "demo", ReportState.delivered) == []


def test_evidence_for_a_draft_is_what_stands_now_and_for_a_final_what_stood_when_the_draft_read_it(
    engine: Engine,
) -> None:
    drafted = NOW.add(hours=1)
    with session_scope(engine) as s:
        kept = _post(s, "kept", dt.date(2025, 10, 2), NOW)
        rejected_before = _post(s, "rejected-before", dt.date(2025, 10, 3), NOW)
        rejected_after = _post(s, "rejected-after", dt.date(2025, 10, 4), NOW)
        _post(s, "future", dt.date(2025, 10, 30), NOW)  # dated after the moment judged
        _post(s, "elsewhere", dt.date(2025, 10, 2), NOW, plan_id="other")
        repo.reject(s, "demo", rejected_before, "trùng", "test", NOW.add(minutes=30))
    with session_scope(engine) as s:
        late = _post(s, "recorded-after-the-draft", dt.date(2025, 10, 5), drafted.add(hours=1))
        repo.reject(s, "demo", rejected_after, "trùng", "test", drafted.add(hours=2))
    up_to = dt.date(2025, 10, 28)
    with session_scope(engine) as s:
        now_items = reports.evidence_items(s, "demo", up_to)
        final_items = reports.evidence_items(s, "demo", up_to, recorded_until=drafted)
    assert sorted(i.id for i in now_items) == [kept, late]
    # Recorded by the draft's moment, and a rejection after it does not take the item out of the final.
    assert sorted(i.id for i in final_items) == [kept, rejected_after]
    item = next(i for i in final_items if i.id == kept)
    assert (item.duty, item.kind, item.title, item.occurred_on, item.url) == (
        "posts",
        "post",
        "kept",
        dt.date(2025, 10, 2),
        "https://a.example/kept",
    )


def test_waivers_are_the_ones_granted_by_the_moment(engine: Engine) -> None:
    with session_scope(engine) as s:
        repo.waive(s, "demo", "posts", "2025-10", "nghỉ lễ", "test", NOW)
    with session_scope(engine) as s:
        assert reports.waivers(s, "demo", NOW) == {("posts", "2025-10"): "nghỉ lễ"}
        assert reports.waivers(s, "demo", NOW.subtract(minutes=1)) == {}
        assert reports.waivers(s, "other", NOW) == {}


def _message(key: str, step: str, period: str, status: str = ob.QUEUED, due: dt.datetime = NOW) -> ob.NewMessage:
    return ob.NewMessage(
        key=key,
        plan_id="demo",
        duty_id="bao-cao-quy",
        period=period,
        step=step,
        recipient=f"{key}@a.example",
        subject="s",
        body_text="t",
        body_html="<p>t</p>",
        message_id=f"<{key}@a.example>",
        due_at=due,
        status=status,
    )


def test_delivery_rows_are_the_finals_mail_only_oldest_first(engine: Engine) -> None:
    with session_scope(engine) as s:
        ob.enqueue(
            s,
            [
                _message("d1", reports.STEP_DELIVERY, "2025-Q3"),
                _message("draft", reports.STEP_DRAFT, "2025-Q3"),
                _message("late", reports.STEP_LATE, "2025-Q3"),
                _message("q4", reports.STEP_DELIVERY, "2025-Q4"),
                _message("d2", reports.STEP_DELIVERY, "2025-Q3"),
            ],
            NOW,
        )
    with session_scope(engine) as s:
        assert [r.key for r in reports.delivery_rows(s, "demo", "bao-cao-quy", "2025-Q3")] == ["d1", "d2"]
        assert [r.key for r in reports.delivery_rows(s, "demo")] == ["d1", "q4", "d2"]
        assert reports.delivery_rows(s, "demo", "other-report", "2025-Q3") == []
    assert reports.STEP_DELIVERY.startswith(ob.REPORT_STEP_PREFIX)  # never taken for a ladder step


def test_the_backlog_counts_waiting_rows_their_oldest_due_time_and_recent_failures(engine: Engine) -> None:
    with session_scope(engine) as s:
        assert ob.backlog(s, NOW) == (0, None, 0)
    old = NOW.subtract(days=3)
    with session_scope(engine) as s:
        ob.enqueue(s, [_message("failed-old", "notice", "x", ob.FAILED)], old)
        ob.enqueue(
            s,
            [
                _message("q1", "notice", "x", due=NOW.subtract(hours=5)),
                _message("q2", "notice", "x", due=NOW.subtract(hours=1)),
                _message("sending", "notice", "x", due=NOW.subtract(hours=2)),
                _message("sent", "notice", "x", ob.SENT, due=NOW.subtract(days=9)),
                _message("skipped", "notice", "x", ob.SKIPPED, due=NOW.subtract(days=9)),
                _message("failed-new", "notice", "x", ob.FAILED),
            ],
            NOW,
        )
    claimed = ob.claim(engine, NOW, limit=10)  # a worker takes every queued row, then gives back all but one
    assert sorted(r.key for r in claimed) == ["q1", "q2", "sending"]
    with session_scope(engine) as s:
        for r in claimed:
            if r.key != "sending":
                ob.release(s, r.id, "back to the queue")
    with session_scope(engine) as s:
        queued, oldest, failed = ob.backlog(s, NOW.subtract(hours=48))
    assert (queued, failed) == (3, 1)
    assert oldest is not None and oldest == NOW.subtract(hours=5)

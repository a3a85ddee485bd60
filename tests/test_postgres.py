"""The same store on a real PostgreSQL server (scripts/dev test starts one)."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from cchc.core.evaluate import Status
from cchc.core.loader import parse_plan
from cchc.store import repo
from cchc.store.db import current_revision, get_engine, head_revision, session_scope
from tests.conftest import FIXTURES

pytestmark = pytest.mark.postgres
DEMO = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))


def test_the_store_migrates_records_and_judges_on_postgresql(pg_url: str) -> None:
    engine = get_engine(pg_url)
    assert current_revision(engine) == head_revision()
    now = pendulum.datetime(2025, 10, 28, 9, tz="Asia/Ho_Chi_Minh")
    with session_scope(engine) as s:
        repo.sync_plan(s, DEMO, now)
        a = repo.add_evidence(
            s, repo.NewEvidence("demo", "posts", "post", "Bài 1", dt.date(2025, 10, 2), url="https://a.example/1"), now
        )
        b = repo.add_evidence(
            s, repo.NewEvidence("demo", "posts", "post", "Bài 1", dt.date(2025, 10, 2), url="https://a.example/1/"), now
        )
        repo.add_evidence(
            s, repo.NewEvidence("demo", "posts", "post", "Bài 2", dt.date(2025, 10, 9), url="https://a.example/2"), now
        )
        repo.add_evidence(
            s, repo.NewEvidence("demo", "posts", "post", "Bài 3", dt.date(2025, 10, 27), url="https://a.example/3"), now
        )
    assert b.duplicate and b.id == a.id
    with session_scope(engine) as s:
        got = {(j.occurrence.duty, j.occurrence.period): j for j in repo.evaluate(s, now, ["demo"])}
    assert got[("posts", "2025-10")].status is Status.met and got[("posts", "2025-10")].count == 3
    assert got[("posts", "2025-09")].status is Status.missed
    assert got[("bao-cao-quy", "2025-Q3")].status is Status.overdue
    assert got[("posts", "2025-10")].occurrence.due == pendulum.datetime(2025, 11, 1, tz="Asia/Ho_Chi_Minh")


def test_outbox_rows_are_unique_and_claimed_by_one_worker_each_on_postgresql(pg_url: str) -> None:
    import threading

    from cchc.store import outbox as ob

    engine = get_engine(pg_url)
    now = pendulum.datetime(2025, 10, 28, 9, tz="UTC")

    def message(i: int) -> ob.NewMessage:
        return ob.NewMessage(
            key=f"demo:posts:2025-10:progress:u{i}",
            plan_id="demo",
            step="progress",
            recipient=f"u{i}@phu-thong.example",
            subject="Nhắc tiến độ",
            body_text="x",
            body_html="<p>x</p>",
            message_id=f"<{i}@cchc.example>",
            due_at=now,
        )

    with session_scope(engine) as s:
        assert len(ob.enqueue(s, [message(i) for i in range(300)], now)) == 300
    with session_scope(engine) as s:
        assert ob.enqueue(s, [message(i) for i in range(310)], now) == [
            f"demo:posts:2025-10:progress:u{i}" for i in range(300, 310)
        ]

    claimed: list[list[int]] = [[], [], []]

    def worker(n: int) -> None:
        while rows := ob.claim(engine, now, limit=25):
            claimed[n].extend(r.id for r in rows)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    every = [i for c in claimed for i in c]
    assert len(every) == len(set(every)) == 310


def test_the_migrations_match_the_models_on_postgresql(pg_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from cchc.store.models import Base

    with get_engine(pg_url).connect() as c:
        assert compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata) == []

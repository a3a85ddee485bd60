"""The store on a real SQLite file: migrations, sync, idempotent evidence, concurrent writers."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
from pathlib import Path

import pendulum
import pytest
from alembic import command
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import StatementError

from cchc.core.loader import parse_plan
from cchc.settings import Settings
from cchc.store import repo
from cchc.store.db import alembic_config, current_revision, get_engine, head_revision, session_scope
from cchc.store.models import EvidenceRow, OccurrenceRow, PlanRow
from tests.conftest import FIXTURES

DEMO_TEXT = (FIXTURES / "demo.yaml").read_text(encoding="utf-8")
DEMO = parse_plan(DEMO_TEXT)
NOW = pendulum.datetime(2025, 10, 20, 9, tz="Asia/Ho_Chi_Minh")


def test_a_fresh_database_is_created_in_wal_mode_and_migrated(cchc_env: Settings) -> None:
    engine = get_engine(cchc_env.db_url)
    assert (cchc_env.home / "cchc.db").is_file()
    assert current_revision(engine) == head_revision()
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_an_older_database_is_migrated_forward_without_losing_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0001")
    raw = create_engine(url)
    with raw.begin() as c:
        c.execute(
            text(
                "INSERT INTO evidence (plan_id, duty_id, kind, title, occurred_on, source, recorded_at, dedup_key)"
                " VALUES ('demo','posts','post','cũ','2025-10-01','manual','2025-10-01 00:00:00','url:https://a.example/1')"
            )
        )
    raw.dispose()
    engine = get_engine(url)
    assert current_revision(engine) == head_revision()
    with session_scope(engine) as s:
        assert s.scalar(select(EvidenceRow.title)) == "cũ"


def test_a_changed_spec_updates_the_plan_and_keeps_its_evidence(cchc_env: Settings) -> None:
    engine = get_engine(cchc_env.db_url)
    with session_scope(engine) as s:
        assert repo.sync_plan(s, DEMO, NOW)
        assert not repo.sync_plan(s, DEMO, NOW)  # unchanged spec: nothing to do
        repo.add_evidence(
            s, repo.NewEvidence("demo", "posts", "post", "Bài", dt.date(2025, 10, 2), url="https://a.example/1"), NOW
        )
    changed = parse_plan(DEMO_TEXT.replace("min_count: 3", "min_count: 4"))
    with session_scope(engine) as s:
        assert repo.sync_plan(s, changed, NOW)
        assert s.scalar(select(func.count()).select_from(EvidenceRow)) == 1
        req = s.scalar(
            select(OccurrenceRow.required).where(OccurrenceRow.period == "2025-10", OccurrenceRow.duty_id == "posts")
        )
        assert req == 4
    shorter = parse_plan(DEMO_TEXT.replace("end: 2025-12-31", "end: 2025-10-31"))
    with session_scope(engine) as s:
        repo.sync_plan(s, shorter, NOW)
        periods = set(s.scalars(select(OccurrenceRow.period).where(OccurrenceRow.duty_id == "posts")))
        assert periods == {"2025-08", "2025-09", "2025-10"}
        assert s.scalar(select(func.count()).select_from(EvidenceRow)) == 1


def test_the_same_link_for_the_same_duty_counts_once(cchc_env: Settings) -> None:
    engine = get_engine(cchc_env.db_url)
    with session_scope(engine) as s:
        repo.sync_plan(s, DEMO, NOW)
        a = repo.add_evidence(
            s,
            repo.NewEvidence("demo", "posts", "post", "A", dt.date(2025, 10, 2), url="https://Xa.example/tin/1/"),
            NOW,
        )
        b = repo.add_evidence(
            s,
            repo.NewEvidence("demo", "posts", "post", "B", dt.date(2025, 10, 3), url="https://xa.example/tin/1#x"),
            NOW,
        )
        c = repo.add_evidence(
            s,
            repo.NewEvidence("demo", "contest", "event", "C", dt.date(2025, 10, 3), url="https://xa.example/tin/1"),
            NOW,
        )
        f1 = repo.add_evidence(
            s, repo.NewEvidence("demo", "posts", "photo", "ảnh", dt.date(2025, 10, 3), file_sha256="ab" * 32), NOW
        )
        f2 = repo.add_evidence(
            s, repo.NewEvidence("demo", "posts", "photo", "ảnh 2", dt.date(2025, 10, 4), file_sha256="ab" * 32), NOW
        )
    assert not a.duplicate and b.duplicate and b.id == a.id
    assert not c.duplicate  # another duty may cite the same link
    assert not f1.duplicate and f2.duplicate


def test_naive_timestamps_are_refused_at_the_boundary(cchc_env: Settings) -> None:
    engine = get_engine(cchc_env.db_url)
    with pytest.raises(StatementError, match="naive datetime") as refused, session_scope(engine) as s:
        repo.sync_plan(s, DEMO, dt.datetime(2025, 10, 1, 9))
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(PlanRow)) == 0  # nothing half-written
    assert isinstance(refused.value.orig, ValueError), "the type decorator refuses it, not the database"


def test_timestamps_come_back_aware_utc(cchc_env: Settings) -> None:
    engine = get_engine(cchc_env.db_url)
    with session_scope(engine) as s:
        repo.sync_plan(s, DEMO, NOW)
    with session_scope(engine) as s:
        row = s.scalars(select(OccurrenceRow).where(OccurrenceRow.period == "2025-10")).first()
        assert row is not None and row.due.tzinfo is not None
        assert row.due == pendulum.datetime(2025, 11, 1, tz="Asia/Ho_Chi_Minh")


def _writer(url: str, worker: int, n: int) -> None:
    from cchc.store.db import get_engine as ge
    from cchc.store.db import session_scope as ss

    engine = ge(url)
    for i in range(n):
        with ss(engine) as s:
            # read-then-write, the pattern that deadlocks with a deferred BEGIN
            s.scalar(select(func.count()).select_from(EvidenceRow))
            repo.add_evidence(
                s,
                repo.NewEvidence(
                    "demo",
                    "posts",
                    "post",
                    f"w{worker}-{i}",
                    dt.date(2025, 10, 2),
                    url=f"https://a.example/{worker}/{i}",
                ),
                NOW,
            )
            repo.add_evidence(  # the same link from every worker: exactly one row survives
                s,
                repo.NewEvidence(
                    "demo", "posts", "post", "shared", dt.date(2025, 10, 2), url=f"https://a.example/shared/{i}"
                ),
                NOW,
            )


def test_concurrent_writers_wait_for_the_lock_instead_of_failing(cchc_env: Settings) -> None:
    engine = get_engine(cchc_env.db_url)
    with session_scope(engine) as s:
        repo.sync_plan(s, DEMO, NOW)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(cchc_env.db_url, w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(EvidenceRow)) == 4 * 40 + 40


def test_the_migrations_build_exactly_the_tables_the_models_describe(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from cchc.store.models import Base

    engine = get_engine(f"sqlite:///{tmp_path / 'drift.db'}")
    with engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata) == []


def test_the_same_file_stored_at_once_by_many_writers_is_kept_once_without_error(
    cchc_env: Settings, tmp_path: Path
) -> None:
    """Parallel uploads of one file used to share `<sha>.part`: a rename found it gone (FileNotFoundError)."""
    import threading

    from cchc.app import service

    source = tmp_path / "anh.png"
    source.write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 300_000)
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def store() -> None:
        start.wait()
        try:
            results.append(service.store_file(cchc_env, source)[0])
        except BaseException as e:  # collected: the test names it
            errors.append(e)

    threads = [threading.Thread(target=store) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(set(results)) == 1 and len(results) == 16
    kept = [p for p in cchc_env.files_dir.rglob("*") if p.is_file()]
    assert [p.name for p in kept] == [results[0]], "one file, no temporary left behind"
    assert kept[0].read_bytes() == source.read_bytes()

"""`cchc status` on stdlib sqlite3 (#18 item 2): the quick read judges exactly as `repo.evaluate`, steps aside
whenever anything it relies on changed (and the use cases then answer the same and keep it again), and does not
import what it was made to avoid."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cchc.app import service, status_read
from cchc.app.status_view import status_json
from cchc.cli import app as cli_app
from cchc.core.calendar import occurrences
from cchc.core.evaluate import Status
from cchc.core.spec import Plan
from cchc.settings import Settings, get_settings
from cchc.store import db, fastread, repo
from cchc.store.judging import Judged
from tests.conftest import FIXTURES, PLAN_IDS
from tests.test_cli_startup import AT, cli, importtime_modules, loaded

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = dt.datetime(2026, 1, 5, 9, tzinfo=TZ)


def evaluated(settings: Settings, plan: Plan, at: dt.datetime) -> list[Judged]:
    with db.session_scope(service.engine_for(settings)) as s:
        return repo.evaluate(s, at, [plan.id], plan.timezone)


def quick(ref: str, at: dt.datetime, settings: Settings | None = None) -> tuple[Plan, list[Judged]] | None:
    return status_read.fast(ref, settings or get_settings(), lambda _tz: at)


def slow(ref: str, at: dt.datetime) -> tuple[Plan, list[Judged]]:
    """What `cchc status` does on a miss: the use cases, keeping the entry for the next read."""
    return cli_app._status_slow(ref, at.isoformat())


def add_evidence(settings: Settings, plan: Plan) -> None:
    """Evidence on time and late for every third occurrence, one item rejected, one occurrence waived."""
    ids: list[int] = []
    now = dt.datetime.combine(plan.period.end + dt.timedelta(days=60), dt.time(9), tzinfo=TZ)
    first, last = service.evidence_span(plan)
    occs = [o for o in occurrences(plan) if o.in_force]
    for n, o in enumerate(occs[::3]):
        kind = plan.counted_kinds(o.duty)[0].value
        day = o.starts.date() if n % 2 == 0 else o.last_day + dt.timedelta(days=1)
        if not first <= day <= last or day >= o.closes.date():
            continue
        item = service.EvidenceInput(o.duty, kind, f"Bài {n}", day, url=f"https://example.org/{plan.id}/{n}")
        ids.append(service.record_evidence(settings, plan, item, now).id)
    assert len(ids) >= 3, plan.id
    service.reject_evidence(settings, plan, ids[0], "không đúng nội dung", "vhxh", now)
    waived = occs[1]
    assert service.waive_occurrence(settings, plan, waived.duty, waived.period, "đã tổ chức gộp", "vhxh", now)


def moments(plan: Plan) -> list[dt.datetime]:
    start = dt.datetime.combine(plan.period.start, dt.time(9), tzinfo=TZ)
    end = dt.datetime.combine(plan.period.end, dt.time(23, 59), tzinfo=TZ)
    return [
        start + dt.timedelta(days=20),
        start + (end - start) / 2,
        end - dt.timedelta(days=1),
        end + dt.timedelta(days=45),
    ]


def test_the_quick_read_judges_every_occurrence_of_the_five_plans_as_repo_evaluate(cchc_env: Settings) -> None:
    seen: set[Status] = set()
    late_anywhere = 0
    for plan_id in PLAN_IDS:
        plan, _ = slow(plan_id, NOW)  # the first answer keeps the entry
        add_evidence(cchc_env, plan)  # evidence is read live, never cached
        counted = late = 0
        for at in moments(plan):
            got = quick(plan_id, at)
            assert got is not None, (plan_id, at)
            want = evaluated(cchc_env, plan, at)
            assert got[0] == plan
            assert got[1] == want, (plan_id, at)
            assert status_json(*got) == service.status_json(plan, want)
            seen.update(j.status for j in want)
            counted = max(counted, sum(j.count for j in want))
            late = max(late, sum(j.late for j in want))
        assert counted, plan_id
        late_anywhere += late
    assert late_anywhere
    assert {Status.met, Status.met_late, Status.waived, Status.missed} <= seen


def test_each_change_sends_the_read_to_the_use_cases_which_answer_the_same_and_keep_it_again(
    cchc_env: Settings,
) -> None:
    plan_id = "phu-thai-2025h2"
    at = dt.datetime(2025, 10, 21, 9, tzinfo=TZ)

    def taken_back(change: Callable[[], None]) -> None:
        change()
        assert quick(plan_id, at) is None
        plan, judged = slow(plan_id, at)
        assert judged == evaluated(cchc_env, plan, at)
        again = quick(plan_id, at)
        assert again is not None and again == (plan, judged)

    # No entry yet (a new home).
    taken_back(lambda: None)
    store = Path(fastread.load_queries(cchc_env.home, cchc_env.db_url).db_path)  # type: ignore[union-attr]

    # The cache deleted, or its entries damaged.
    taken_back(lambda: shutil.rmtree(cchc_env.home / "cache"))
    taken_back(lambda: [p.write_bytes(b"\x80garbage") for p in fastread.cache_dir(cchc_env.home).iterdir()])

    # A decision on an assumption: the plan acts differently, and the read gives the decided plan.
    def decide() -> None:
        plan = service.resolve_plan(plan_id, cchc_env)
        item, aspect = next((i.id, a) for i in plan.reports for a in service.assumptions.unconfirmed(plan, i.id))
        service.decide_assumption(cchc_env, plan, item, aspect, "confirm", "Sở Nội vụ xác nhận", "vhxh", NOW)

    before = quick(plan_id, at)
    taken_back(decide)
    after = quick(plan_id, at)
    assert before is not None and after is not None and after[0] != before[0]
    assert service.assumptions.listing(after[0]) != service.assumptions.listing(before[0])

    # The plan's row stale (another version synced by another process): synced back by the use cases.
    def stale() -> None:
        with sqlite3.connect(store) as c:
            c.execute("UPDATE plans SET spec_sha256 = 'other' WHERE id = ?", (plan_id,))

    taken_back(stale)

    # A migration pending: the store one revision back; the use cases bring it to the head.
    def older() -> None:
        heads = sorted(db.head_revision())
        db.dispose_all()
        db.downgrade(cchc_env.db_url, "0009")
        assert sorted(db.stored_revision(db.make_engine(cchc_env.db_url))) == ["0009"] != heads

    taken_back(older)

    # A new store at the same place: at the head, but the plan has no row in it.
    def fresh() -> None:
        db.dispose_all()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        db.get_engine(cchc_env.db_url)
        db.dispose_all()

    taken_back(fresh)


def test_an_edited_spec_is_read_afresh(demo_env: Settings, tmp_path: Path) -> None:
    at = dt.datetime(2025, 10, 21, 9, tzinfo=TZ)
    spec = tmp_path / "plans" / "demo.yaml"
    slow("demo", at)
    assert quick("demo", at) is not None
    spec.write_text(
        spec.read_text(encoding="utf-8").replace("title: Kế hoạch thử", "title: Kế hoạch thử đã sửa", 1),
        encoding="utf-8",
    )
    assert quick("demo", at) is None
    plan, judged = slow("demo", at)
    assert plan.title == "Kế hoạch thử đã sửa"
    assert quick("demo", at) == (plan, judged)
    assert quick(str(spec), at) is not None  # the same file named by its path
    assert quick("no-such-plan", at) is None and quick(str(FIXTURES / "missing.yaml"), at) is None


def test_on_postgresql_the_use_cases_answer_and_nothing_is_kept(
    cchc_env: Settings, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCHC_DATABASE_URL", pg_url)
    get_settings.cache_clear()
    settings = get_settings()
    at = dt.datetime(2025, 10, 21, 9, tzinfo=TZ)
    plan, judged = slow("phu-thong-2025", at)
    assert judged == evaluated(settings, plan, at) and judged
    assert status_read.prepare("phu-thong-2025", settings) is None
    assert quick("phu-thong-2025", at, settings) is None
    assert not fastread.cache_dir(settings.home).exists()


# What the quick read exists to avoid: if one of these comes back, the figure of issue #18 is gone again.
NOT_ON_THE_QUICK_READ = (
    "sqlalchemy",
    "alembic",
    "cchc.store.models",
    "cchc.store.repo",
    "cchc.store.db",
    "cchc.app.service",
    "cchc.core.loader",
    "cchc.core.clone",
    "vietnam_provinces",
    "yaml",
    "email_validator",
)


def test_a_warm_status_imports_none_of_it_and_prints_the_same_bytes(cchc_env: Settings) -> None:
    first = cli("status", "phu-thong-2025", "--json", "--at", AT)  # the use cases; the entry kept
    assert first.returncode == 0, first.stderr
    warm = cli("status", "phu-thong-2025", "--json", "--at", AT, importtime=True)
    assert warm.returncode == 0, warm.stderr[-2000:]
    modules = importtime_modules(warm.stderr)
    assert "cchc.store.fastread" in modules
    assert loaded(modules, NOT_ON_THE_QUICK_READ) == []
    assert warm.stdout == first.stdout
    table = cli("status", "phu-thong-2025", "--at", AT)
    assert table.returncode == 0 and "hạn" in table.stdout

    # Without its entries the command answers the same bytes through the use cases.
    shutil.rmtree(fastread.cache_dir(cchc_env.home))
    cold = cli("status", "phu-thong-2025", "--json", "--at", AT, importtime=True)
    assert "sqlalchemy" in importtime_modules(cold.stderr)
    assert cold.stdout == first.stdout
    assert json.loads(cold.stdout)[0]["plan"] == "phu-thong-2025"

"""Shared fixtures: every test gets its own data folder and SQLite file."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cchc.settings import Settings, get_settings
from cchc.store.db import dispose_all

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

ROOT = Path(__file__).resolve().parent.parent
PLAN_DIR = ROOT / "plan_specs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PLAN_IDS = ["phu-thai-2025h2", "lai-khe-2025h2", "phu-thong-2025", "ninh-giang-2025h2", "chi-minh-2026"]


@pytest.fixture
def cchc_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A scratch CCHC_HOME with its own SQLite database; the real plan_specs/ folder."""
    monkeypatch.setenv("CCHC_HOME", str(tmp_path / "var"))
    monkeypatch.setenv("CCHC_PLAN_DIR", str(PLAN_DIR))
    monkeypatch.delenv("CCHC_DATABASE_URL", raising=False)
    monkeypatch.delenv("CCHC_SMTP_URL", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    dispose_all()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test server for the whole session (it takes seconds to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def demo_env(cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A plan folder holding only the small demo plan (Phủ Thông, Aug–Dec 2025)."""
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "demo.yaml").write_text((FIXTURES / "demo.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("CCHC_PLAN_DIR", str(plans))
    get_settings.cache_clear()
    yield get_settings()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def pg_databases() -> Iterator[Callable[..., str]]:
    """Fresh databases on the test PostgreSQL server, dropped afterwards: ``new()``, or ``new(template=url)`` for a
    copy of a migrated one. No server: skipped here, a failure under CI (scripts/dev test starts one)."""
    base = os.environ.get("CCHC_TEST_POSTGRES_URL")  # test-only variable, set by scripts/dev
    if not base:
        if os.environ.get("CI"):
            pytest.fail("CCHC_TEST_POSTGRES_URL is not set in CI: scripts/dev test must start PostgreSQL")
        pytest.skip("no PostgreSQL: run through scripts/dev test")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def new(template: str | None = None) -> str:
        name = f"cchc_{uuid.uuid4().hex[:10]}"
        copy = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        made.append(name)
        return base.rsplit("/", 1)[0] + "/" + name

    try:
        yield new
    finally:
        dispose_all()
        with admin.connect() as c:
            for name in reversed(made):
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url(pg_databases: Callable[..., str]) -> str:
    """One fresh PostgreSQL database for the test."""
    return pg_databases()

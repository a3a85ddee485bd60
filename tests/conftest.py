"""Shared fixtures: every test gets its own data folder and SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cchc.settings import Settings, get_settings
from cchc.store.db import dispose_all

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

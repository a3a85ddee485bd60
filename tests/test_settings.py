"""CCHC_HOME must be an absolute path; the CLI says so in one line instead of writing into the working folder."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cchc.settings import DEFAULT_HOME, Settings, SettingsError, get_settings
from tests.conftest import PLAN_DIR, ROOT

CCHC = Path(sys.executable).with_name("cchc")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("CCHC_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_cli(cwd: Path, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CCHC_")}
    full["CCHC_PLAN_DIR"] = str(PLAN_DIR)
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    return subprocess.run(
        [str(CCHC), *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("value", ["", "var", "  "], ids=["empty", "relative", "blank"])
def test_cli_refuses_an_empty_or_relative_cchc_home(tmp_path: Path, value: str) -> None:
    r = run_cli(tmp_path, "plans", CCHC_HOME=value)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr  # no traceback
    assert lines[0].startswith("error: CCHC_HOME phải là đường dẫn tuyệt đối (ví dụ /var/lib/cchc)"), lines
    assert lines[0].endswith(repr(value)), lines
    assert r.stdout == ""
    # Nothing (database, secret.key, mail) was written where the command ran.
    assert list(tmp_path.iterdir()) == []


def test_other_bad_settings_are_one_line_too_without_the_value(tmp_path: Path) -> None:
    r = run_cli(tmp_path, "plans", CCHC_HOME=str(tmp_path / "var"), CCHC_LOG_BACKUPS="0", CCHC_SMTP_TIMEOUT="x")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert "CCHC_LOG_BACKUPS không hợp lệ" in lines[0] and "CCHC_SMTP_TIMEOUT không hợp lệ" in lines[0]
    assert "'x'" not in lines[0]  # values are not echoed: they may be secrets
    assert list(tmp_path.iterdir()) == []


def test_unset_cchc_home_is_the_checkouts_var_wherever_the_command_runs(tmp_path: Path) -> None:
    r = run_cli(tmp_path, "plans", "--json", CCHC_HOME=None)
    assert r.returncode == 0, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_default_home_is_absolute(clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    home = get_settings().home
    assert home.is_absolute()
    assert home == DEFAULT_HOME == ROOT / "var"
    assert get_settings().child_env({})["CCHC_HOME"] == str(ROOT / "var")


@pytest.mark.parametrize("value", ["", "var", "./var", "~/cchc"])
def test_get_settings_raises_one_line(clean_env: None, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CCHC_HOME", value)
    with pytest.raises(SettingsError) as info:
        get_settings()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("CCHC_HOME phải là đường dẫn tuyệt đối")
    assert message.endswith(repr(value))


def test_absolute_home_is_accepted(clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CCHC_HOME", str(tmp_path / "data"))
    assert get_settings().home == tmp_path / "data"
    assert Settings(home=tmp_path).home == tmp_path


def test_log_rotation_settings(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    s = get_settings()
    assert (s.log_max_bytes, s.log_backups) == (10 * 1024 * 1024, 5)
    monkeypatch.setenv("CCHC_LOG_MAX_BYTES", "1000")
    monkeypatch.setenv("CCHC_LOG_BACKUPS", "2")
    get_settings.cache_clear()
    s = get_settings()
    assert (s.log_max_bytes, s.log_backups) == (1000, 2)
    for name, bad in (("CCHC_LOG_MAX_BYTES", "0"), ("CCHC_LOG_BACKUPS", "0")):
        monkeypatch.setenv(name, bad)
        get_settings.cache_clear()
        with pytest.raises(SettingsError, match=name):
            get_settings()
        monkeypatch.setenv(name, "3")


@pytest.mark.parametrize("bad", ["Nguyễn Văn A <ops@tinh.example>", "ops", "a@b@c", "ops @tinh.example"])
def test_the_operator_address_must_be_a_bare_address(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("CCHC_OPERATOR_EMAIL", bad)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match="CCHC_OPERATOR_EMAIL must be a bare address"):
            get_settings()
    finally:
        get_settings.cache_clear()

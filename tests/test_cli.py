"""The `cchc` command: its JSON contract and its refusals of bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cchc.cli.main import app
from cchc.settings import Settings
from tests.conftest import FIXTURES, PLAN_DIR, PLAN_IDS, ROOT

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def run_json(*args: str) -> Any:
    code, out = run(*args)
    assert code == 0, out
    return json.loads(out)


def test_validate_passes_for_all_five_plans(cchc_env: Settings) -> None:
    code, out = run("validate")
    assert code == 0, out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == len(PLAN_IDS)
    assert all(": ok: " in ln for ln in lines)


def test_validate_reports_file_line_field_and_exits_non_zero(cchc_env: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "demo.yaml"
    bad.write_text(
        (FIXTURES / "demo.yaml").read_text(encoding="utf-8").replace("cadence: month", "cadence: monthly"),
        encoding="utf-8",
    )
    code, out = run("validate", str(bad), str(FIXTURES / "demo.yaml"))
    assert code == 1
    line = next(i + 1 for i, ln in enumerate(bad.read_text(encoding="utf-8").splitlines()) if "monthly" in ln)
    assert f"{bad}:{line}: duties[0].cadence: unknown value 'monthly' (did you mean 'month'?)" in out
    assert "demo.yaml: ok: demo" in out


def test_plans_json_lists_every_plan(cchc_env: Settings) -> None:
    rows = run_json("plans", "--json")
    assert sorted(r["id"] for r in rows) == sorted(PLAN_IDS)
    for r in rows:
        assert {"id", "title", "commune", "period_start", "period_end", "duties"} <= r.keys()
        assert r["duties"] > 0
    lai_khe = next(r for r in rows if r["id"] == "lai-khe-2025h2")
    assert lai_khe["commune"] == "Lai Khê" and lai_khe["number"] == "481/KH-UBND"


def test_calendar_json_shape_and_range(cchc_env: Settings) -> None:
    rows = run_json("calendar", "phu-thai-2025h2", "--from", "2025-09-01", "--to", "2025-09-30", "--json")
    assert rows
    for r in rows:
        assert {"plan", "duty", "kind", "period", "starts", "due", "required", "lead"} <= r.keys()
        assert r["due"].endswith("+07:00")
    reports = {r["duty"]: r["due"] for r in rows if r["kind"] == "report" and r["period"] == "2025-Q3"}
    # The units report "trước ngày 06 của tháng cuối quý" (the plan's date); the compiled report is due on the
    # 10th (an assumption, three working days later).
    assert reports == {"bao-cao-don-vi": "2025-09-05T23:59:59+07:00", "bao-cao-quy": "2025-09-10T23:59:59+07:00"}


def test_calendar_accepts_a_path(cchc_env: Settings) -> None:
    rows = run_json("calendar", str(FIXTURES / "demo.yaml"), "--json")
    assert {r["plan"] for r in rows} == {"demo"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["calendar", "phu-tai-2025h2"], "unknown plan 'phu-tai-2025h2' (did you mean 'phu-thai-2025h2'?)"),
        (["calendar", "phu-thai-2025h2", "--from", "2025-13-01"], "--from '2025-13-01' is not a date"),
        (["calendar", "phu-thai-2025h2", "--from", "2025-10-01", "--to", "2025-09-01"], "--to is before --from"),
        (["status", "phu-thai-2025h2", "--at", "tomorrow-ish"], "--at 'tomorrow-ish' is not an ISO 8601"),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_clear_line(cchc_env: Settings, args: list[str], message: str) -> None:
    code, out = run(*args)
    assert code != 0
    assert message in out


def _add(*extra: str) -> tuple[int, str]:
    return run(
        "evidence",
        "add",
        str(FIXTURES / "demo.yaml"),
        "posts",
        "--kind",
        "post",
        "--title",
        "Bài CCHC",
        "--json",
        *extra,
    )


def test_evidence_add_then_status_counts_it_once(cchc_env: Settings) -> None:
    code, out = _add("--date", "2025-10-03", "--url", "https://phuthong.example/tin/1")
    assert code == 0, out
    first = json.loads(out)
    assert first["duplicate"] is False
    code, out = _add("--date", "2025-10-03", "--url", "https://phuthong.example/tin/1")
    assert code == 0 and json.loads(out) == {"id": first["id"], "duplicate": True, "before_effect": False}
    rows = run_json("status", str(FIXTURES / "demo.yaml"), "--at", "2025-10-10T09:00:00+07:00", "--json")
    oct_ = next(r for r in rows if r["duty"] == "posts" and r["period"] == "2025-10")
    assert oct_["count"] == 1 and oct_["required"] == 3 and oct_["status"] == "open"
    sep = next(r for r in rows if r["duty"] == "posts" and r["period"] == "2025-09")
    assert sep["status"] == "missed"


def test_evidence_with_a_file_is_stored_by_content(cchc_env: Settings, tmp_path: Path) -> None:
    photo = tmp_path / "anh-pano.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 fake jpeg")
    code, out = run(
        "evidence", "add", str(FIXTURES / "demo.yaml"), "contest", "--kind", "event", "--title", "Hội thi",
        "--date", "2025-09-12", "--file", str(photo), "--unit", "vhxh", "--json",
    )  # fmt: skip
    assert code == 0, out
    stored = list((cchc_env.home / "files").rglob("*"))
    assert any(p.is_file() and p.name != photo.name and len(p.name) == 64 for p in stored)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--date", "2025-10-03", "--url", "ftp://x.example/a"], "is not an http/https link"),
        (["--date", "2999-01-01", "--url", "https://x.example/a"], "is in the future"),
        (["--date", "03/10/2025", "--url", "https://x.example/a"], "--date '03/10/2025' is not a date"),
        (["--date", "2025-10-03", "--file", "/nonexistent/anh.jpg"], "does not exist"),
        (
            ["--date", "2025-10-03", "--url", "https://x.example/a", "--unit", "vhx"],
            "no unit 'vhx' (did you mean 'vhxh'?)",
        ),
    ],
)
def test_evidence_add_refuses_bad_input_and_changes_nothing(cchc_env: Settings, extra: list[str], message: str) -> None:
    code, out = _add(*extra)
    assert code != 0 and message in out
    rows = run_json("status", str(FIXTURES / "demo.yaml"), "--at", "2025-10-10T09:00:00+07:00", "--json")
    assert sum(r["count"] for r in rows) == 0


def test_evidence_add_refuses_an_unknown_duty_or_a_kind_the_duty_does_not_count(cchc_env: Settings) -> None:
    code, out = run(
        "evidence", "add", "phu-thai-2025h2", "no-such-duty", "--kind", "post", "--title", "x", "--date", "2025-10-01"
    )
    assert code != 0 and "has no duty 'no-such-duty'" in out
    code, out = run(
        "evidence",
        "add",
        str(FIXTURES / "demo.yaml"),
        "posts",
        "--kind",
        "survey",
        "--title",
        "x",
        "--date",
        "2025-10-01",
    )
    assert code != 0 and "duty posts counts post; --kind survey would not count for it" in out
    code, out = run(
        "evidence",
        "add",
        str(FIXTURES / "demo.yaml"),
        "posts",
        "--kind",
        "blog",
        "--title",
        "x",
        "--date",
        "2025-10-01",
    )
    assert code != 0 and "unknown evidence kind 'blog'" in out


def test_every_call_honours_the_database_url(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cchc.settings import get_settings

    other = tmp_path / "elsewhere.db"
    monkeypatch.setenv("CCHC_DATABASE_URL", f"sqlite:///{other}")
    get_settings.cache_clear()
    code, out = _add("--date", "2025-10-03", "--url", "https://phuthong.example/tin/9")
    assert code == 0, out
    assert other.is_file() and not (cchc_env.home / "cchc.db").exists()


def test_the_installed_entry_point_runs(tmp_path: Path) -> None:
    env = {**os.environ, "CCHC_HOME": str(tmp_path / "var"), "CCHC_PLAN_DIR": str(PLAN_DIR)}
    exe = Path(sys.executable).with_name("cchc")
    proc = subprocess.run(
        [str(exe), "plans", "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == len(PLAN_IDS)


def test_plans_filter_by_province_and_commune_with_or_without_diacritics(cchc_env: Settings) -> None:
    ids = lambda *args: [r["id"] for r in run_json("plans", "--json", *args)]  # noqa: E731
    hai_phong = ["chi-minh-2026", "lai-khe-2025h2", "ninh-giang-2025h2", "phu-thai-2025h2"]
    assert ids("--province", "Hải Phòng") == ids("--province", "hai phong") == hai_phong
    assert ids("--province", "Thành phố Hải Phòng") == hai_phong
    assert ids("--province", "thai nguyen") == ["phu-thong-2025"]
    assert ids("--commune", "1969") == ids("--commune", "Phủ Thông") == ["phu-thong-2025"]
    assert ids("--province", "hai phong", "--commune", "phu thong") == []
    assert ids("--commune", "Phú") == ["phu-thai-2025h2", "phu-thong-2025"]

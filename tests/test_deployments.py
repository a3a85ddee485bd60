"""Deployments derived from the specs, and prefect.yaml kept in sync with them."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import yaml
from prefect import Flow
from prefect.client.schemas.schedules import RRuleSchedule
from typer.testing import CliRunner

from cchc.cli.main import app
from cchc.core.deployments import all_deployments, plan_deployments
from cchc.core.loader import load_plan, parse_plan
from cchc.settings import Settings
from flows.serve import load_flow, to_runner
from tests.conftest import FIXTURES, PLAN_DIR, PLAN_IDS, ROOT

PLANS = [load_plan(PLAN_DIR / f"{p}.yaml") for p in PLAN_IDS]


def test_prefect_yaml_is_up_to_date(cchc_env: Settings) -> None:
    result = CliRunner().invoke(app, ["deployments", "--check", str(ROOT / "prefect.yaml")])
    assert result.exit_code == 0, result.output


def test_check_fails_on_a_stale_file(cchc_env: Settings, tmp_path: Path) -> None:
    stale = tmp_path / "prefect.yaml"
    stale.write_text(
        (ROOT / "prefect.yaml").read_text(encoding="utf-8").replace("quota_duty", "quota_dutyx", 1), encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["deployments", "--check", str(stale)])
    assert result.exit_code == 1 and "out of date" in result.output


def test_every_entrypoint_exists_and_its_parameters_match_the_flow_signature() -> None:
    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    for d in doc["deployments"]:
        path, func = d["entrypoint"].split(":")
        assert (ROOT / path).is_file(), path
        flow = load_flow(d["entrypoint"])
        assert isinstance(flow, Flow) and flow.fn.__name__ == func
        sig = inspect.signature(flow.fn)
        assert set(d["parameters"]) <= set(sig.parameters), d["name"]
        if d["parameters"] and "intake" not in d["tags"]:  # scheduled ones run as they are; a form asks the rest
            required = {n for n, p in sig.parameters.items() if p.default is inspect.Parameter.empty}
            assert required <= set(d["parameters"]), d["name"]
        assert d["work_pool"]["name"] == "cchc"


def test_one_deployment_per_duty_and_report_with_vietnamese_names_and_local_schedules() -> None:
    specs = all_deployments(PLANS)
    duties = [s for s in specs if "duty_id" in s.parameters]
    reports = [s for s in specs if "report_id" in s.parameters]
    assert len(duties) == sum(len(p.duties) for p in PLANS) and len(reports) == sum(len(p.reports) for p in PLANS)
    assert {s.entrypoint for s in reports} == {"flows/report.py:report_duty"}, "a report id travels as report_id"
    per_plan = duties + reports
    mail = [s for s in specs if s.entrypoint == "flows/mail.py:plan_mail"]
    assert sorted(s.parameters["plan_id"] for s in mail) == sorted(p.id for p in PLANS)
    assert len({s.name for s in specs}) == len(specs)
    for s in per_plan:
        assert not re.search(r"[/%&<>]", s.name)
        assert {t.split(":")[0] for t in s.tags} >= {"plan", "lead", "kind"}
        for sch in s.schedules:
            assert sch["timezone"] == "Asia/Ho_Chi_Minh"
            RRuleSchedule(rrule=sch["rrule"], timezone=sch["timezone"])  # Prefect accepts it
        for t in s.triggers:
            for v in t["parameters"].values():
                if "{{" in v:
                    assert "default(" in v, "a template reading a missing key must have a default"
    for s in mail:
        (sch,) = s.schedules
        RRuleSchedule(rrule=sch["rrule"], timezone=sch["timezone"])
    names = {s.name for s in per_plan}
    assert "Phú Thái" in " ".join(names) and "Ninh Giang" in " ".join(names)
    # What tells them apart first (the list shows about 20 characters), the plan after: never a code.
    by_id = {(s.parameters["plan_id"], s.parameters.get("duty_id") or s.parameters["report_id"]): s for s in per_plan}
    assert by_id[("phu-thong-2025", "bao-cao-quy")].name == "Báo cáo quý · Phủ Thông 8–12.2025"
    assert by_id[("chi-minh-2026", "bao-cao-nam")].name == "Báo cáo năm · Chí Minh 2026"
    assert not any(":" in s.name for s in per_plan)
    # The description opens with the cadence in words, then who leads it and where the plan says so.
    website = by_id[("phu-thong-2025", "ttdvth-tin-bai-website")].description
    assert website.startswith("Hằng tháng, ít nhất 3 bài đăng mỗi kỳ; chạy 08:00 hằng ngày trong thời gian kế hoạch.")
    assert "Chủ trì: Trung tâm Dịch vụ tổng hợp xã. Căn cứ: 4.1" in website
    report = by_id[("phu-thong-2025", "bao-cao-quy")].description
    assert report.startswith("Hằng quý, hạn ngày 15 của tháng cuối kỳ (giả định, chưa xác nhận:")


def test_report_deployments_run_ahead_of_the_due_date() -> None:
    phu_thai = next(p for p in PLANS if p.id == "phu-thai-2025h2")
    reports = [s for s in plan_deployments(phu_thai) if s.parameters.get("report_id") == "bao-cao-quy"]
    assert reports and "report_duty" in reports[0].entrypoint
    rrule = reports[0].schedules[0]["rrule"]
    # Runs on the ladder's days at 08:00, when each step falls due (due Wed 10 Sep, 6-7 Sep a weekend):
    # reminders 3 and 9 Sep, overdue 11 Sep, escalation 18 Sep.
    for day in ("20250903", "20250909", "20250911", "20250918"):
        assert f"{day}T080000" in rrule, day
    # The units' report (due 5 Sep, the plan's date) runs on its own ladder days, over the 1-2 Sep holidays:
    # reminders 27 Aug and 4 Sep, overdue 8 Sep, escalation 15 Sep.
    units = next(s for s in plan_deployments(phu_thai) if s.parameters.get("duty_id") == "bao-cao-don-vi")
    assert "unit_report_duty" in units.entrypoint
    for day in ("20250827", "20250904", "20250908", "20250915"):
        assert f"{day}T080000" in units.schedules[0]["rrule"], day


def test_continuous_duties_also_run_on_their_ladder_days() -> None:
    for plan in PLANS:
        for d in plan.duties:
            if d.kind.value != "continuous":
                continue
            spec = next(s for s in plan_deployments(plan) if s.parameters.get("duty_id") == d.id)
            assert spec.schedules[0]["rrule"].count("FREQ=WEEKLY") == 1


def test_adding_a_plan_adds_its_deployments_and_removing_it_removes_them() -> None:
    demo = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))
    before = {s.name for s in all_deployments(PLANS)}
    after = {s.name for s in all_deployments([*PLANS, demo])}
    # The demo plan is of Phủ Thông, August to December 2025, like phu-thong-2025: both plans' names carry their ids.
    ids = {"phu-thong-2025", "demo"}
    assert {n for n in after if not n.endswith(tuple(f"({i})" for i in ids))} == {
        n for n in before if "Phủ Thông 8–12.2025" not in n
    }
    assert {n for n in after if n.endswith("(demo)")} == {f"{s.name} (demo)" for s in plan_deployments(demo)}
    assert len(after) == len(before) + len(plan_deployments(demo))
    assert {s.name for s in all_deployments(PLANS[1:])} == before - {s.name for s in plan_deployments(PLANS[0])}


def test_runner_deployments_carry_schedules_and_the_evidence_trigger() -> None:
    demo = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))
    spec = next(s for s in plan_deployments(demo) if s.parameters.get("duty_id") == "posts")
    runner = to_runner(spec)
    assert runner.parameters == {"plan_id": "demo", "duty_id": "posts"}
    assert runner.schedules and runner.schedules[0].schedule.timezone == "Asia/Ho_Chi_Minh"  # type: ignore[union-attr]
    trig = runner.triggers[0]
    assert trig.expect == {"cchc.evidence.recorded"}  # type: ignore[union-attr]
    assert "cchc" in (runner.tags or [])


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
async def test_prune_deletes_deployments_no_spec_produces(cchc_env: Settings) -> None:
    from prefect.client.orchestration import get_client

    from flows.serve import ato_runner, prune

    demo = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))
    runners = [await ato_runner(s) for s in plan_deployments(demo)]
    for r in runners:
        await r.apply()
    removed = await prune(runners[1:])
    assert removed == [runners[0].name]
    async with get_client() as client:
        names = {d.name for d in await client.read_deployments()}
    assert runners[0].name not in names and runners[1].name in names


def test_every_flow_parameter_has_a_vietnamese_description_for_the_ui_form() -> None:
    from prefect.utilities.callables import parameter_schema

    for spec in all_deployments(PLANS):
        flow = load_flow(spec.entrypoint)
        props = parameter_schema(flow.fn).model_dump()["properties"]
        for name, prop in props.items():
            assert prop.get("description"), f"{spec.entrypoint}: parameter {name} has no description"


def test_a_report_runs_every_working_morning_from_its_draft_day_to_its_due_date() -> None:
    phu_thai = next(p for p in PLANS if p.id == "phu-thai-2025h2")
    spec = next(s for s in plan_deployments(phu_thai) if s.parameters.get("report_id") == "bao-cao-quy")
    rrule = spec.schedules[0]["rrule"]
    # Draft 03/09; 06-07/09 weekend; due at the end of 10/09.
    for day in ("20250903", "20250904", "20250905", "20250908", "20250909", "20250910"):
        assert f"{day}T080000" in rrule, day
    for day in ("20250902", "20250906", "20250907"):
        assert f"{day}T080000" not in rrule, day
    # The units' report, due 05/09: draft 27/08; 30-31/08 weekend, 01-02/09 holidays.
    units = next(s for s in plan_deployments(phu_thai) if s.parameters.get("duty_id") == "bao-cao-don-vi")
    rrule = units.schedules[0]["rrule"]
    for day in ("20250827", "20250828", "20250829", "20250903", "20250904", "20250905"):
        assert f"{day}T080000" in rrule, day
    for day in ("20250826", "20250830", "20250901", "20250902"):
        assert f"{day}T080000" not in rrule, day


DIGEST_SCRIPT = """
import dataclasses, hashlib, json, sys
from pathlib import Path
from cchc.core.deployments import all_deployments
from cchc.core.loader import load_plan
plans = [load_plan(Path(p)) for p in sys.argv[1:]]
text = json.dumps([dataclasses.asdict(s) for s in all_deployments(plans)], sort_keys=True, default=str)
print(hashlib.sha256(text.encode()).hexdigest())
"""


def test_every_deployment_definition_is_the_same_in_every_process() -> None:
    """Registration compares a hash of each definition: one that depended on the process (string hashing
    decides a set's order) was re-applied at every restart, and its form's lists changed order."""
    import subprocess
    import sys

    specs = [str(PLAN_DIR / f"{p}.yaml") for p in PLAN_IDS]
    digests = {
        subprocess.run(
            [sys.executable, "-c", DIGEST_SCRIPT, *specs],
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "4", "6")
    }
    assert len(digests) == 1, digests

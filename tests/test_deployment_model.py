"""The deployment model at province size (#16 item 3): the province profile keeps one deployment per duty and
report with its own cadence, name and evidence trigger, drops the per-plan forms and home pages, and runs one
mail pass for every plan; prefect.yaml is generated for any plan folder."""

from __future__ import annotations

import datetime as dt
import inspect
import shutil
from collections import Counter
from pathlib import Path

import pendulum
import pytest
import yaml
from typer.testing import CliRunner

from cchc.cli.main import app
from cchc.core.calendar import plan_occurrences
from cchc.core.communes import all_wards, province_name, short_name
from cchc.core.deployments import (
    ALL_MAIL_NAME,
    MANAGED_TAG,
    DeploymentSpec,
    all_deployments,
    deployment_name,
    duty_schedules,
    evidence_trigger,
    expected_runs,
    form_deployments,
    mail_schedule,
    plan_deployments,
    province_deployments,
)
from cchc.core.loader import load_plan
from cchc.core.spec import Commune, Plan, Report
from cchc.settings import Settings, get_settings
from flows.serve import load_flow
from tests.conftest import PLAN_DIR, PLAN_IDS

FIVE = [load_plan(PLAN_DIR / f"{p}.yaml") for p in PLAN_IDS]
HAI_PHONG = 31


def _province(code: int) -> list[Plan]:
    """One of the five real plans on every commune of the province, taken in turn (as bench/synth.py does)."""
    wards = sorted((w for w in all_wards() if int(w.province_code) == code), key=lambda w: int(w.code))
    out = []
    for i, w in enumerate(wards):
        base = FIVE[i % len(FIVE)]
        commune = Commune(name=short_name(w), province=province_name(w), code=int(w.code))
        out.append(base.model_copy(update={"id": f"{base.id}-{int(w.code)}", "commune": commune}))
    return out


@pytest.fixture(scope="module")
def province() -> tuple[list[Plan], list[DeploymentSpec]]:
    plans = _province(HAI_PHONG)
    return plans, all_deployments(plans, "province")


def _items(plan: Plan) -> list[tuple[str, object]]:
    return [*((d.id, d) for d in plan.duties), *((r.id, r) for r in plan.reports)]


def test_province_profile_keeps_every_duty_as_its_own_deployment_with_its_cadence(
    province: tuple[list[Plan], list[DeploymentSpec]],
) -> None:
    plans, specs = province
    assert len(plans) == 114
    names = [s.name for s in specs]
    assert len(names) == len(set(names)), [n for n, c in Counter(names).items() if c > 1]
    assert all(MANAGED_TAG in s.tags for s in specs)
    by_item = {
        (s.parameters["plan_id"], s.parameters.get("duty_id") or s.parameters.get("report_id")): s
        for s in specs
        if "plan_id" in s.parameters
    }
    assert len(by_item) == len(specs) - 2, "all but the mail pass and the province page stand for a duty or report"
    for n, plan in enumerate(plans):
        # The calendar does not depend on the commune: the first ten plans cover the five templates twice.
        every = plan_occurrences(plan) if n < 10 else None
        for item_id, item in _items(plan):
            spec = by_item[(plan.id, item_id)]
            assert isinstance(item, Report) == ("report_id" in spec.parameters)
            assert spec.name.startswith(deployment_name(plan, item))  # the short title first
            assert spec.schedules, spec.name
            if every is not None:
                assert spec.schedules == duty_schedules(plan, item, every), spec.name
            assert spec.triggers == [
                evidence_trigger(plan, item_id, "report_id" if isinstance(item, Report) else "duty_id")
            ]
    # The same duty deployments as the commune profile, name for name and schedule for schedule.
    commune = {s.name: s for s in all_deployments(plans[:10], "commune")}
    for s in all_deployments(plans[:10], "province"):
        if s.name != ALL_MAIL_NAME and "kind:province" not in s.tags:
            assert commune[s.name] == s


def test_province_profile_drops_forms_and_home_pages_and_has_one_mail_pass(
    province: tuple[list[Plan], list[DeploymentSpec]],
) -> None:
    plans, specs = province
    items = sum(len(p.duties) + len(p.reports) for p in plans)
    assert len(specs) == items + 2  # the one mail pass and the province page (Hải Phòng: one province)
    page = [s for s in specs if "kind:province" in s.tags]
    assert [(s.entrypoint, s.parameters) for s in page] == [("flows/province.py:province_home", {"province": "31"})]
    assert not [s for s in specs if "intake" in s.tags or "kind:home" in s.tags]
    mail = [s for s in specs if s.entrypoint.startswith(("flows/mail.py", "flows/mail_all.py"))]
    assert [s.name for s in mail] == [ALL_MAIL_NAME] and mail[0].entrypoint == "flows/mail_all.py:all_mail"
    # It runs whenever any plan's own mail pass would have run, and at no other moment.
    for start in (dt.datetime(2025, 7, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 5, tzinfo=dt.UTC)):
        end = start + dt.timedelta(days=7)
        per_plan = {m for p in FIVE for m in expected_runs(_mail_only(p), start, end)}
        shared = next(s for s in all_deployments(FIVE, "province") if s.name == ALL_MAIL_NAME)
        assert set(expected_runs(shared, start, end)) == per_plan
    # Far fewer deployments and automations than the commune profile (figures in bench/bench_deployments.py).
    some = plans[:15]
    per_plan_extras = sum(2 + len(form_deployments(p)) for p in some)  # its mail pass, its home page, its forms
    pages = len(province_deployments(some))  # one province page each (here Hải Phòng alone)
    assert pages == 1
    assert len(all_deployments(some, "commune")) - len(all_deployments(some, "province")) == per_plan_extras - 1 - pages


def _mail_only(plan: Plan) -> DeploymentSpec:
    return DeploymentSpec("m", "flows/mail.py:plan_mail", "", {}, [], schedules=mail_schedule(plan))


def test_every_schedule_has_its_dtstart_and_every_entrypoint_takes_its_parameters(
    province: tuple[list[Plan], list[DeploymentSpec]],
) -> None:
    _, specs = province
    # Prefect puts 2020-01-01 before a rule without DTSTART, and the scheduler walks from there (Prefect#18861).
    assert all(s["rrule"].startswith("DTSTART:") for spec in specs for s in spec.schedules)
    for entrypoint in {s.entrypoint for s in specs}:
        spec = next(s for s in specs if s.entrypoint == entrypoint)
        params = inspect.signature(load_flow(entrypoint).fn).parameters
        assert set(spec.parameters) <= set(params), entrypoint
        required = {n for n, p in params.items() if p.default is inspect.Parameter.empty}
        assert required <= set(spec.parameters), entrypoint


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="commune, province"):
        plan_deployments(FIVE[0], "tinh")  # type: ignore[arg-type]


def test_deployments_write_generates_prefect_yaml_for_a_plan_folder(cchc_env: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "plans"
    folder.mkdir()
    for p in PLAN_IDS[:2]:
        shutil.copy(PLAN_DIR / f"{p}.yaml", folder / f"{p}.yaml")
    out = tmp_path / "prefect.yaml"
    runner = CliRunner()
    result = runner.invoke(app, ["deployments", "--write", str(out), "--plans", str(folder), "--profile", "province"])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(out.read_text(encoding="utf-8"))
    plans = FIVE[:2]
    want = all_deployments(plans, "province")
    assert [d["name"] for d in doc["deployments"]] == [s.name for s in want]
    assert f"({len(want)} deployments, " in result.output and "KiB)" in result.output
    assert {d["work_pool"]["name"] for d in doc["deployments"]} == {"cchc"}
    pages = len(province_deployments(plans))  # one province page for each province of these plans
    assert pages >= 1
    assert [d["entrypoint"] for d in doc["deployments"][-1 - pages :]] == [
        "flows/mail_all.py:all_mail",
        *["flows/province.py:province_home"] * pages,
    ]
    check = runner.invoke(app, ["deployments", "--check", str(out), "--plans", str(folder), "--profile", "province"])
    assert check.exit_code == 0, check.output
    # The commune profile of the same folder differs: the check says so.
    stale = runner.invoke(app, ["deployments", "--check", str(out), "--plans", str(folder)])
    assert stale.exit_code == 1 and "out of date" in stale.output
    missing = runner.invoke(app, ["deployments", "--write", str(out), "--plans", str(tmp_path / "nowhere")])
    assert missing.exit_code != 0 and "nowhere" in missing.output
    bad = runner.invoke(app, ["deployments", "--profile", "tinh"])
    assert bad.exit_code != 0 and "commune, province" in bad.output


def test_serve_and_the_cli_follow_the_profile_setting(cchc_env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.serve import wanted_specs

    monkeypatch.setenv("CCHC_DEPLOYMENT_PROFILE", "province")
    get_settings.cache_clear()
    specs = wanted_specs()
    assert [s.name for s in specs] == [s.name for s in all_deployments(FIVE, "province")]
    listed = CliRunner().invoke(app, ["deployments", "--json"])
    assert listed.exit_code == 0 and "flows/mail_all.py:all_mail" in listed.output and "intake" not in listed.output


@pytest.mark.anyio
@pytest.mark.usefixtures("prefect_harness")
async def test_the_one_mail_pass_sends_each_plans_mail_once_and_skips_plans_outside_their_days(
    demo_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.mail_all import all_mail
    from tests.mailserver import MailServer

    shutil.copy(PLAN_DIR / "chi-minh-2026.yaml", demo_env.plan_dir / "chi-minh-2026.yaml")  # starts in 2026
    server = MailServer().start()
    try:
        monkeypatch.setenv("CCHC_SMTP_URL", server.url)
        get_settings.cache_clear()
        monday = pendulum.datetime(2025, 10, 20, 8, 5, tz="Asia/Ho_Chi_Minh")
        first = await all_mail(at=monday)
        assert set(first["plans"]) == {"demo"}, "a plan outside its mail days is left out"
        assert first["plans"]["demo"]["mail"]["sent"] >= 1
        assert "[CCHC xã Phủ Thông] Tình hình tuần 43/2025" in {r.subject for r in server.received}
        again = await all_mail(at=monday)
        assert again["plans"]["demo"]["mail"]["sent"] == 0, "each message once"
    finally:
        server.stop()

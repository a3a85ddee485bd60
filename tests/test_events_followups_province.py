"""`cchc assumption confirm|change PROVINCE`: the province summary report's assumed rule, decided like a plan's.

The decision is stored with its audit row (the spec file stays as written), the province report reads the spec
with it applied, and bad input is refused with the same errors as for a plan, nothing stored.
Real components: the `cchc` command in-process, the real plan folder and `_province.yaml`, a scratch SQLite store.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cchc.app import province_report
from cchc.app.province import resolve_province
from cchc.app.service import engine_for
from cchc.cli.main import app as cli
from cchc.settings import Settings
from cchc.store.db import session_scope
from cchc.store.models import AssumptionDecisionRow, AuditRow
from tests.conftest import PLAN_DIR

runner = CliRunner()
SPEC = PLAN_DIR / "hai-phong" / "_province.yaml"


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.output


def decisions(settings: Settings) -> list[tuple[str, str, str, str]]:
    with session_scope(engine_for(settings)) as s:
        rows = s.scalars(select(AssumptionDecisionRow).order_by(AssumptionDecisionRow.id))
        return [(r.plan_id, r.item_id, r.aspect, r.action) for r in rows]


def test_the_department_confirms_then_changes_the_due_rule_and_the_report_reads_it(cchc_env: Settings) -> None:
    written = SPEC.read_bytes()
    code, out = run("assumptions", "31", "--json")
    assert code == 0, out
    listed = {a["aspect"]: a for a in json.loads(out)}
    assert listed["due"]["confirmed"] is None and listed["due"]["rule"] == "ngày 19 của tháng cuối kỳ"
    hai_phong = resolve_province("31")
    assert province_report.province_spec(cchc_env, hai_phong).due_assumed

    code, out = run("assumption", "confirm", "Hải Phòng", "--reason", "Công văn 7/UBND-NC", "--by", "Trần Lan, SNV")
    assert code == 0, out
    assert "hạn của Báo cáo tổng hợp" in out and "Trần Lan, SNV xác nhận ngày" in out
    spec = province_report.province_spec(cchc_env, hai_phong)
    assert not spec.due_assumed and spec.due_day("2025-Q4").isoformat() == "2025-12-19"

    # Changed by the folder's name: the new day acts, and the change is the confirmed rule.
    code, out = run(
        "assumption", "change", "hai-phong", "--due-day", "15", "--reason", "Quyết định 9/QĐ", "--by", "Lan"
    )
    assert code == 0, out
    spec = province_report.province_spec(cchc_env, hai_phong)
    assert spec.due_day("2025-Q4").isoformat() == "2025-12-15" and not spec.due_assumed
    code, out = run("assumptions", str(SPEC))
    assert code == 0 and "hạn: ngày 15 của tháng cuối kỳ" in out and "Lan điều chỉnh ngày" in out, out

    assert decisions(cchc_env) == [("province-31", "", "due", "confirm"), ("province-31", "", "due", "change")]
    with session_scope(engine_for(cchc_env)) as s:
        audited = [(a.action, a.actor, a.reason) for a in s.scalars(select(AuditRow).order_by(AuditRow.id))]
    assert audited == [
        ("assumption.confirm", "Trần Lan, SNV", "Công văn 7/UBND-NC"),
        ("assumption.change", "Lan", "Quyết định 9/QĐ"),
    ]
    assert SPEC.read_bytes() == written  # decided in the store, not by rewriting the YAML

    # `cchc audit` takes the province as it takes a plan: the department's decisions, newest first.
    code, out = run("audit", "31", "--json")
    assert code == 0, out
    assert [(r["action"], r["actor"], r["reason"]) for r in json.loads(out)] == audited[::-1]
    code, out = run("audit", "hai-phong")
    assert code == 0 and "assumption.change" in out and "Quyết định 9/QĐ" in out, out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("confirm", "{ref}", "--reason", " ", "--by", "Lan"), "a decision needs a reason (--reason)"),
        (("confirm", "{ref}", "--reason", "x", "--by", " "), "say who decides (--by)"),
        (("change", "{ref}", "--aspect", "cadence", "--reason", "x", "--by", "Lan"), "a cadence changes the"),
        (("change", "{ref}", "--reason", "x", "--by", "Lan"), "a change of the due needs its new value"),
    ],
)
def test_bad_decisions_are_refused_as_for_a_plan_and_store_nothing(
    cchc_env: Settings, args: tuple[str, ...], message: str
) -> None:
    """The same refusal, word for word, for the province (by code) and for a plan's assumed report due rule."""
    code, province = run("assumption", *(a.format(ref="31") for a in args))
    assert code == 2 and message in province, province
    plan_args = [a.format(ref="phu-thai-2025h2") for a in args]
    code, plan = run("assumption", *plan_args[:2], "bao-cao-quy", *plan_args[2:])
    assert code == 2 and message in plan, plan
    assert decisions(cchc_env) == []


def test_what_the_summary_report_does_not_have_is_refused_with_what_to_do(cchc_env: Settings) -> None:
    code, out = run("assumption", "confirm", "31", "--aspect", "count", "--reason", "x", "--by", "Lan")
    assert code == 2 and "the summary report has no count" in out
    code, out = run("assumption", "confirm", "31", "bao-cao-quy", "--reason", "x", "--by", "Lan")
    assert code == 2 and "give no duty or report id" in out
    code, out = run("assumption", "confirm", "Hà Nội", "--reason", "x", "--by", "Lan")
    assert code == 2 and "chưa có tệp _province.yaml của Thành phố Hà Nội" in out
    code, out = run("assumption", "change", "31", "--min-count", "2", "--reason", "x", "--by", "Lan")
    assert code == 2 and "no count" in out
    assert decisions(cchc_env) == []

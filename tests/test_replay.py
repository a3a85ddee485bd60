"""`cchc replay`: the scheduled passes of a plan over a range of days, in one process, as the flows run them."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cchc.app import replay as rp
from cchc.app import service
from cchc.cli.main import app
from cchc.core.deployments import plan_deployments
from cchc.settings import Settings, get_settings
from cchc.store import outbox as ob
from cchc.store.db import session_scope

runner = CliRunner()
PLAN = "phu-thong-2025"
WEEK = (dt.date(2025, 9, 29), dt.date(2025, 10, 5))  # the Q3 and September due dates fall inside it


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def outbox_of(settings: Settings, plan_id: str = PLAN) -> set[tuple[Any, ...]]:
    """What a person would see of the outbox: which message, to whom, for what, and whether it went."""
    with session_scope(service.engine_for(settings)) as s:
        return {
            (r.key, r.status, r.step, r.unit_id, r.duty_id, r.period, r.recipient, r.subject)
            for r in ob.rows(s, plan_id)
        }


def statuses_of(settings: Settings) -> dict[tuple[str, str], str | None]:
    with sqlite3.connect(settings.home / "cchc.db") as c:
        return {(d, p): s for d, p, s in c.execute("select duty_id, period, status from occurrences")}


async def run_flows(plan_id: str, start: dt.date, end: dt.date) -> int:
    """Every scheduled run of the range through the flows themselves (``.fn()``), at its scheduled moment."""
    plan = service.resolve_plan(plan_id, get_settings())
    specs = {s.name: s for s in plan_deployments(plan)}
    runs = rp.scheduled_runs(plan, start, end)
    for run in runs:
        spec = specs[run.deployment]
        flow = getattr(importlib.import_module(spec.flow_file.removesuffix(".py").replace("/", ".")), spec.flow_name)
        await flow.fn(**spec.parameters, at=run.moment)
    return len(runs)


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.anyio
async def test_replay_gives_the_outbox_and_statuses_the_flows_give_for_a_week_of_phu_thong(
    cchc_env: Settings, tmp_path: Path
) -> None:
    plan = service.resolve_plan(PLAN, cchc_env)
    runs = rp.scheduled_runs(plan, *WEEK)
    assert {r.flow for r in runs} == {"duty", "mail"}  # no report drafting this week: the flows would pause for it
    assert await run_flows(PLAN, *WEEK) == len(runs) > 100
    by_flows = outbox_of(cchc_env)

    replayed = rp.scratch_settings(cchc_env, tmp_path / "replay")
    result = await rp.areplay(replayed, plan, *WEEK)
    everything = rp.scratch_settings(cchc_env, tmp_path / "every-pass")
    await rp.areplay(everything, plan, *WEEK, every_pass=True)

    assert len(by_flows) > 40
    assert {row[1] for row in by_flows} == {ob.SENT, ob.SKIPPED}
    assert outbox_of(replayed) == by_flows
    assert outbox_of(everything) == by_flows
    assert statuses_of(replayed) == statuses_of(cchc_env) == statuses_of(everything)
    # Elided passes are the ones that could change nothing: most mail passes, many daily duty runs.
    assert result.executed["mail"] < result.scheduled["mail"] / 5
    assert result.executed["duty"] < result.scheduled["duty"]


def test_a_known_week_status_changes_and_messages_day_by_day(cchc_env: Settings) -> None:
    code, out, err = cli("replay", PLAN, "--from", "2025-09-29", "--to", "2025-10-05", "--json")
    assert code == 0, err
    data = json.loads(out)
    days = {d["day"]: d for d in data["days"]}
    assert list(days) == sorted(days) and set(days) <= {
        f"2025-{m}" for m in ("09-29", "09-30", *(f"10-0{i}" for i in range(1, 6)))
    }

    def change(day: str, item: str, period: str) -> tuple[str | None, str]:
        (c,) = [c for c in days[day]["changes"] if c["item"] == item and c["period"] == period]
        return c["from"], c["to"]

    # The website quota of September: reminded on the 29th, missed when September closed.
    assert change("2025-09-29", "ttdvth-tin-bai-website", "2025-09") == (None, "due_soon")
    assert change("2025-10-01", "ttdvth-tin-bai-website", "2025-09") == ("due_soon", "missed")
    # A Q3 deadline turns overdue on 1 October (its window is still open), a continuous duty is missed.
    assert change("2025-10-01", "kt-kinh-phi", "2025-Q3") == ("due_soon", "overdue")
    assert change("2025-10-01", "vp-tiep-cong-dan", "2025-Q3") == ("due_soon", "missed")

    def sent(day: str, step: str) -> list[dict[str, Any]]:
        return [m for m in days[day]["messages"] if m["step"] == step and m["outcome"] == "sent"]

    (progress,) = sent("2025-09-29", "progress")
    assert progress["item"] == "ttdvth-tin-bai-website" and progress["to"] == "ttdvth@phu-thong.example"
    assert progress["at"].startswith("2025-09-29T08:00")
    (digest,) = sent("2025-09-29", "digest")
    assert digest["to"] == "vhxh@phu-thong.example" and "Tình hình tuần 40/2025" in digest["subject"]
    # An overdue notice for the deadline that can still be done, on the first working day after it.
    assert any(m["item"] == "kt-kinh-phi" for m in sent("2025-10-01", "overdue"))
    # The first reminder of a Q3 duty fell before the replay began: recorded as skipped, never sent late.
    first = [m for m in days["2025-09-29"]["messages"] if m["step"] == "reminder-1"]
    assert first and {m["outcome"] for m in first} == {"skipped"}
    assert not days.get("2025-10-04") and not days.get("2025-10-05")  # a weekend with nothing due

    # The text log says the same, in Vietnamese.
    code, text, err = cli("replay", PLAN, "--from", "2025-09-29", "--to", "2025-10-05")
    assert code == 0, err
    assert "01/10/2025" in text
    assert "ttdvth-tin-bai-website 2025-09: sắp đến hạn → không đạt" in text
    assert "sẽ gửi      [progress] ttdvth@phu-thong.example" in text
    assert "Tổng kết" in text and "trạng thái cuối kỳ:" in text


def test_json_shape_and_summary_add_up(cchc_env: Settings) -> None:
    code, out, err = cli("replay", "chi-minh-2026", "--from", "2026-03-25", "--to", "2026-04-10", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"plan", "from", "to", "store", "mode", "transport", "runs", "days", "summary", "problems"}
    assert (data["plan"], data["from"], data["to"], data["store"], data["mode"]) == (
        "chi-minh-2026",
        "2026-03-25",
        "2026-04-10",
        "scratch",
        "dry-run",
    )
    assert data["runs"]["scheduled"] >= data["runs"]["executed"] > 0
    messages = [m for d in data["days"] for m in d["messages"]]
    assert messages and all(
        set(m) == {"at", "key", "outcome", "step", "unit", "item", "period", "to", "subject", "detail"}
        for m in messages
    )
    summary = data["summary"]
    assert summary["messages"]["total"] == len(messages)
    sent = [m for m in messages if m["outcome"] == "sent"]
    assert sum(summary["messages"]["sent_by_step"].values()) == len(sent) == summary["messages"]["by_outcome"]["sent"]
    assert sum(summary["messages"]["sent_by_unit"].values()) == len(sent)
    occ = summary["statuses"]["occurrences"]
    assert occ and sum(summary["statuses"]["counts"].values()) == len(occ)
    assert all(o["status_vi"] and o["due"] for o in occ)


def _real_store_snapshot(settings: Settings) -> tuple[Any, ...]:
    with sqlite3.connect(settings.home / "cchc.db") as c:
        return tuple(
            tuple(c.execute(f"select * from {t} order by 1").fetchall())
            for t in ("outbox", "occurrences", "evidence", "audit", "report_runs")
        )


def test_scratch_leaves_the_real_store_untouched_and_store_send_writes_to_it(cchc_env: Settings) -> None:
    # The real store has a history of its own: a pass of 1 October and a piece of evidence.
    code, _, err = cli("tick", PLAN, "--at", "2025-10-01T08:00:00+07:00")
    assert code == 0, err
    code, _, err = cli(
        "evidence", "add", PLAN, "ttdvth-tin-bai-website", "--kind", "post", "--title", "Tin CCHC",
        "--date", "2025-10-02", "--url", "https://phuthong.example/tin-1",
    )  # fmt: skip
    assert code == 0, err
    before = _real_store_snapshot(cchc_env)
    eml_before = sorted(cchc_env.mail_dir.glob("*.eml"))

    code, out, err = cli("replay", PLAN, "--from", "2025-10-01", "--to", "2025-10-31", "--json")
    assert code == 0, err
    assert json.loads(out)["summary"]["messages"]["by_outcome"]["sent"] > 0
    assert _real_store_snapshot(cchc_env) == before
    assert sorted(cchc_env.mail_dir.glob("*.eml")) == eml_before

    code, _, err = cli("replay", PLAN, "--from", "2025-10-01", "--to", "2025-10-31", "--store")
    assert code == 2 and "--store cần --send" in err and len(err.strip().splitlines()) == 1
    assert _real_store_snapshot(cchc_env) == before

    code, out, err = cli("replay", PLAN, "--from", "2025-10-01", "--to", "2025-10-31", "--store", "--send", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["store"].startswith("sqlite:///") and data["mode"] == "send"
    replayed = {m["key"] for d in data["days"] for m in d["messages"] if m["outcome"] == "sent"}
    rows = {r[0]: r[1] for r in outbox_of(cchc_env)}
    assert replayed and all(rows[k] == ob.SENT for k in replayed)
    assert len(sorted(cchc_env.mail_dir.glob("*.eml"))) == len(eml_before) + len(replayed)  # the configured transport
    # The evidence of 2 October counts in the replay on the real store: October's quota saw one post.
    occ = {(o["item"], o["period"]): o for o in data["summary"]["statuses"]["occurrences"]}
    assert occ[("ttdvth-tin-bai-website", "2025-10")]["count"] == 1


def test_report_drafted_approved_signed_and_sent_from_the_file(cchc_env: Settings, tmp_path: Path) -> None:
    approvals = tmp_path / "duyet.yaml"
    approvals.write_text(
        "- {report: bao-cao-quy, period: 2025-Q4, decision: approve, number: 45/BC-UBND, date: 2025-12-10,\n"
        "   eoffice: 120/BC-UBND, sent: 2025-12-11}\n",
        encoding="utf-8",
    )
    code, out, err = cli(
        "replay", PLAN, "--from", "2025-12-01", "--to", "2025-12-20", "--approvals", str(approvals), "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    quarter = [(d["day"], r["what"]) for d in data["days"] for r in d["reports"] if r["report"] == "bao-cao-quy"]
    assert quarter[0][1].startswith("lập dự thảo bản 1")
    assert ("2025-12-10", "duyệt, số 45/BC-UBND") in quarter
    assert ("2025-12-10", "bản Word và PDF gửi đơn vị tổng hợp để trình ký; chờ ký") in quarter
    assert ("2025-12-11", "đã ký, gửi qua e-office số 120/BC-UBND") in quarter
    occ = {(o["item"], o["period"]): o for o in data["summary"]["statuses"]["occurrences"]}
    assert occ[("bao-cao-quy", "2025-Q4")]["status"] == "met"
    changes = [c for d in data["days"] for c in d["changes"] if c["item"] == "bao-cao-quy" and c["period"] == "2025-Q4"]
    assert changes[-1]["to"] == "met" and changes[-1]["at"].startswith("2025-12-11")
    assert data["summary"]["messages"]["sent_by_step"].get("report:draft", 0) >= 1

    # Approved but never signed: it waits for the signature and is not met.
    approvals.write_text(
        "- {report: bao-cao-quy, period: 2025-Q4, number: 45/BC-UBND, date: 2025-12-10}\n", encoding="utf-8"
    )
    code, out, err = cli(
        "replay", PLAN, "--from", "2025-12-01", "--to", "2025-12-20", "--approvals", str(approvals), "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    whats = [r["what"] for d in data["days"] for r in d["reports"] if r["report"] == "bao-cao-quy"]
    assert whats[-1] == "bản Word và PDF gửi đơn vị tổng hợp để trình ký; chờ ký"
    occ = {(o["item"], o["period"]): o for o in data["summary"]["statuses"]["occurrences"]}
    assert occ[("bao-cao-quy", "2025-Q4")]["status"] != "met"

    # Without a decision the draft waits and the leader is told before the due date.
    code, out, err = cli("replay", PLAN, "--from", "2025-12-01", "--to", "2025-12-20", "--json")
    assert code == 0, err
    data = json.loads(out)
    whats = [r["what"] for d in data["days"] for r in d["reports"] if r["report"] == "bao-cao-quy"]
    assert "chưa duyệt sát hạn: báo lãnh đạo" in whats and not any(w.startswith("duyệt") for w in whats)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["khong-co", "--from", "2025-10-01", "--to", "2025-10-07"], "unknown plan 'khong-co'"),
        ([PLAN, "--from", "2025-10-08", "--to", "2025-10-01"], "--from 2025-10-08 sau --to 2025-10-01"),
        ([PLAN, "--from", "2025-13-01", "--to", "2025-12-31"], "--from '2025-13-01' không phải ngày dạng YYYY-MM-DD"),
        ([PLAN, "--from", "2025-10-01", "--to", "mai"], "--to 'mai' không phải ngày dạng YYYY-MM-DD"),
        ([PLAN, "--from", "2025-10-01", "--to", "2025-10-02", "--at-hour", "24"], "--at-hour 24: giờ phải từ 0 đến 23"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(cchc_env: Settings, args: list[str], words: str) -> None:
    code, out, err = cli("replay", *args)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and words in err


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("- {report: bao-cao-quy, period: 2025-Q4, number: 1/BC\n", "duyet.yaml:2: không đọc được YAML"),
        ("report: bao-cao-quy\n", "duyet.yaml:1: tệp quyết định duyệt phải là một danh sách"),
        ("- {report: bao-cao-quy, period: 2025-Q4, number: 1/BC}\n- {report: bao-cao-quy, period: 2025-Q9, number: 2/BC}\n",
         "duyet.yaml:2: mục 2: report bao-cao-quy of plan phu-thong-2025 has no period '2025-Q9'"),
        ("- {report: bao-cao-quy, period: 2025-Q4}\n", "duyet.yaml:1: mục 1: duyệt báo cáo cần số văn bản"),
        ("- {report: bao-cao-quy, period: 2025-Q4, number: 1/BC, decision: ok}\n", "duyet.yaml:1: mục 1, trường 'decision'"),
    ],
)  # fmt: skip
def test_a_bad_approvals_file_names_its_line(cchc_env: Settings, tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "duyet.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = cli("replay", PLAN, "--from", "2025-12-01", "--to", "2025-12-02", "--approvals", str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err

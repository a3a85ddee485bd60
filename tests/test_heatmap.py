"""The plan at a glance: the heatmap grid (pure), its drawing (SVG/PNG), the "Tuần này" home page, and the
report's figure in HTML and DOCX."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import struct
from pathlib import Path

import pendulum
import pytest
from docx import Document

from cchc.app import heatmap as drawing
from cchc.app.report_render import render_docx, render_html
from cchc.core.assemble import EvidenceItem, assemble
from cchc.core.calendar import plan_occurrences
from cchc.core.evaluate import Tally, judge
from cchc.core.heatmap import ASSUMED_LEGEND, CELL_VI, Cell, Span, plan_grid
from cchc.core.home import FailedRun, FailingSource, HomeState, WaitingReport, home_key, home_markdown
from cchc.core.loader import parse_plan
from cchc.settings import Settings
from cchc.store.repo import Judged
from tests.conftest import FIXTURES, PLAN_DIR

TZ = "Asia/Ho_Chi_Minh"
DEMO = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))
PHU_THONG = parse_plan((PLAN_DIR / "phu-thong-2025.yaml").read_text(encoding="utf-8"))
AT = pendulum.datetime(2025, 9, 29, 9, tz=TZ)  # a Monday


def _judged(plan=DEMO, at=AT, counts=None, waived=()):  # type: ignore[no-untyped-def]
    counts = counts or {}
    out = []
    for o in plan_occurrences(plan):
        n = counts.get((o.duty, o.period), 0)
        out.append(Judged(o, judge(o, Tally(on_time=n, waived=(o.duty, o.period) in waived), at), n, 0))
    return out


DEMO_JUDGED = _judged(counts={("posts", "2025-08"): 3, ("posts", "2025-09"): 1})


def test_the_grid_puts_each_occurrence_under_its_months_with_its_status_and_count() -> None:
    grid = plan_grid(DEMO, DEMO_JUDGED, AT)
    assert [r.label for r in grid.rows] == ["1. Đăng tin", "2. Hội thi", "3. Báo cáo quý"]
    assert grid.columns == ("T8/2025", "T9/2025", "T10/2025", "T11/2025", "T12/2025")
    assert grid.title == "Xã Phủ Thông: tình trạng các nhiệm vụ theo tháng"
    assert grid.caption == "Tính đến ngày 29/09/2025 (giờ Việt Nam, UTC+7)"
    assert grid.now_column == pytest.approx(1 + 28 / 30)
    posts = [s for s in grid.spans if s.row == 0]
    assert posts == [
        Span(0, 0, 0, Cell.met, "2025-08", "3/3"),
        Span(0, 1, 1, Cell.open, "2025-09", "1/3"),  # due soon: still open
        Span(0, 2, 2, Cell.upcoming, "2025-10", ""),
        Span(0, 3, 3, Cell.upcoming, "2025-11", ""),
        Span(0, 4, 4, Cell.upcoming, "2025-12", ""),
    ]
    # A quarter spans its months, clipped to the plan's (Q3 starts in July, the plan in August).
    assert [s for s in grid.spans if s.row == 1] == [Span(1, 0, 1, Cell.open, "2025-Q3", "")]
    assert [(s.first, s.last, s.cell) for s in grid.spans if s.row == 2] == [
        (0, 1, Cell.overdue),
        (2, 4, Cell.upcoming),
    ]
    late = _judged(at=pendulum.datetime(2025, 12, 2, 9, tz=TZ), waived={("posts", "2025-10")})
    cells = {
        s.period: s.cell for s in plan_grid(DEMO, late, pendulum.datetime(2025, 12, 2, 9, tz=TZ)).spans if s.row == 0
    }
    assert cells["2025-09"] is Cell.missed and cells["2025-10"] is Cell.waived and cells["2025-12"] is Cell.open


def test_the_grid_marks_rules_resting_on_an_unconfirmed_assumption() -> None:
    at = pendulum.datetime(2025, 10, 10, 9, tz=TZ)
    grid = plan_grid(PHU_THONG, _judged(PHU_THONG, at), at)
    marks = {r.item: r.assumed for r in grid.rows}
    assert marks["ttdvth-tin-bai-website"] is False  # "ít nhất 3 tin bài mỗi tháng": the plan's own words
    assert marks["bao-cao-quy"] is True  # the report's day is the coordinator's assumption
    assert grid.assumed


def test_the_picture_is_deterministic_small_labelled_and_has_a_legend_for_every_status() -> None:
    grid = plan_grid(DEMO, DEMO_JUDGED, AT)
    svg = drawing.render_svg(grid)
    assert svg == drawing.render_svg(grid), "unchanged status gives identical bytes"
    assert svg.startswith(b"<?xml") and 5_000 < len(svg) < 80_000
    text = svg.decode()
    assert "<dc:date>" not in text and "Matplotlib" not in text  # no moment or tool in the metadata
    for label in ("Xã Phủ Thông: tình trạng các nhiệm vụ theo tháng", "1. Đăng tin", "T10/2025", "3/3", "hôm nay"):
        assert label in text
    for word in CELL_VI.values():
        assert word in text, f"legend entry for {word}"
    assert ASSUMED_LEGEND not in text  # the demo assumes nothing
    other = plan_grid(DEMO, _judged(counts={("posts", "2025-08"): 3, ("posts", "2025-09"): 2}), AT)
    assert drawing.render_svg(other) != svg and other.fingerprint() != grid.fingerprint()

    at = pendulum.datetime(2025, 10, 10, 9, tz=TZ)
    assumed = drawing.render_svg(plan_grid(PHU_THONG, _judged(PHU_THONG, at), at)).decode()
    assert ASSUMED_LEGEND in assumed and "Báo cáo" in assumed and " *" in assumed
    assert len(assumed) < 80_000

    png = drawing.render_png(grid)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == drawing.render_png(grid)
    width, height = struct.unpack(">II", png[16:24])
    assert width > 600 and height > 300


def test_a_picture_already_drawn_for_the_same_grid_is_read_back_not_drawn_again(tmp_path: Path) -> None:
    grid = plan_grid(DEMO, DEMO_JUDGED, AT)
    first = drawing.cached_svg(grid, tmp_path)
    cached = list(tmp_path.iterdir())
    assert len(cached) == 1 and cached[0].read_bytes() == first
    cached[0].write_bytes(b"<svg>da-co</svg>")  # a redraw would overwrite this
    assert drawing.cached_svg(grid, tmp_path) == b"<svg>da-co</svg>"
    uri = drawing.data_uri(first)
    assert uri.startswith("data:image/svg+xml;base64,") and base64.b64decode(uri.split(",", 1)[1]) == first


def test_the_home_page_lists_the_week_the_late_the_waiting_the_failing_with_links_and_the_picture() -> None:
    at = pendulum.datetime(2025, 10, 28, 9, tz=TZ)
    judged = _judged(PHU_THONG, at, counts={("ttdvth-tin-bai-website", "2025-10"): 1})
    since = pendulum.datetime(2025, 10, 27, 1, tz="UTC")
    state = HomeState(
        judged=judged,
        waiting=[WaitingReport("bao-cao-quy", "2025-Q4", "drafted", dt.date(2025, 12, 5))],
        sources=[FailingSource("ttdvth-tin-bai-website", "https://phuthong.example/rss", since, "HTTP 503")],
        runs=[FailedRun("phu-thong-2025:vhxh-cuoc-thi", "Crashed", since, "0b7c2a3e-1111-2222-3333-444455556666")],
        deployments={"ttdvth-tin-bai-website": "9f0e8d7c-aaaa-bbbb-cccc-ddddeeeeffff"},
        artifacts={"Tình trạng các nhiệm vụ": "plan-phu-thong-2025-status"},
        heatmap="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
    )
    md = home_markdown(PHU_THONG, at, state)
    assert home_key("phu-thong-2025") == "plan-phu-thong-2025-tuan-nay"
    assert md.startswith("# Xã Phủ Thông — Tuần này (27/10/2025–02/11/2025)\n")
    assert "Cập nhật lúc 09:00 ngày 28/10/2025 (giờ Việt Nam, UTC+7)." in md
    assert "[Tình trạng các nhiệm vụ](/artifacts/key/plan-phu-thong-2025-status)" in md
    week = md.split("## Đến hạn trong tuần")[1].split("## Quá hạn")[0]
    website = (
        "- **hạn 31/10/2025** — [Đăng tải tin, bài, văn bản chỉ đạo cải cách hành chính trên Trang thông tin "
        "điện tử xã](/deployments/deployment/"
        "9f0e8d7c-aaaa-bbbb-cccc-ddddeeeeffff), tháng 10/2025: 1/3, sắp đến hạn"
    )
    assert any(line.startswith(website) for line in week.splitlines()), week
    waiting = md.split("## Báo cáo chờ duyệt")[1].split("##")[0]
    assert "quý IV/2025: **chờ duyệt**, hạn 05/12/2025" in waiting
    assert "https://phuthong.example/rss — lỗi từ 08:00 ngày 27/10/2025 (giờ Việt Nam, UTC+7): HTTP 503" in md
    assert (
        "- [phu-thong-2025:vhxh-cuoc-thi](/runs/flow-run/0b7c2a3e-1111-2222-3333-444455556666) — Crashed, "
        "08:00 ngày 27/10/2025 (giờ Việt Nam, UTC+7)"
    ) in md
    assert "![Bản đồ nhiệt: các nhiệm vụ của xã Phủ Thông theo tháng](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)" in md
    # An unconfirmed rule is never called late: the page says what is missing and whose rule it is.
    late = md.split("## Quá hạn")[1].split("##")[0]
    lines = [line for line in late.splitlines() if line.startswith("- ")]
    contest = next(line for line in lines if line.startswith("- Tổ chức cuộc thi"))
    assert contest.endswith("hạn 30/09/2025: quá hạn (Phòng Văn hóa - Xã hội)")  # the plan's own date
    assumed = [line for line in lines if line is not contest]
    assert assumed and all(
        "chưa đủ minh chứng" in line and "do bộ phận điều phối đặt" in line and "quá hạn" not in line
        for line in assumed
    )


def test_the_home_page_escapes_spec_text_and_links_only_to_ui_paths() -> None:
    hostile = DEMO.model_copy(update={"title": "[x](javascript:alert(1)) <img src=x>"})
    state = HomeState(
        judged=DEMO_JUDGED,
        deployments={"posts": "javascript:alert(1)"},
        runs=[FailedRun("<b>run</b>", "Failed", AT, "../../x")],
        heatmap="data:text/html;base64,PHNjcmlwdD4=",
    )
    md = home_markdown(hostile, AT, state)
    assert "](javascript:" not in md and "<img" not in md and "<b>" not in md
    assert "data:text/html" not in md and "Toàn cảnh kế hoạch" not in md
    assert "- **hạn 30/09/2025** — Đăng tin, tháng 9/2025: 1/3, sắp đến hạn" in md


def _report_model():  # type: ignore[no-untyped-def]
    evidence = [
        EvidenceItem(1, "posts", "post", "Bài 1", dt.date(2025, 8, 4)),
        EvidenceItem(2, "posts", "post", "Bài 2", dt.date(2025, 8, 12)),
        EvidenceItem(3, "posts", "post", "Bài 3", dt.date(2025, 8, 20)),
        EvidenceItem(4, "posts", "post", "Bài 4", dt.date(2025, 9, 2)),
    ]
    return assemble(DEMO, "bao-cao-quy", "2025-Q4", pendulum.datetime(2025, 12, 1, 9, tz=TZ), evidence)


def test_the_report_html_carries_the_heatmap_as_a_figure() -> None:
    html = render_html(_report_model())
    figure = re.search(r'<figure>\s*<img src="(data:image/svg\+xml;base64,[^"]+)" alt="([^"]+)">', html)
    assert figure, html[:2000]
    svg = base64.b64decode(figure.group(1).split(",", 1)[1]).decode()
    assert "Đăng tin" in svg and "quý IV năm 2025" in svg
    assert "<figcaption>Hình 1. Tình trạng các nhiệm vụ theo tháng, quý IV năm 2025</figcaption>" in html


def test_the_report_docx_carries_the_heatmap_as_an_inline_image() -> None:
    doc = Document(io.BytesIO(render_docx(_report_model())))
    assert len(doc.inline_shapes) == 1
    shape = doc.inline_shapes[0]
    assert shape.width > 0 and shape.height > 0
    texts = [p.text for p in doc.paragraphs]
    assert "Hình 1. Tình trạng các nhiệm vụ theo tháng, quý IV năm 2025" in texts
    assert not any("{{" in t or "{%" in t for t in texts)


@pytest.mark.anyio
@pytest.mark.usefixtures("prefect_harness")
async def test_a_duty_run_logs_each_period_and_leaves_unchanged_artifacts_alone(demo_env: Settings) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterName,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.logging.handlers import APILogHandler

    from cchc.app import service
    from flows.quota import quota_duty

    plan = service.resolve_plan("demo", demo_env)
    at = pendulum.datetime(2025, 10, 28, 9, tz=TZ)
    for day in (6, 15):
        item = service.EvidenceInput(
            "posts", "post", f"Tin {day}", dt.date(2025, 10, day), url=f"https://x.example/{day}"
        )
        service.record_evidence(demo_env, plan, item, at)
    keys = ["plan-demo-status", "plan-demo-overdue", "quota-demo-posts-2025-10"]
    first = await quota_duty(plan_id="demo", duty_id="posts", at=at)
    async with get_client() as client:  # the session's server may hold these keys from other tests' runs
        found = ArtifactFilter(key=ArtifactFilterKey(any_=keys))
        after_first = {a.id for a in await client.read_artifacts(artifact_filter=found)}
    again = await quota_duty(plan_id="demo", duty_id="posts", at=at.add(hours=2))  # same day, same statuses
    assert first["statuses"]["2025-10"] == again["statuses"]["2025-10"] == "due_soon"
    await APILogHandler.aflush()
    async with get_client() as client:
        versions = await client.read_artifacts(artifact_filter=found)
        assert {a.key for a in versions} == set(keys)
        assert {a.id for a in versions} == after_first, "the second run changed nothing, so wrote nothing"
        ours = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["demo:posts"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=2,
        )
        runs = [r.id for r in ours]
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=runs)))
    messages = [log.message for log in logs]
    assert "2025-10: 2/3, sắp đến hạn, hạn 31/10/2025" in messages
    assert "2025-08: 0/3, không đạt, hạn 31/08/2025" in messages
    assert not any(m.startswith("2025-11") for m in messages), "a period not yet begun is not logged"

"""The periodic report: assembly from records, the NĐ 30/2020 layout read back from the DOCX, the CLI."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import docx
import pendulum
import pytest

from cchc.app import service
from cchc.app.report_render import render_docx, render_html, render_markdown
from cchc.core.assemble import (
    ASSESS_ASSUMED,
    ASSESS_DONE,
    ASSESS_NONE,
    ASSESS_OPEN,
    Approval,
    EvidenceItem,
    assemble,
    place_date,
)
from cchc.core.calendar import plan_occurrences
from cchc.core.loader import load_plan
from cchc.settings import Settings
from tests.conftest import PLAN_DIR, PLAN_IDS
from tests.test_cli import run, run_json

TZ = "Asia/Ho_Chi_Minh"
PHU_THAI = load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")


def _post(i: int, day: dt.date, duty: str = "cong-ttdt-tin-bai", title: str | None = None) -> EvidenceItem:
    return EvidenceItem(
        i, duty, "post", title or f"Tin CCHC số {i}", day, url=f"https://phuthai.example/tin/{i}", unit="ttvhttt"
    )


Q3_EVIDENCE = [
    _post(1, dt.date(2025, 7, 10)),
    _post(2, dt.date(2025, 8, 12)),
    _post(3, dt.date(2025, 9, 10)),  # after the Q3 draft day (03/09): belongs to the next report
    EvidenceItem(4, "phat-thanh-chuyen-de", "broadcast", "Chuyên đề tháng 7", dt.date(2025, 7, 28), unit="ttvhttt"),
]
# The Q3 report is due 10/09, so its data run to the draft day 03/09 and take in the first days of September:
# a September post before that day completes the monthly quota's row.
SEPTEMBER_POST = _post(5, dt.date(2025, 9, 2))
AT = pendulum.datetime(2025, 9, 3, 9, tz=TZ)


def test_the_place_and_date_line_has_a_leading_zero_for_days_below_10_and_months_below_3() -> None:
    assert place_date("Phú Thái", dt.date(2025, 9, 5)) == "Phú Thái, ngày 05 tháng 9 năm 2025"
    assert place_date("Phủ Thông", dt.date(2026, 1, 15)) == "Phủ Thông, ngày 15 tháng 01 năm 2026"
    assert place_date("Chí Minh", dt.date(2026, 12, 1)) == "Chí Minh, ngày 01 tháng 12 năm 2026"


def test_a_row_per_duty_counts_what_was_recorded_against_what_was_required() -> None:
    m = assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", AT, [*Q3_EVIDENCE, SEPTEMBER_POST])
    assert [r.duty for r in m.rows] == [d.id for d in PHU_THAI.duties]
    posts = next(r for r in m.rows if r.duty == "cong-ttdt-tin-bai")
    assert posts.result == "Tháng 07/2025: 1/1; tháng 08/2025: 1/1; tháng 09/2025: 1/1."
    assert [e.text for e in posts.evidence] == [
        "10/07/2025: Tin CCHC số 1 — https://phuthai.example/tin/1",
        "12/08/2025: Tin CCHC số 2 — https://phuthai.example/tin/2",
        "02/09/2025: Tin CCHC số 5 — https://phuthai.example/tin/5",
    ]
    # A sender other than the lead unit is named with its item.
    other = EvidenceItem(9, "cong-ttdt-tin-bai", "post", "Tin của Văn phòng", dt.date(2025, 7, 15), unit="van-phong")
    rows = assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", AT, [other]).rows
    assert rows[0].evidence[0].text == (
        "15/07/2025: Tin của Văn phòng (Văn phòng Hội đồng nhân dân và Ủy ban nhân dân xã)"
    )
    assert posts.assessment == ASSESS_DONE
    # The data of a report due before the 14th (10/09) stop on its draft day (03/09).
    assert (m.data_from, m.data_to) == (dt.date(2025, 6, 15), dt.date(2025, 9, 3))


def test_where_there_is_no_evidence_the_report_says_so() -> None:
    m = assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", AT, [])
    i, tthc = next((i, r) for i, r in enumerate(m.rows) if r.duty == "kiem-soat-tthc")
    # July lies before the plan took effect (31/07/2025, assumed: the signed copy leaves the day blank). The data
    # run to the draft day 03/09: August is over, September has begun.
    assert tthc.evidence == () and tthc.result == (
        "Tháng 07/2025: trước ngày kế hoạch có hiệu lực, không đánh giá; tháng 08/2025: 0/1; "
        "tháng 09/2025 (tính đến 03/09/2025): 0/1."
    )
    # August closed with nothing, but its count (one a month) is the spec's assumption: not reported as a failure.
    assert tthc.assessment == ASSESS_ASSUMED
    # A quarter still under way with nothing recorded yet is in progress.
    coord = next(r for r in m.rows if r.duty == "vhxh-dieu-phoi")
    assert coord.evidence == () and coord.result == "Quý III/2025 (tính đến 03/09/2025): 0/1."
    assert coord.assessment == ASSESS_OPEN
    assert render_docx_row(m, i)[4] == "Chưa có minh chứng"
    assert m.evidence_count == 0 and "chưa ghi nhận minh chứng nào" in m.overview
    assert m.totals == ()


def test_late_and_missed_work_is_listed_by_unit_in_the_shortfalls() -> None:
    m = assemble(PHU_THAI, "bao-cao-quy", "2025-Q4", pendulum.datetime(2025, 12, 3, 9, tz=TZ), Q3_EVIDENCE)
    by_unit = {s.unit: s.items for s in m.shortfalls}
    office = by_unit["Văn phòng Hội đồng nhân dân và Ủy ban nhân dân xã"]
    assert any("kiểm soát thủ tục hành chính" in i and "tháng 09/2025" in i and "0/1" in i for i in office)
    # The September post was made: the centre is not listed for September posts.
    centre = by_unit.get("Trung tâm Văn hóa, Thể thao và Truyền thông xã", ())
    assert not any("Cổng thông tin điện tử" in i and "tháng 09/2025" in i for i in centre)
    # Nothing from before the plan took effect is ever a shortfall.
    q3 = assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", AT, [])
    assert not any("tháng 07/2025" in i for s in q3.shortfalls for i in s.items)


def test_the_next_period_lists_what_comes_due_and_totals_go_by_channel() -> None:
    m = assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", AT, Q3_EVIDENCE)
    assert m.next_label == "quý IV năm 2025"
    titles = {n.title for n in m.next_items}
    assert "Tuyên truyền trên Cổng thông tin điện tử xã về công tác cải cách hành chính" in titles
    assert all(day > m.data_to for n in m.next_items for _, day in n.dues)
    assert dict(m.totals) == {"Tin, bài trên Trang thông tin điện tử": 2, "Chương trình phát thanh": 1}


def test_a_duty_without_an_occurrence_in_the_period_is_still_a_row_and_says_so() -> None:
    ninh_giang = load_plan(PLAN_DIR / "ninh-giang-2025h2.yaml")
    m = assemble(ninh_giang, "bao-cao-quy", "2025-Q3", pendulum.datetime(2025, 9, 1, 9, tz=TZ), [])
    survey = next(r for r in m.rows if "Khảo sát sự hài lòng" in r.title)  # a Q4 duty
    assert survey.assessment == ASSESS_NONE and survey.result == "Kế hoạch không đặt yêu cầu trong kỳ này."
    assert len(m.rows) == len(ninh_giang.duties)


def test_the_approval_fixes_number_signer_and_date() -> None:
    m = assemble(
        PHU_THAI,
        "bao-cao-quy",
        "2025-Q3",
        AT,
        Q3_EVIDENCE,
        approval=Approval("12", "Nguyễn Văn A", dt.date(2025, 9, 4)),
    )
    assert (m.number_line, m.signer_name, m.draft) == ("Số: 12/BC-UBND", "Nguyễn Văn A", False)
    assert m.place_date == "Phú Thái, ngày 04 tháng 9 năm 2025"
    draft = assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", AT, Q3_EVIDENCE)
    assert draft.draft and draft.number_line.startswith("Số:") and draft.number_line.endswith("/BC-UBND")
    assert draft.fingerprint == assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", AT, Q3_EVIDENCE).fingerprint
    assert draft.fingerprint != assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", AT, Q3_EVIDENCE[:1]).fingerprint
    # Read on two days inside the window, the same records give the same fingerprint: no new draft each morning.
    day1 = assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", pendulum.datetime(2025, 8, 20, 8, tz=TZ), Q3_EVIDENCE)
    day2 = assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", pendulum.datetime(2025, 8, 21, 8, tz=TZ), Q3_EVIDENCE)
    assert day1.data_to != day2.data_to and day1.fingerprint == day2.fingerprint


def render_docx_row(model: Any, index: int) -> list[str]:
    return [c.text for c in _read(render_docx(model)).tables[1].rows[index + 1].cells]


def _read(data: bytes) -> docx.document.Document:
    return docx.Document(io.BytesIO(data))


def test_the_docx_follows_the_nd30_layout() -> None:
    model = assemble(
        PHU_THAI,
        "bao-cao-quy",
        "2025-Q3",
        AT,
        [*Q3_EVIDENCE, SEPTEMBER_POST],
        approval=Approval("12", None, dt.date(2025, 9, 5)),
    )
    d = _read(render_docx(model))
    s = d.sections[0]
    assert (round(s.page_width.mm), round(s.page_height.mm)) == (210, 297)  # A4
    assert 20 <= round(s.top_margin.mm) <= 25 and 20 <= round(s.bottom_margin.mm) <= 25
    assert 30 <= round(s.left_margin.mm) <= 35 and 15 <= round(s.right_margin.mm) <= 20
    normal = d.styles["Normal"].font
    assert normal.name == "Times New Roman" and normal.size.pt in (13, 14)

    left, right = d.tables[0].rows[0].cells
    assert [p.text for p in left.paragraphs] == ["ỦY BAN NHÂN DÂN", "XÃ PHÚ THÁI", "Số: 12/BC-UBND"]
    assert all(r.bold for p in left.paragraphs[:2] for r in p.runs)
    motto = right.paragraphs
    assert motto[0].text == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" and motto[0].runs[0].bold
    assert motto[1].text == "Độc lập - Tự do - Hạnh phúc" and motto[1].runs[0].bold and motto[1].runs[0].underline
    assert motto[2].text == "Phú Thái, ngày 05 tháng 9 năm 2025" and motto[2].runs[0].italic

    texts = [p.text for p in d.paragraphs]
    assert "DỰ THẢO" not in texts
    i = texts.index("BÁO CÁO")
    assert texts[i + 1] == "Kết quả công tác tuyên truyền cải cách hành chính quý III năm 2025"
    assert d.paragraphs[i].runs[0].bold
    for heading in ("I. KẾT QUẢ THỰC HIỆN", "II. TỒN TẠI, HẠN CHẾ", "III. PHƯƠNG HƯỚNG, NHIỆM VỤ QUÝ IV NĂM 2025"):
        assert heading in texts

    table = d.tables[1]
    assert [c.text for c in table.rows[0].cells] == [
        "STT",
        "Nhiệm vụ",
        "Cơ quan chủ trì",
        "Kết quả",
        "Minh chứng",
        "Đánh giá",
    ]
    body = table.rows[1:]
    assert len(body) == len(PHU_THAI.duties)
    first = [c.text for c in body[0].cells]
    assert first[0] == "1" and first[1].startswith("Tuyên truyền trên Cổng thông tin điện tử")
    assert "https://phuthai.example/tin/1" in first[4] and first[5] == ASSESS_DONE
    assert all(r.font.name in (None, "Times New Roman") for p in d.paragraphs for r in p.runs)

    recipients, signer = d.tables[-1].rows[0].cells
    assert recipients.paragraphs[0].text == "Nơi nhận:"
    assert [p.text for p in recipients.paragraphs[1:]] == [
        "- Ủy ban nhân dân xã;",
        "- Sở Nội vụ thành phố Hải Phòng;",
        "- Lưu: VT, VHXH.",
    ]
    assert [p.text for p in signer.paragraphs] == ["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH", "Phạm Tiến Nhuận"]


def test_a_draft_is_marked_and_markup_in_titles_stays_text() -> None:
    evil = [_post(9, dt.date(2025, 7, 9), title="Tin <b>đậm</b> & {{ không phải mẫu }}")]
    model = assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", AT, evil)
    d = _read(render_docx(model))
    assert "DỰ THẢO" in [p.text for p in d.paragraphs]
    assert "Tin <b>đậm</b> & {{ không phải mẫu }}" in d.tables[1].rows[1].cells[4].text
    html = render_html(model)
    assert "Tin &lt;b&gt;đậm&lt;/b&gt; &amp; {{ không phải mẫu }}" in html and "<b>đậm" not in html
    assert "| 1 | Tuyên truyền trên Cổng" in render_markdown(model)


@pytest.mark.parametrize("plan_id", PLAN_IDS)
def test_every_report_of_every_plan_assembles_and_renders(plan_id: str) -> None:
    plan = load_plan(PLAN_DIR / f"{plan_id}.yaml")
    assert plan.reports
    for o in plan_occurrences(plan):
        if not any(r.id == o.duty for r in plan.reports):
            continue
        at = pendulum.instance(o.due).subtract(days=3)
        model = assemble(plan, o.duty, o.period, at, [])
        d = _read(render_docx(model))
        assert len(d.tables[1].rows) == len(plan.duties) + 1
        assert model.summary in render_html(model) and model.summary in render_markdown(model)


def test_cli_report_writes_a_docx_that_reads_back(cchc_env: Settings, tmp_path: Path) -> None:
    code, out = run(
        "evidence",
        "add",
        "phu-thai-2025h2",
        "cong-ttdt-tin-bai",
        "--kind",
        "post",
        "--title",
        "Tin CCHC tháng 7",
        "--date",
        "2025-07-10",
        "--url",
        "https://phuthai.example/tin/7",
        "--unit",
        "ttvhttt",
    )
    assert code == 0, out
    target = tmp_path / "out" / "q3.docx"
    code, out = run(
        "report",
        "phu-thai-2025h2",
        "--period",
        "2025-Q3",
        "--format",
        "docx",
        "--out",
        str(target),
        "--at",
        "2025-09-03T09:00:00+07:00",
    )
    assert code == 0, out
    d = _read(target.read_bytes())
    assert d.tables[0].rows[0].cells[1].paragraphs[2].text == "Phú Thái, ngày 03 tháng 9 năm 2025"
    assert "Tin CCHC tháng 7" in d.tables[1].rows[1].cells[4].text
    code, md = run("report", "phu-thai-2025h2", "--period", "2025-Q3", "--format", "md", "--at", "2025-09-03")
    assert code == 0 and md.startswith("**DỰ THẢO**")


def test_cli_report_refuses_bad_input_and_says_what_to_do(cchc_env: Settings) -> None:
    code, out = run("report", "phu-thai-2025h2", "--period", "2025-Q7")
    assert code == 2 and "2025-Q3, 2025-Q4" in out
    code, out = run("report", "phu-thai-2025h2", "--period", "2025-H2")
    assert code == 2 and "bao-cao-quy (quarter)" in out
    code, out = run("report", "phu-thai-2025h2", "--period", "2025-Q3", "--format", "pdf")
    assert code == 2 and "docx, html, md" in out


def test_cli_reports_lists_every_report_occurrence_with_approval_and_delivery(cchc_env: Settings) -> None:
    rows = run_json("reports", "phu-thai-2025h2", "--at", "2025-09-03T09:00:00+07:00", "--json")
    assert [(r["report"], r["period"]) for r in rows] == [
        ("bao-cao-quy", "2025-Q3"),
        ("bao-cao-nam", "2025"),
        ("bao-cao-quy", "2025-Q4"),
    ]
    q3 = rows[0]
    assert q3["status"] == "due_soon" and q3["draft_on"] == "2025-09-03"  # due 10/09, 5 working days before
    assert q3["approval"]["state"] is None and q3["delivery"]["messages"] == []


def test_a_restyled_template_that_is_broken_is_reported_with_its_path(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cchc.settings import get_settings

    bad = tmp_path / "mau.docx"
    bad.write_bytes(b"not a zip")
    monkeypatch.setenv("CCHC_REPORT_TEMPLATE", str(bad))
    get_settings.cache_clear()
    code, out = run(
        "report", "phu-thai-2025h2", "--period", "2025-Q3", "--format", "docx", "--out", str(tmp_path / "x.docx")
    )
    assert code == 2 and str(bad) in out
    assert not (tmp_path / "x.docx").exists()
    _ = service


def test_libreoffice_opens_the_docx_and_reads_the_report(tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess

    soffice = shutil.which("soffice")
    if soffice is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice (soffice) is not installed; scripts/dev installs libreoffice-writer-nogui")
        pytest.skip("LibreOffice is not installed (scripts/dev setup installs it)")
    model = assemble(
        PHU_THAI, "bao-cao-quy", "2025-Q3", AT, Q3_EVIDENCE, approval=Approval("12", None, dt.date(2025, 9, 5))
    )
    source = tmp_path / "bao-cao.docx"
    source.write_bytes(render_docx(model))
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "txt:Text (encoded):UTF8",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    text = (tmp_path / "bao-cao.txt").read_text(encoding="utf-8-sig")
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Số: 12/BC-UBND",
        "Phú Thái, ngày 05 tháng 9 năm 2025",
        "BÁO CÁO",
        "Nơi nhận:",
        "Phạm Tiến Nhuận",
    ):
        assert expected in text, expected

"""The Resume dialog's text for a report draft (pure): what is approved, where the draft is, what to fill in."""

from __future__ import annotations

import pendulum

from cchc.core.assemble import approval_brief, assemble
from tests.test_report import AT, PHU_THAI, Q3_EVIDENCE

DRAFT = "http://127.0.0.1:4200/artifacts/key/report-phu-thai-2025h2-bao-cao-quy-2025-q3"


def test_the_brief_names_the_period_the_counts_the_shortfalls_and_links_the_draft() -> None:
    model = assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", AT, Q3_EVIDENCE)
    text = approval_brief(model, 2, DRAFT)
    assert text.startswith("**Dự thảo kết quả công tác tuyên truyền cải cách hành chính quý III năm 2025** (bản 2)")
    assert f"{model.evidence_count} minh chứng" in text
    assert f"- {len(model.rows)} nhiệm vụ: " in text
    late = sum(len(s.items) for s in model.shortfalls)
    assert late and f"Tồn tại, hạn chế: {late} việc (" in text
    assert f"[mở dự thảo]({DRAFT})" in text
    assert "nhập số văn bản** (bắt buộc)" in text
    assert "Chưa duyệt được" not in text


def test_asked_again_the_brief_says_why_the_last_answer_was_not_taken() -> None:
    model = assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", AT, Q3_EVIDENCE)
    text = approval_brief(model, 1, None, asked_again=True)
    assert text.startswith("**⚠ Chưa duyệt được: lần trước chọn «Duyệt và gửi» nhưng chưa nhập số văn bản.**")
    assert "mở dự thảo" not in text  # no UI address known: no link


def test_a_link_that_is_not_http_is_shown_as_text_not_a_link() -> None:
    model = assemble(PHU_THAI, "bao-cao-quy", "2025-Q3", pendulum.datetime(2025, 9, 3, 8, tz="Asia/Ho_Chi_Minh"), [])
    text = approval_brief(model, 1, "javascript:alert(1)")
    assert "](javascript" not in text and "Tồn tại, hạn chế:" in text

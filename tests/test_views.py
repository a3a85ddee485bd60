"""The coordinator's view: the current period of each duty, and what is late by unit."""

from __future__ import annotations

import pendulum

from cchc.core.calendar import plan_occurrences
from cchc.core.evaluate import Status, Tally, judge
from cchc.core.loader import parse_plan
from cchc.core.views import (
    commune_heading,
    current,
    fmt_moment_zone,
    overdue_markdown,
    period_line,
    status_description,
    status_table,
    zone_label,
)
from cchc.store.repo import Judged
from tests.conftest import FIXTURES, ROOT

DEMO = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))
AT = pendulum.datetime(2025, 10, 28, 9, tz="Asia/Ho_Chi_Minh")


def _judged(counts: dict[tuple[str, str], int]) -> list[Judged]:
    out = []
    for o in plan_occurrences(DEMO):
        n = counts.get((o.duty, o.period), 0)
        out.append(Judged(o, judge(o, Tally(on_time=n), AT), n, 0))
    return out


def test_current_picks_the_period_that_holds_the_moment_else_the_last_started() -> None:
    chosen = {(j.occurrence.duty, j.occurrence.period) for j in current(_judged({}), AT)}
    assert chosen == {("posts", "2025-10"), ("bao-cao-quy", "2025-Q4"), ("contest", "2025-Q3")}


def test_status_table_shows_count_against_required_in_vietnamese() -> None:
    rows = status_table(DEMO, _judged({("posts", "2025-10"): 2}), AT)
    posts = next(r for r in rows if r["Mã"] == "posts")
    assert posts == {
        "Trạng thái": "sắp đến hạn",
        "Kỳ": "2025-10",
        "Hạn": "31/10/2025",
        "Kết quả": "2/3",
        "Đơn vị chủ trì": "Phòng Văn hóa - Xã hội",
        "Nhiệm vụ": "Đăng tin",
        "Căn cứ": "kế hoạch",
        "Mã": "posts",
    }
    # What she scans first comes before the long title (the UI cuts the table at its right edge).
    assert list(posts)[:6] == ["Trạng thái", "Kỳ", "Hạn", "Kết quả", "Đơn vị chủ trì", "Nhiệm vụ"]


def test_overdue_summary_groups_by_unit_and_says_when_nothing_is_late() -> None:
    md = overdue_markdown(DEMO, _judged({}), AT)
    assert "## Phòng Văn hóa - Xã hội" in md
    assert "Đăng tin — kỳ 2025-08, hạn 31/08/2025: **không đạt**, 0/3" in md
    assert "Hội thi — kỳ 2025-Q3, hạn 30/09/2025: **quá hạn**" in md
    early = pendulum.datetime(2025, 8, 2, 9, tz="Asia/Ho_Chi_Minh")
    judged = [Judged(j.occurrence, judge(j.occurrence, Tally(), early), 0, 0) for j in _judged({})]
    assert "Không có nhiệm vụ nào quá hạn" in overdue_markdown(DEMO, judged, early)
    assert all(j.status is not Status.missed for j in judged)


def test_each_period_is_one_log_line_with_count_status_and_due_date() -> None:
    judged = _judged({("posts", "2025-10"): 1})
    posts = {j.occurrence.period: j for j in judged if j.occurrence.duty == "posts"}
    assert period_line(posts["2025-10"]) == "2025-10: 1/3, sắp đến hạn, hạn 31/10/2025"
    assert period_line(posts["2025-08"]) == "2025-08: 0/3, không đạt, hạn 31/08/2025"
    contest = next(j for j in judged if j.occurrence.duty == "contest")
    assert period_line(contest) == "2025-Q3: 0 minh chứng, quá hạn, hạn 30/09/2025"


def test_times_shown_carry_the_local_zone_and_the_commune_keeps_its_proper_name() -> None:
    assert fmt_moment_zone(AT.in_timezone("UTC"), "Asia/Ho_Chi_Minh") == "09:00 ngày 28/10/2025 (giờ Việt Nam, UTC+7)"
    assert zone_label(AT, "Asia/Kolkata") == "giờ Asia/Kolkata, UTC+5:30"
    phu_thong = parse_plan((ROOT / "plan_specs" / "phu-thong-2025.yaml").read_text(encoding="utf-8"))
    assert commune_heading(phu_thong) == "Xã Phủ Thông"
    md = overdue_markdown(phu_thong, [], AT)
    assert md.startswith("# Xã Phủ Thông: việc quá hạn tính đến ngày 28/10/2025 (giờ Việt Nam, UTC+7)")
    assert "tính đến ngày 28/10/2025 (giờ Việt Nam, UTC+7)" in status_description(DEMO, AT)

"""Vietnamese dates as portals print them."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from cchc.core.vndates import normalize, parse_vn_date

NOW = dt.datetime(2025, 10, 21, 9, 30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("05/09/2025", dt.date(2025, 9, 5)),
        ("5-9-2025", dt.date(2025, 9, 5)),
        ("2025-09-05T10:00:00+07:00", dt.date(2025, 9, 5)),
        ("Thứ Sáu, 05/09/2025 - 10:30", dt.date(2025, 9, 5)),
        ("Cập nhật lúc 10:30 ngày 05.09.2025", dt.date(2025, 9, 5)),
        ("ngày 5 tháng 9 năm 2025", dt.date(2025, 9, 5)),
        ("Phủ Thông, Ngày 05 Tháng 09 Năm 2025", dt.date(2025, 9, 5)),
        ("05 Tháng 9, 2025", dt.date(2025, 9, 5)),
        ("hôm nay", dt.date(2025, 10, 21)),
        ("Hôm qua, 16:00", dt.date(2025, 10, 20)),
        ("2 giờ trước", dt.date(2025, 10, 21)),
        ("12 giờ trước", dt.date(2025, 10, 20)),
        ("3 ngày trước", dt.date(2025, 10, 18)),
        ("1 tuần trước", dt.date(2025, 10, 14)),
        (unicodedata.normalize("NFD", "ngày 5 tháng 9 năm 2025"), dt.date(2025, 9, 5)),
    ],
)
def test_vietnamese_dates_are_read_day_first(text: str, expected: dt.date) -> None:
    assert parse_vn_date(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "Tin mới", "31/02/2025", "lượt xem: 1234"])
def test_text_without_a_valid_date_gives_none(text: str) -> None:
    assert parse_vn_date(text, NOW) is None


def test_keyword_matching_ignores_case_and_accent_composition() -> None:
    assert normalize("CẢI CÁCH HÀNH CHÍNH") == normalize(unicodedata.normalize("NFD", "cải cách  hành chính"))

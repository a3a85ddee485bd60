"""Vietnamese dates as commune portals print them. Pure: relative dates take the moment read.

"05/09/2025", "5-9-2025", "2025-09-05", "Thứ Sáu, 05/09/2025 - 10:30", "ngày 5 tháng 9 năm 2025",
"05 Tháng 9, 2025", "hôm nay", "hôm qua", "2 giờ trước", "3 ngày trước", "15 phút trước", "1 tuần trước".
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

_NUMERIC = re.compile(r"(?<!\d)(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})(?!\d)")
_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_WORDS = re.compile(r"ngày\s*(\d{1,2})\s*tháng\s*(\d{1,2})\s*(?:năm|,)?\s*(\d{4})")
_DAY_MONTH_YEAR = re.compile(r"(?<!\d)(\d{1,2})\s+tháng\s*(\d{1,2})\s*(?:năm|,)\s*(\d{4})")
_RELATIVE = re.compile(r"(\d+)\s*(phút|giờ|tiếng|ngày|tuần|tháng)\s*trước")
_UNIT = {
    "phút": dt.timedelta(minutes=1),
    "giờ": dt.timedelta(hours=1),
    "tiếng": dt.timedelta(hours=1),
    "ngày": dt.timedelta(days=1),
    "tuần": dt.timedelta(weeks=1),
    "tháng": dt.timedelta(days=30),
}


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _date(y: str, m: str, d: str) -> dt.date | None:
    try:
        return dt.date(int(y), int(m), int(d))
    except ValueError:
        return None


def parse_vn_date(text: str, now: dt.datetime) -> dt.date | None:
    """The date in ``text`` (day first, as Vietnamese write it), or None if there is none.

    ``now`` is the local moment the page was read, for "hôm qua" and "2 giờ trước".
    """
    t = _norm(text)
    for pattern, order in ((_ISO, "ymd"), (_WORDS, "dmy"), (_DAY_MONTH_YEAR, "dmy"), (_NUMERIC, "dmy")):
        m = pattern.search(t)
        if m:
            a, b, c = m.groups()
            found = _date(a, b, c) if order == "ymd" else _date(c, b, a)
            if found is not None:
                return found
    if "hôm nay" in t or "vừa xong" in t:
        return now.date()
    if "hôm qua" in t:
        return (now - dt.timedelta(days=1)).date()
    m = _RELATIVE.search(t)
    if m:
        return (now - int(m[1]) * _UNIT[m[2]]).date()
    return None


def normalize(text: str) -> str:
    """For keyword matching: NFC (portals mix composed and decomposed accents), case-folded, spaces collapsed."""
    return _norm(text)

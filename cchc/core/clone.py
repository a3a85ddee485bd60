"""Cloning a plan for another commune of the register (`cchc plan new --like PLAN --commune CODE`).

Most communes of a city adapt one template plan, so a clone keeps the structure (duties, reports, ladder,
bases) and re-derives what belongs to the commune: its name in every text, its province, the plan id
(commune slug + period), and the dates moved to the new period. What only the new commune can know is
left blank and listed, by field path in Vietnamese, for the coordinator to fill in: e-mail addresses,
people's names, the plan's number and issue date, its legal bases, automatic sources (the old commune's
website), and every assumption the old coordinator confirmed (the new one confirms her own).

Pure: the register comes from cchc.core.communes, the period from the caller; no clock, no I/O.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from vietnam_provinces import Ward, WardCode

from cchc.core.communes import province_name, short_name
from cchc.core.periods import PeriodKey
from cchc.core.spec import Plan
from cchc.core.specfiles import slug


class CloneError(ValueError):
    """Bad input to a clone (unknown commune code, bad period): one Vietnamese line saying what to do."""


@dataclass(frozen=True)
class Todo:
    """One thing the coordinator must fill in or check: the field path in the spec, and what to do."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Target:
    """The new plan's commune (from the register) and period."""

    code: int
    name: str  # 'Phú Thái'
    division: str  # 'xã', 'phường' or 'đặc khu'
    province: str  # 'Thành phố Hải Phòng', 'Tỉnh Thái Nguyên'
    start: dt.date
    end: dt.date
    period_slug: str  # '2026h1', '2026'


@dataclass
class Cloned:
    """The clone as spec data (dump it as YAML), the validated plan when it validates, and the list of
    what the coordinator must fill in. ``errors`` holds validation messages when it does not validate."""

    data: dict[str, Any]
    todo: list[Todo] = field(default_factory=list)
    plan: Plan | None = None
    errors: list[str] = field(default_factory=list)


PERIOD_HELP = "dùng 2026 (cả năm), 2026H1 (6 tháng đầu năm) hoặc 2026H2 (6 tháng cuối năm)"
_PERIOD = re.compile(r"^(?P<y>\d{4})(?:-?[Hh](?P<h>[12]))?$")


def parse_period(text: str) -> tuple[dt.date, dt.date, str]:
    """'2026' -> the year; '2026H1' / '2026-h1' -> the first half. Returns (start, end, slug for the id)."""
    m = _PERIOD.fullmatch(text.strip())
    if m is None:
        raise CloneError(f"kỳ kế hoạch '{text}' không hợp lệ; {PERIOD_HELP}.")
    year = int(m["y"])
    if not 2000 <= year <= 2100:
        raise CloneError(f"kỳ kế hoạch '{text}': năm {year} ngoài khoảng 2000–2100; {PERIOD_HELP}.")
    if m["h"] is None:
        return dt.date(year, 1, 1), dt.date(year, 12, 31), f"{year}"
    if m["h"] == "1":
        return dt.date(year, 1, 1), dt.date(year, 6, 30), f"{year}h1"
    return dt.date(year, 7, 1), dt.date(year, 12, 31), f"{year}h2"


def period_of(start: dt.date, end: dt.date) -> str | None:
    """The period text ('2025H2', '2026') of a plan's dates, when they are exactly a half or a year."""
    if start.month == 1 and start.day == 1 and end == dt.date(start.year, 12, 31):
        return f"{start.year}"
    for half, (first, last) in enumerate((((1, 1), (6, 30)), ((7, 1), (12, 31))), start=1):
        if (start.month, start.day) == first and end == dt.date(start.year, *last):
            return f"{start.year}H{half}"
    return None


def _division(ward_name: str) -> str:
    for prefix, word in (("Xã ", "xã"), ("Phường ", "phường"), ("Đặc khu ", "đặc khu")):
        if ward_name.startswith(prefix):
            return word
    return "xã"


def _province_full(name: str) -> str:
    """The register writes 'Thái Nguyên' for a province and 'Thành phố Hải Phòng' for a city: give both a prefix."""
    return name if name.startswith(("Thành phố ", "Tỉnh ")) else f"Tỉnh {name}"


def target(code: int, period: str | None, source: Plan) -> Target:
    """The new commune from the register (CloneError for an unknown code) and the new period (the source's
    own when none is given)."""
    try:
        ward = Ward.from_code(WardCode(code))
    except ValueError:
        raise CloneError(
            f"mã xã {code} không có trong danh mục hành chính 2025; tra mã đúng trong danh mục "
            "(gói vietnam-provinces, vd. 10750 là xã Phú Thái, Thành phố Hải Phòng)."
        ) from None
    if period is None:
        text = period_of(source.period.start, source.period.end)
        if text is None:
            raise CloneError(
                f"kế hoạch mẫu {source.id} chạy {source.period.start}..{source.period.end}, không trọn năm hay "
                f"nửa năm; cho biết kỳ của kế hoạch mới bằng --period ({PERIOD_HELP})."
            )
        period = text
    start, end, pslug = parse_period(period)
    return Target(
        code=code,
        name=short_name(ward),
        division=_division(ward.name),
        province=_province_full(province_name(ward)),
        start=start,
        end=end,
        period_slug=pslug,
    )


# ------------------------------------------------------------------------------------------------ dates


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later; a month's last day stays its month's last day (30/9 -> 31/3)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = _calendar.monthrange(year, month + 1)[1]
    was_last = day.day == _calendar.monthrange(day.year, day.month)[1]
    return dt.date(year, month + 1, last if was_last else min(day.day, last))


def month_shift(src_start: dt.date, src_end: dt.date, new_start: dt.date, new_end: dt.date) -> int:
    """How far every date moves. Same length: from start to start (the plan's second quarter stays its second
    quarter). A different length: whole years between the ends, so a Q4 survey of a half-year plan stays in Q4
    of a year plan, and the period end that reports anchor on stays in place."""
    src_months = (src_end.year - src_start.year) * 12 + src_end.month - src_start.month
    new_months = (new_end.year - new_start.year) * 12 + new_end.month - new_start.month
    if src_months == new_months:
        return (new_start.year - src_start.year) * 12 + new_start.month - src_start.month
    return 12 * (new_end.year - src_end.year)


def _shift_key(key: str, months: int, start: dt.date, end: dt.date) -> tuple[str, bool]:
    """A period key moved by ``months``, then pulled inside start..end if it fell out (second: it was pulled)."""
    p = PeriodKey.parse(key)
    moved = PeriodKey.of(p.cadence, add_months(p.first, months))
    if moved.last < start:
        return str(PeriodKey.of(p.cadence, start)), True
    if moved.first > end:
        return str(PeriodKey.of(p.cadence, end)), True
    return str(moved), False


# ------------------------------------------------------------------------------------------------- text


def _replacements(src: Plan, t: Target) -> list[tuple[re.Pattern[str], str]]:
    """Old commune and province names -> new ones, longest first; the division word too (xã -> phường)."""
    old_name, new_name = src.commune.name, t.name
    old_prov = src.commune.province
    old_bare = re.sub(r"^(Thành phố|Tỉnh)\s+", "", old_prov, flags=re.I)
    new_bare = re.sub(r"^(Thành phố|Tỉnh)\s+", "", t.province)
    new_kind = "thành phố" if t.province.startswith("Thành phố") else "tỉnh"
    pairs: list[tuple[str, str]] = []
    if old_bare != new_bare:
        for kind in ("thành phố", "tỉnh"):
            pairs.append((f"{kind} {old_bare}", f"{new_kind} {new_bare}"))
            pairs.append((f"{kind.capitalize()} {old_bare}", f"{new_kind.capitalize()} {new_bare}"))
            pairs.append((f"{kind.upper()} {old_bare.upper()}", f"{new_kind.upper()} {new_bare.upper()}"))
        pairs.append((old_bare, new_bare))
        pairs.append((old_bare.upper(), new_bare.upper()))
    out = [(re.compile(re.escape(a)), b) for a, b in pairs]
    # Every form of the old commune's name: 'xã Phú Thái', 'XÃ PHÚ THÁI', bare 'Phú Thái'.
    for division in ("xã", "phường", "đặc khu"):
        for a, b in (
            (f"{division} {old_name}", f"{t.division} {new_name}"),
            (f"{division.capitalize()} {old_name}", f"{t.division.capitalize()} {new_name}"),
            (f"{division.upper()} {old_name.upper()}", f"{t.division.upper()} {new_name.upper()}"),
        ):
            out.append((re.compile(re.escape(a)), b))
    out.append((re.compile(re.escape(old_name)), new_name))
    out.append((re.compile(re.escape(old_name.upper())), new_name.upper()))
    try:
        old_division = _division(Ward.from_code(WardCode(src.commune.code)).name)
    except ValueError:  # a loaded plan's code is in the register; kept safe for a hand-made one
        old_division = "xã"
    if t.division != old_division:
        # 'Phòng Kinh tế xã' -> 'Phòng Kinh tế phường'; never 'xã hội' nor a word that merely contains 'xã'.
        out.append((re.compile(rf"(?<![\w]){old_division}(?![\w])(?! hội)"), t.division))
    return out


def _period_phrases(src: Plan, t: Target) -> list[tuple[re.Pattern[str], str]]:
    """'6 tháng cuối năm 2025' -> '6 tháng đầu năm 2026', 'năm 2025' -> 'năm 2026'."""

    def phrase(start: dt.date, end: dt.date) -> str | None:
        text = period_of(start, end)
        if text is None:
            return None
        if "H" not in text:
            return f"năm {text}"
        year, half = text.split("H")
        return f"6 tháng {'đầu' if half == '1' else 'cuối'} năm {year}"

    old, new = phrase(src.period.start, src.period.end), phrase(t.start, t.end)
    out: list[tuple[re.Pattern[str], str]] = []
    if old and new and old != new:
        out.append((re.compile(re.escape(old), re.I), new))
    if src.period.start.year != t.start.year:
        out.append((re.compile(rf"(?<=năm ){src.period.start.year}(?!\d)"), str(t.start.year)))
    return out


_TEXT_KEYS = frozenset(
    {
        "title",
        "short_title",
        "content",
        "issuer",
        "name",
        "products",
        "timing",
        "support_text",
        "quote",
        "assumed",
        "regime",
    }
)


def _rewrite(value: Any, rules: list[tuple[re.Pattern[str], str]], key: str = "") -> Any:
    """Apply the rules to the human text of the spec (titles, names, quotes), never to ids, kinds or URLs."""
    if isinstance(value, dict):
        return {k: _rewrite(v, rules, k) for k, v in value.items()}
    if isinstance(value, list | tuple):  # model_dump keeps the spec's tuples: lists here, to edit in place
        return [_rewrite(v, rules, key) for v in value]
    if isinstance(value, str) and key in _TEXT_KEYS:
        for pattern, repl in rules:
            value = pattern.sub(repl.replace("\\", "\\\\"), value)  # the new text as is, never a group
        return value
    return value


# ------------------------------------------------------------------------------------------------ clone


def clone(src: Plan, code: int, period: str | None = None) -> Cloned:
    """The source plan re-made for commune ``code`` and ``period`` (CloneError on bad input)."""
    t = target(code, period, src)
    if t.code == src.commune.code and (t.start, t.end) == (src.period.start, src.period.end):
        raise CloneError(
            f"kế hoạch {src.id} đã là của {t.division} {t.name} cho kỳ này; chọn xã khác (--commune) hoặc kỳ khác "
            f"(--period, {PERIOD_HELP})."
        )
    data: dict[str, Any] = src.model_dump(mode="python", by_alias=True, exclude_unset=True, exclude_none=True)
    todo: list[Todo] = []
    rules = _replacements(src, t) + _period_phrases(src, t)
    same_province = slug(_province_full(src.commune.province)) == slug(t.province)
    data = _rewrite(data, rules)

    new_id = f"{slug(t.name)}-{t.period_slug}"
    if len(new_id) > 64:
        new_id = new_id[:64].rstrip("-")
    data["id"] = new_id
    data["commune"] = {"name": t.name, "province": t.province, "code": t.code}
    data["period"] = {"start": t.start, "end": t.end}
    place = f"{t.division} {t.name}"

    # The plan's identity as a document: only the new commune's signed copy can say.
    for key, what in (("number", "số kế hoạch (vd. '123/KH-UBND')"), ("issued_on", "ngày ban hành")):
        data.pop(key, None)
        todo.append(Todo(key, f"để trống; điền {what} khi kế hoạch của {place} được ký."))
    for key in ("effective_from", "effective_confirmed", "amended_on", "amendment_note"):
        data.pop(key, None)
    data["effective_note"] = (
        f"Nhân bản từ kế hoạch {src.id}; số và ngày ban hành để trống: tính hiệu lực từ đầu kỳ "
        f"({t.start:%d/%m/%Y}) cho đến khi bộ phận điều phối xác nhận ngày ký."
    )
    if data.pop("legal_bases", None):
        todo.append(Todo("legal_bases", f"để trống (căn cứ của kế hoạch mẫu {src.id}); điền căn cứ của kế hoạch mới."))

    months = month_shift(src.period.start, src.period.end, t.start, t.end)
    _calendar_days(data, src, t, same_province and months == 0, todo)
    _units(data, todo)
    _duties(data, months, t, todo)
    _reports(data, months, t, todo)
    if not same_province and _has_key(data, "regime"):
        todo.append(
            Todo(
                "basis.regime",
                f"các giả định theo chế độ báo cáo của {src.commune.province} đã đổi tên sang {t.province}; "
                f"kiểm tra hạn báo cáo theo chế độ của {t.province}.",
            )
        )
    if _unconfirm(data):
        todo.append(
            Todo(
                "basis",
                "các giả định bộ phận điều phối của kế hoạch mẫu đã xác nhận nay chưa xác nhận; "
                "xem và xác nhận bằng 'cchc assumptions' / 'cchc assumption confirm'.",
            )
        )

    out = Cloned(data=data, todo=todo)
    try:
        out.plan = Plan.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            out.errors.append(f"{loc}: {err['msg']}" if loc else str(err["msg"]))
    except ValueError as e:  # a validator outside pydantic's wrapping (the register check)
        out.errors.append(str(e))
    return out


def _calendar_days(data: dict[str, Any], src: Plan, t: Target, keep: bool, todo: list[Todo]) -> None:
    """Make-up days and extra days off are a city's or province's decision for its own dates."""
    days = data.get("calendar") or []
    kept = [d for d in days if keep and t.start <= d["date"] <= t.end]
    if len(kept) != len(days):
        todo.append(
            Todo(
                "calendar",
                f"đã bỏ {len(days) - len(kept)} ngày làm bù/nghỉ thêm của kế hoạch mẫu (quyết định của "
                f"{src.commune.province} cho kỳ cũ); thêm các ngày do {t.province} quyết định cho kỳ mới, nếu có.",
            )
        )
    if kept:
        data["calendar"] = kept
    else:
        data.pop("calendar", None)


def _units(data: dict[str, Any], todo: list[Todo]) -> None:
    for i, u in enumerate(data["units"]):
        u["emails"] = []
        todo.append(Todo(f"units[{i}].emails", f"nhập địa chỉ thư điện tử của {u['name']}."))
        if u.pop("person", None) is not None:
            todo.append(Todo(f"units[{i}].person", f"để trống; điền họ tên người phụ trách của {u['name']}."))


def _duties(data: dict[str, Any], months: int, t: Target, todo: list[Todo]) -> None:
    for i, d in enumerate(data["duties"]):
        where = f"duties[{i}]"
        _shift_only(d, months, t, f"{where}.only", todo)
        if "window" in d:
            start = add_months(d["window"]["start"], months)
            due = add_months(d["window"]["due"], months)
            if start < t.start or due > t.end:
                start, due = max(start, t.start), min(due, t.end)
                start = min(start, due)
                todo.append(
                    Todo(
                        f"{where}.window",
                        f"thời hạn của '{d['title']}' dời sang kỳ mới nằm ngoài kế hoạch; tạm đặt "
                        f"{start:%d/%m/%Y}–{due:%d/%m/%Y}, kiểm tra lại.",
                    )
                )
            d["window"] = {"start": start, "due": due}
        if d.pop("sources", None):
            todo.append(
                Todo(
                    f"{where}.sources",
                    f"đã bỏ nguồn minh chứng tự động của kế hoạch mẫu (trang của xã cũ); khai báo trang của "
                    f"{t.division} {t.name} nếu có.",
                )
            )


def _reports(data: dict[str, Any], months: int, t: Target, todo: list[Todo]) -> None:
    for i, r in enumerate(data.get("reports") or []):
        where = f"reports[{i}]"
        _shift_only(r, months, t, f"{where}.only", todo)
        if r["signer"].pop("name", None) is not None:
            todo.append(Todo(f"{where}.signer.name", f"để trống; điền họ tên người ký '{r['title']}'."))
        for j, rc in enumerate(r["recipients"]):
            if rc.get("emails"):
                rc["emails"] = []
                todo.append(Todo(f"{where}.recipients[{j}].emails", f"nhập địa chỉ thư điện tử của {rc['name']}."))


def _shift_only(item: dict[str, Any], months: int, t: Target, where: str, todo: list[Todo]) -> None:
    keys = item.get("only") or []
    if not keys:
        return
    shifted: list[str] = []
    for key in keys:
        new, pulled = _shift_key(key, months, t.start, t.end)
        if pulled:
            todo.append(Todo(where, f"kỳ {key} dời sang kỳ mới nằm ngoài kế hoạch; tạm đặt {new}, kiểm tra lại."))
        if new not in shifted:
            shifted.append(new)
    item["only"] = shifted


def _has_key(value: Any, key: str) -> bool:
    if isinstance(value, dict):
        return key in value or any(_has_key(v, key) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_key(v, key) for v in value)
    return False


def _unconfirm(value: Any) -> bool:
    """Drop every 'confirmed' of an assumption: the old coordinator's word does not bind the new commune."""
    found = False
    if isinstance(value, dict):
        if value.pop("confirmed", None) is not None:
            found = True
        for v in value.values():
            found = _unconfirm(v) or found
    elif isinstance(value, list | tuple):
        for v in value:
            found = _unconfirm(v) or found
    return found


__all__ = ["CloneError", "Cloned", "Todo", "clone", "parse_period", "period_of", "slug"]

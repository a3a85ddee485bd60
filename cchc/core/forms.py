"""The coordinator's forms in the Prefect UI, as data: a plan's duties, kinds, units and periods under
Vietnamese labels, the parameter schema the UI renders as drop-downs, and reading an answer back.

Prefect's form shows a deployment's parameter schema: an ``enum`` becomes a drop-down of its values, so the
values are the labels a person reads ("Tin bài trên Cổng thông tin điện tử — Trung tâm VHTT&TT"), and
``resolve`` maps a label (or, from the CLI and tests, the code) back to the code. Prefect's date picker is
US-style and its schema errors are English, so a date here is text read as day/month/year, and every check
that needs words a coordinator understands happens in the flow (``FormError``), not in the schema.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cchc.core import assumptions
from cchc.core.calendar import plan_occurrences
from cchc.core.labels import EVIDENCE_KIND_VI
from cchc.core.spec import Duty, EvidenceKind, Plan, Report
from cchc.core.views import period_label

LABEL_MAX = 80  # a drop-down entry stays on about one line of the Prefect dialog


class FormError(ValueError):
    """An answer the form cannot take, said in Vietnamese with what to do."""


@dataclass(frozen=True)
class Choice:
    code: str
    label: str


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _unique(pairs: Sequence[tuple[str, str]]) -> list[Choice]:
    """Labels as given; where two read the same, each says its code too."""
    seen: dict[str, int] = {}
    for _, label in pairs:
        seen[label] = seen.get(label, 0) + 1
    return [Choice(code, label if seen[label] == 1 else f"{label} ({code})") for code, label in pairs]


def item_label(item: Duty | Report) -> str:
    """What the duty is, in the plan's words, cut to fit a drop-down line."""
    return _short(item.title, LABEL_MAX)


def duty_choices(plan: Plan, evidence_only: bool = False) -> list[Choice]:
    """Every duty and report of the plan; ``evidence_only``: those evidence is recorded for by hand (a report
    is met by its delivery, which the report flow records)."""
    items: list[Duty | Report] = [*plan.duties, *([] if evidence_only else plan.reports)]
    return _unique([(i.id, item_label(i)) for i in items])


def kind_label(kind: str) -> str:
    word = EVIDENCE_KIND_VI.get(kind, kind)
    return word[:1].upper() + word[1:]


def kind_choices(plan: Plan) -> list[Choice]:
    """The kinds any duty of the plan counts, in the enum's order."""
    used = {k for d in plan.duties for k in d.counted_kinds}
    return [Choice(k.value, kind_label(k.value)) for k in EvidenceKind if k in used]


def unit_choices(plan: Plan) -> list[Choice]:
    return _unique([(u.id, u.name) for u in plan.units])


def period_choices(plan: Plan) -> list[Choice]:
    """Every period some duty of the plan has, in time order ('tháng 10/2025', 'quý IV/2025'); periods that start
    together go shortest first (quý I, 6 tháng đầu, năm), and the key breaks the last ties so that the order never
    depends on set iteration (it did, and the form's schema, so the deployment's version, changed per process)."""
    spans = sorted({(o.starts, o.due, o.closes, o.period) for o in plan_occurrences(plan)})
    seen: set[str] = set()
    out = []
    for _, _, _, key in spans:
        if key not in seen:
            seen.add(key)
            out.append(Choice(key, period_label(key)))
    return out


def resolve(choices: Sequence[Choice], answer: str, what: str) -> str:
    """The code for a label (or a code, as the CLI and older runs send it)."""
    text = " ".join(answer.split())
    for c in choices:
        if text in (c.label, c.code):
            return c.code
    shown = "; ".join(c.label for c in choices[:8]) + ("; …" if len(choices) > 8 else "")
    raise FormError(f"{what} «{answer}» không có trong danh sách của kế hoạch; chọn một trong: {shown}.")


_DAY = re.compile(r"^\s*(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})\s*$")
_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")


def parse_day(answer: str | dt.date) -> dt.date:
    """A day written day/month/year (03/10/2025, 3-10-2025, 3.10.2025), or ISO from the CLI and the API."""
    if isinstance(answer, dt.date):
        return answer
    m = _DAY.match(answer)
    iso = _ISO.match(answer)
    try:
        if m:
            return dt.date(int(m[3]), int(m[2]), int(m[1]))
        if iso:
            return dt.date(int(iso[1]), int(iso[2]), int(iso[3]))
    except ValueError:
        raise FormError(
            f"Ngày «{answer.strip()}» không có thật; ghi theo dạng ngày/tháng/năm, ví dụ 03/10/2025."
        ) from None
    raise FormError(f"Ngày «{answer.strip()}» không đọc được; ghi theo dạng ngày/tháng/năm, ví dụ 03/10/2025.")


def _prop(position: int, title: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"title": title, "description": description, "position": position, **schema}


def _enum(choices: Sequence[Choice]) -> dict[str, Any]:
    return {"type": "string", "enum": [c.label for c in choices]}


DAY_HINT = "Ngày theo dạng ngày/tháng/năm, ví dụ 03/10/2025."


def _schema(properties: dict[str, dict[str, Any]], required: Sequence[str]) -> dict[str, Any]:
    return {"title": "Parameters", "type": "object", "properties": properties, "required": list(required)}


def evidence_form(plan: Plan) -> dict[str, Any]:
    """'Ghi nhận minh chứng' for one plan: the plan is the deployment's, everything else a choice or text."""
    return _schema(
        {
            "duty_id": _prop(
                0, "Nhiệm vụ", "Nhiệm vụ của kế hoạch mà minh chứng này tính cho.", **_enum(duty_choices(plan, True))
            ),
            "kind": _prop(
                1, "Loại minh chứng", "Chỉ những loại nhiệm vụ đó tính mới được nhận.", **_enum(kind_choices(plan))
            ),
            "title": _prop(2, "Tiêu đề", "Tên bài viết, chương trình, văn bản…", type="string", minLength=1),
            "date": _prop(3, "Ngày", f"Ngày đăng / ngày diễn ra (không sau hôm nay). {DAY_HINT}", type="string"),
            "url": _prop(
                4, "Đường dẫn", "Địa chỉ http/https của bài (bắt buộc với bài đăng).", type="string", default=""
            ),
            "unit": _prop(
                5,
                "Đơn vị thực hiện",
                "Đơn vị gửi minh chứng (nếu biết).",
                **_enum([Choice("", ""), *unit_choices(plan)]),
                default="",
            ),
        },
        ["duty_id", "kind", "title", "date"],
    )


def waiver_form(plan: Plan) -> dict[str, Any]:
    return _schema(
        {
            "duty_id": _prop(0, "Nhiệm vụ", "Nhiệm vụ có kỳ được miễn.", **_enum(duty_choices(plan))),
            "period": _prop(1, "Kỳ", "Kỳ được miễn: tháng, quý, 6 tháng hoặc năm.", **_enum(period_choices(plan))),
            "reason": _prop(2, "Lý do", "Lý do miễn (bắt buộc), ví dụ văn bản cho phép.", type="string", minLength=1),
            "by": _prop(3, "Người quyết định", "Họ tên, chức vụ.", type="string", default="điều phối viên"),
        },
        ["duty_id", "period", "reason"],
    )


def rejection_form(plan: Plan) -> dict[str, Any]:
    return _schema(
        {
            "evidence_id": _prop(
                0,
                "Số minh chứng",
                "Số của minh chứng (cột «Số» trong bảng minh chứng, hoặc `cchc audit`).",
                type="integer",
                minimum=1,
            ),
            "reason": _prop(1, "Lý do loại", "Ví dụ: bài không về cải cách hành chính.", type="string", minLength=1),
            "by": _prop(2, "Người quyết định", "Họ tên, chức vụ.", type="string", default="điều phối viên"),
        },
        ["evidence_id", "reason"],
    )


ASPECT_VI = {"due": "hạn", "count": "số lượng", "cadence": "chu kỳ", "effective": "ngày hiệu lực"}
ACTIONS = [Choice("confirm", "Giữ nguyên và xác nhận"), Choice("change", "Điều chỉnh rồi xác nhận")]
DUE_MONTHS = [
    Choice("last", "tháng cuối kỳ"),
    Choice("next", "tháng sau kỳ"),
    *(Choice(str(n), f"tháng thứ {n} của kỳ") for n in range(1, 13)),
]


def assumption_choices(plan: Plan) -> list[Choice]:
    """Every assumption of the plan as '«Báo cáo quý»: hạn' (code 'item|aspect'; the plan's effective date
    has no item). The label does not say whether it is confirmed: the form is registered once, decisions
    come later."""
    out = []
    for a in assumptions.listing(plan):
        if not a.item:
            out.append((f"|{a.aspect}", "Ngày hiệu lực của kế hoạch"))
            continue
        item = plan.item(a.item)
        name = item.short_title or _short(item.title, 60)
        out.append((f"{a.item}|{a.aspect}", f"{name}: {ASPECT_VI.get(a.aspect, a.aspect)}"))
    return _unique(out)


def assumption_form(plan: Plan) -> dict[str, Any]:
    return _schema(
        {
            "assumption": _prop(
                0,
                "Giả định",
                "Mốc kế hoạch không quy định, do bộ phận điều phối đặt.",
                **_enum(assumption_choices(plan)),
            ),
            "action": _prop(
                1,
                "Quyết định",
                "Giữ nguyên mốc đang dùng, hoặc điều chỉnh.",
                **_enum(ACTIONS),
                default=ACTIONS[0].label,
            ),
            "reason": _prop(2, "Căn cứ", "Văn bản, quyết định hoặc lý do (bắt buộc).", type="string", minLength=1),
            "by": _prop(3, "Người quyết định", "Họ tên, chức vụ (bắt buộc).", type="string", minLength=1),
            "due_day": _prop(
                4,
                "Hạn mới: ngày",
                "Khi điều chỉnh hạn: ngày cuối cùng còn tính (1–31).",
                type="integer",
                minimum=1,
                maximum=31,
            ),
            "due_in_month": _prop(
                5,
                "Hạn mới: tháng",
                "Khi điều chỉnh hạn: tháng nào của kỳ.",
                **_enum(DUE_MONTHS),
                default=DUE_MONTHS[0].label,
            ),
            "min_count": _prop(
                6,
                "Số lượng mới",
                "Khi điều chỉnh số lượng: số minh chứng tối thiểu mỗi kỳ.",
                type="integer",
                minimum=1,
                maximum=1000,
            ),
            "effective_from": _prop(7, "Ngày hiệu lực mới", f"Khi điều chỉnh ngày hiệu lực. {DAY_HINT}", type="string"),
        },
        ["assumption", "action", "reason", "by"],
    )

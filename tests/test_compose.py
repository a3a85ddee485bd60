"""Messages: Vietnamese templates, both parts, safe headers, escaped HTML."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy

import pendulum
import pytest

from cchc.core.calendar import plan_occurrences
from cchc.core.escalation import intents
from cchc.core.evaluate import Status
from cchc.core.loader import parse_plan
from notifications.compose import period_label, render_digest, render_intent, to_email
from tests.conftest import FIXTURES

AT = pendulum.datetime(2025, 9, 4, 9, tz="Asia/Ho_Chi_Minh")


def hostile_plan():  # type: ignore[no-untyped-def]
    text = (FIXTURES / "demo.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "title: Báo cáo quý", 'title: "Báo cáo quý\\r\\nBcc: ke-xau@evil.example <script>alert(1)</script>"'
    )
    return parse_plan(text)


def test_names_from_specs_cannot_inject_headers_and_html_is_escaped() -> None:
    plan = hostile_plan()
    q3 = next(o for o in plan_occurrences(plan) if o.duty == "bao-cao-quy" and o.period == "2025-Q3")
    (intent,) = [i for i in intents(plan, [(q3, Status.due_soon, 0)], AT) if i.step == "reminder-2"]
    r = render_intent(plan, intent, q3, "vhxh", AT)
    assert "\r" not in r.subject and "\n" not in r.subject
    assert "<script>" not in r.html and "&lt;script&gt;" in r.html
    msg = to_email(
        sender="CCHC <cchc@ubnd.example>",
        recipient=[("Phòng Văn hóa - Xã hội", "vhxh@phu-thong.example")],
        cc=[],
        subject=r.subject,
        text=r.text,
        html=r.html,
        message_id="<abc.1@ubnd.example>",
        date=AT,
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == r.subject
    assert parsed["Subject"].startswith("[CCHC xã Phủ Thông] Nhắc hạn: Báo cáo quý Bcc: ke-xau@evil.example")
    assert parsed["Subject"].endswith("(quý III/2025) — hạn 05/09/2025")
    assert parsed["Message-ID"] == "<abc.1@ubnd.example>"
    plain = parsed.get_body(("plain",))
    assert plain is not None and "Hạn: 05/09/2025" in plain.get_content()  # type: ignore[attr-defined]


def test_period_labels_are_vietnamese() -> None:
    assert period_label("2025-10") == "tháng 10/2025"
    assert period_label("2025-Q3") == "quý III/2025"
    assert period_label("2025-H2") == "6 tháng cuối năm 2025"
    assert period_label("2025") == "năm 2025"


def test_the_weekly_digest_lists_every_duty() -> None:
    plan = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))
    rows = [
        {
            "title": "Đăng tin",
            "lead": "Phòng Văn hóa - Xã hội",
            "period": "tháng 9/2025",
            "due": "30/09/2025",
            "status": "quá hạn",
            "count": 1,
            "required": 3,
        },
        {
            "title": "Hội thi",
            "lead": "Phòng Văn hóa - Xã hội",
            "period": "quý III/2025",
            "due": "30/09/2025",
            "status": "đang thực hiện",
            "count": 0,
            "required": None,
        },
    ]
    r = render_digest(plan, "Phòng Văn hóa - Xã hội", rows, pendulum.datetime(2025, 9, 22, 8, tz="Asia/Ho_Chi_Minh"))
    assert r.subject == "[CCHC xã Phủ Thông] Tình hình tuần 39/2025"
    assert "Đăng tin" in r.text and "1/3" in r.text and "Quá hạn hoặc không đạt: 1 nhiệm vụ." in r.text
    assert "Hội thi" in r.html and "<table" in r.html
    assert dt.date(2025, 9, 22).isocalendar().week == 39


def test_a_reminder_carries_the_units_signed_link_and_an_escalation_does_not(cchc_env: object) -> None:
    from cchc.core import links
    from cchc.settings import get_settings
    from notifications.messages import answer_link

    plan = parse_plan((FIXTURES / "demo.yaml").read_text(encoding="utf-8"))
    settings = get_settings()
    posts = next(o for o in plan_occurrences(plan) if o.duty == "posts" and o.period == "2025-10")
    at = pendulum.datetime(2025, 10, 21, 9, tz="Asia/Ho_Chi_Minh")
    (progress,) = [i for i in intents(plan, [(posts, Status.due_soon, 1)], at) if i.action == "progress"]
    link = answer_link(settings, plan, progress, posts, posts.lead)
    assert link is not None and link.startswith(settings.portal_url + "/n/")
    claims = links.verify(settings.link_secret(), link.rsplit("/", 1)[1], at)
    assert (claims.plan, claims.duty, claims.period, claims.unit) == (plan.id, "posts", "2025-10", posts.lead)
    assert claims.expires == links.expiry(posts.due)
    r = render_intent(plan, progress, posts, posts.lead, at, link)
    assert link in r.text and f'href="{link}"' in r.html

    # The leader's escalation asks the leader to act, not to send evidence: no link.
    escalation = dataclasses.replace(progress, action="escalation", step="escalation")
    assert answer_link(settings, plan, escalation, posts, "lanh-dao") is None


@pytest.mark.parametrize(
    "name",
    ["Văn phòng (HĐND; UBND)", "Phòng A, Bcc: x@y.example", 'Tổ "công nghệ" <số 1>', "Ban: tiếp dân; một cửa"],
)
def test_a_unit_name_with_specials_stays_the_display_name_of_the_unit(name: str) -> None:
    msg = to_email(
        sender="CCHC <cchc@ubnd.example>",
        recipient=[(name, "vp@xa.example")],
        cc=["pho-chu-tich@xa.example"],
        subject="s",
        text="t",
        html="<p>h</p>",
        message_id="<abc.2@ubnd.example>",
        date=AT,
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    (to,) = parsed["To"].addresses
    assert (to.display_name, to.addr_spec) == (name, "vp@xa.example")
    assert [a.addr_spec for a in parsed["Cc"].addresses] == ["pho-chu-tich@xa.example"]
    assert parsed["Bcc"] is None

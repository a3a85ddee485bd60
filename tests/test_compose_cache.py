"""compose.to_email's header cache: every message is byte for byte what the email package alone makes of it."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import random
from collections.abc import Iterator
from typing import Any

import pendulum
import pytest

from cchc.core.calendar import plan_occurrences
from cchc.core.escalation import intents
from cchc.core.evaluate import Status
from cchc.core.loader import load_plan
from notifications import compose
from tests.conftest import PLAN_DIR

SEEDS = sorted(PLAN_DIR.glob("*.yaml"))
SENDER = "Ủy ban nhân dân xã (CCHC) <cchc@ubnd.example>"
MOMENTS = [pendulum.datetime(2025, 9, 4, 9, tz="Asia/Ho_Chi_Minh"), pendulum.datetime(2026, 1, 5, 8, tz="UTC")]


def build(cache: bool, seed: int, **fields: Any) -> bytes:
    """One message flattened; the MIME boundary is random, so both builds draw it from the same seed."""
    msg = compose.to_email(cache_headers=cache, **fields)
    random.seed(seed)
    return msg.as_bytes()


def assert_same(fields: dict[str, Any], seed: int) -> bytes:
    plain = build(False, seed, **fields)
    assert build(True, seed, **fields) == plain
    assert build(True, seed, **fields) == plain  # the second cached build: everything comes from the cache
    return plain


def seed_messages() -> Iterator[dict[str, Any]]:
    """The seed plans' real messages: ladder steps (reminder, overdue, escalation), notices, digests."""
    for path in SEEDS:
        plan = load_plan(path)
        occs = plan_occurrences(plan)[:24]
        units = {u.id: u for u in plan.units}
        for n, at in enumerate(MOMENTS):
            status = Status.overdue if n else Status.due_soon
            for intent in intents(plan, [(o, status, 0) for o in occs], at)[:30]:
                occ = next(o for o in occs if (o.duty, o.period) == (intent.duty, intent.period))
                cc = [e for u in intent.cc if u in units for e in units[u].emails]
                for unit_id in intent.to:
                    r = compose.render_intent(plan, intent, occ, unit_id, at)
                    to = [(units[unit_id].name, e) for e in units[unit_id].emails] or [("", "x@ubnd.example")]
                    yield {"recipient": to, "cc": cc, "subject": r.subject, "text": r.text, "html": r.html, "date": at}
            notice = compose.render_notice(plan, "Văn phòng", "Thiếu địa chỉ thư", "Đề nghị bổ sung.\nCảm ơn.")
            digest = compose.render_digest(plan, "Lãnh đạo UBND", [], at, ["Hệ thống dừng 2 giờ."])
            for r in (notice, digest):
                to = [("Văn phòng", "vp@ubnd.example")]
                yield {"recipient": to, "cc": [], "subject": r.subject, "text": r.text, "html": r.html, "date": at}


def test_the_seed_plans_real_messages_are_byte_identical_cached_and_not() -> None:
    assert len(SEEDS) >= 5
    seen: set[str] = set()
    count = 0
    hits = compose.cached_header.cache_info().hits
    for fields in seed_messages():
        count += 1
        plain = assert_same(
            {"sender": SENDER, "message_id": f"<{count}.seed@ubnd.example>", **fields, "attachments": ()}, count
        )
        parsed = email.message_from_bytes(plain, policy=email.policy.default)
        assert parsed["Subject"] == fields["subject"]
        seen.add(fields["subject"])
    assert count > 100 and len(seen) > 20  # many messages, many repeated and distinct headers
    assert compose.cached_header.cache_info().hits - hits > count  # the cached builds did reuse headers


HOSTILE_SUBJECTS = [
    "[CCHC xã Phủ Thông] " + "Tuyên truyền cải cách hành chính, chuyển đổi số và Đề án 06 " * 18,  # > 998: folded
    "=?utf-8?b?W0NDSENd?= Nhắc hạn",  # an encoded word lookalike: must stay literal text
    "=?utf-8?q?Qu=C3=A1_h=E1=BA=A1n?= =?iso-8859-1?q?caf=E9?= và =?bad?x?=",
    "Quá hạn: \u2028 báo cáo \x00 quý \x7f III",  # control characters one_line turns into spaces
    "   ",
    "Đ" * 1200,  # one long word with no space to fold at
]
HOSTILE_NAMES = ["Văn phòng (HĐND; UBND)", "A, Bcc: x@evil.example", '"=?utf-8?q?Gi=C3=A1m_=C4=91=E1=BB=91c?="', ""]


@pytest.mark.parametrize("subject", HOSTILE_SUBJECTS)
def test_hostile_values_are_byte_identical_cached_and_not(subject: str) -> None:
    for n, name in enumerate(HOSTILE_NAMES):
        fields = {
            "sender": f"{name} <cchc@ubnd.example>" if name else SENDER,
            "recipient": [(name, "vp@ubnd.example"), ("Phòng Văn hóa - Xã hội", "vhxh@ubnd.example")],
            "cc": ["a@ubnd.example", " b@ubnd.example "],
            "subject": subject,
            "text": "Kính gửi.\n",
            "html": "<p>Kính gửi.</p>",
            "message_id": f"<{n}.hostile@ubnd.example>",
            "date": dt.datetime(2025, 9, 1, 8, tzinfo=dt.UTC),
            "attachments": [("bao-cao.docx", "application/octet-stream", b"PK\x03\x04" * 50)],
        }
        plain = assert_same(fields, n)
        parsed = email.message_from_bytes(plain, policy=email.policy.default)
        assert parsed["Bcc"] is None
        # What a reader sees is what it saw before (an encoded-word lookalike is decoded by the email package alike).
        assert parsed["Subject"] == str(compose.to_email(cache_headers=False, **fields)["Subject"])
        # The same message flattened with another policy: that policy's own folding, untouched by the cache.
        flat = []
        for cache in (True, False):
            msg = compose.to_email(cache_headers=cache, **fields)
            random.seed(n)
            flat.append((msg.as_bytes(policy=email.policy.SMTP), msg.as_string()))
        assert flat[0] == flat[1]


def test_cr_lf_is_still_refused_and_refusals_are_not_cached() -> None:
    for _ in range(2):  # the second time must fail too: an exception is never a cached value
        with pytest.raises(ValueError):
            compose.cached_header(compose.POLICY, "Subject", "Báo cáo\r\nBcc: x@evil.example")
    bad = {
        "sender": SENDER,
        "cc": [],
        "subject": "Nhắc hạn",
        "text": "x",
        "html": "<p>x</p>",
        "message_id": "<1@ubnd.example>",
        "date": dt.datetime(2025, 9, 1, 8, tzinfo=dt.UTC),
    }
    for addr in ["vp@ubnd.example\r\nBcc: x@evil.example", "vp@ubnd.example\nBcc: x@evil.example"]:
        errors = []
        for cache in (False, True, True):
            with pytest.raises(Exception) as caught:
                compose.to_email(cache_headers=cache, recipient=[("Văn phòng", addr)], **bad)
            errors.append((type(caught.value), str(caught.value)))
        assert errors[0] == errors[1] == errors[2]


def test_the_cache_is_bounded() -> None:
    info = compose.cached_header.cache_info()
    assert info.maxsize == compose.HEADER_CACHE_SIZE
    for i in range(compose.HEADER_CACHE_SIZE + 50):
        compose.cached_header(compose.POLICY, "Subject", f"Nhắc hạn số {i}")
    assert compose.cached_header.cache_info().currsize <= compose.HEADER_CACHE_SIZE

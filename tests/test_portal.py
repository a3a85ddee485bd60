"""The units' portal in headless Chromium: a signed link from a real reminder email, a link and a file sent.

Runs the portal as a real uvicorn server on loopback, a real SMTP server, a real SQLite file,
and Debian's chromium driven by Playwright.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pendulum
import pytest

from cchc.app import service
from cchc.app.mail_pass import run_tick
from cchc.portal.app import create_app
from cchc.settings import Settings, get_settings
from notifications.catcher import free_port
from tests.mailserver import MailServer, running
from tests.running import CHROMIUM, CHROMIUM_FLAGS, require_chromium, serving

pytestmark = pytest.mark.timeout_slow
TZ = "Asia/Ho_Chi_Minh"
PLAN = "phu-thong-2025"
DUTY = "ttdvth-tin-bai-website"


def _png() -> bytes:
    """A real 1x1 PNG: the portal checks a file's structure, not only its first bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


PNG = _png()


@dataclass
class Clock:
    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Env:
    settings: Settings
    clock: Clock
    mail: MailServer
    base: str


@pytest.fixture
def env(cchc_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    port = free_port()
    monkeypatch.setenv("CCHC_PORTAL_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("CCHC_UPLOAD_MAX_BYTES", "4096")
    clock = Clock(pendulum.datetime(2025, 10, 21, 10, tz=TZ))
    for mail in running():
        monkeypatch.setenv("CCHC_SMTP_URL", mail.url)
        get_settings.cache_clear()
        settings = get_settings()
        with serving(create_app(settings, clock), port):
            yield Env(settings, clock, mail, f"http://127.0.0.1:{port}")


def _reminder_link(env: Env) -> str:
    """Run the schedule's pass on 21 Oct: the October progress reminder goes out carrying the unit's link."""
    plan = service.resolve_plan(PLAN, env.settings)
    at = pendulum.datetime(2025, 10, 21, 8, tz=TZ)
    run_tick(env.settings, plan, at, at, [DUTY])
    (msg,) = [r for r in env.mail.received if "Nhắc tiến độ" in r.subject and "tháng 10/2025" in r.subject]
    assert msg.rcpt == ["ttdvth@phu-thong.example"]
    m = re.search(r"(http://127\.0\.0\.1:\d+/n/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)", msg.text())
    assert m, msg.text()
    return m.group(1)


def _stored_files(settings: Settings) -> list[Path]:
    return [p for p in settings.files_dir.rglob("*") if p.is_file()] if settings.files_dir.exists() else []


def test_a_unit_opens_its_link_from_the_reminder_and_sends_a_link_and_a_file(env: Env, browser: Any) -> None:
    link = _reminder_link(env)
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone screen
    page.goto(link)
    assert "Đăng tải tin, bài, văn bản chỉ đạo cải cách hành chính" in page.inner_text("h1")
    assert page.inner_text("#count").startswith("0/3")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.fill("#url", "https://phuthong.example/cchc/tin-1")
    page.fill("#link-title", "Xã Phủ Thông đẩy mạnh cải cách hành chính")
    page.click("#link-form button")
    assert "Đã ghi nhận" in page.inner_text("#done")
    assert page.inner_text("#count").startswith("1/3")

    page.goto(link)
    page.set_input_files("#file", files=[{"name": "hoi-nghi.png", "mimeType": "image/png", "buffer": PNG}])
    page.fill("#file-title", "Ảnh hội nghị triển khai CCHC")
    page.click("#file-form button")
    assert page.inner_text("#count").startswith("2/3")

    plan = service.resolve_plan(PLAN, env.settings)
    from cchc.store import repo
    from cchc.store.db import session_scope

    with session_scope(service.engine_for(env.settings)) as s:
        items = repo.evidence_for(s, plan.id, DUTY)
    assert [(e.origin, e.unit_id, e.occurred_on) for e in items] == [("portal", "ttdvth", dt.date(2025, 10, 21))] * 2
    stored = _stored_files(env.settings)
    assert [p.name for p in stored] == [items[1].file_sha256]  # named by content, never by the upload's name
    assert items[1].file_name and items[1].file_name.endswith(".png") and "hoi-nghi" not in items[1].file_name


def test_a_wrong_type_and_a_file_over_the_limit_are_refused_and_nothing_is_stored(env: Env, browser: Any) -> None:
    link = _reminder_link(env)
    page = browser.new_page()
    for name, data, message in (
        ("anh.png", b"day khong phai la anh, chi la chu", "Loại tệp này không được nhận"),
        ("lon.png", PNG + b"\x00" * 8192, "Tệp lớn hơn 4 KB"),
    ):
        page.goto(link)
        page.set_input_files("#file", files=[{"name": name, "mimeType": "image/png", "buffer": data}])
        page.fill("#file-title", "Ảnh")
        page.click("#file-form button")
        assert message in page.inner_text("#error")
        assert page.inner_text("#count").startswith("0/3")
    # Bad links and dates get a Vietnamese message and record nothing (posted as an old browser would).
    for form, message in (
        (
            {"url": "ftp://phuthong.example/tin", "title": "Tin", "date": "2025-10-20"},
            "không phải đường dẫn http/https",
        ),
        ({"url": "https://phuthong.example/tin", "title": "Tin", "date": "2025-10-30"}, "ở tương lai"),
        ({"url": "https://phuthong.example/tin", "title": " ", "date": "2025-10-20"}, "Cần nhập tiêu đề"),
        ({"url": "https://phuthong.example/tin", "title": "Tin", "date": "2025-09-30"}, "trước kỳ tháng 10/2025"),
    ):
        answer = page.request.post(link + "/link", form=form)
        assert answer.status == 400 and message in answer.text()
    plan = service.resolve_plan(PLAN, env.settings)
    assert all(j.count == 0 for j in service.judge_plan(env.settings, plan, env.clock.now) if j.occurrence.duty == DUTY)
    # A body far over the limit is refused from its declared length, before it is read.

    big = httpx.post(link + "/file", files={"file": ("x.png", PNG + b"\x00" * 200_000, "image/png")},
                     data={"title": "Ảnh", "date": "2025-10-21"}, timeout=10)  # fmt: skip
    assert big.status_code == 413 and "Tệp quá lớn" in big.text

    # Without a declared length (chunked), the bytes are counted as they arrive and refused the same way.
    def chunks() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n'
        for _ in range(50):
            yield b"\x00" * 8192

    chunked = httpx.post(
        link + "/file", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"}, timeout=10
    )
    assert chunked.status_code == 413 and "Tệp quá lớn" in chunked.text
    assert _stored_files(env.settings) == []


def test_a_tampered_or_expired_link_is_refused_and_records_nothing(env: Env, browser: Any) -> None:
    link = _reminder_link(env)
    page = browser.new_page()
    payload, sig = link.rsplit(".", 1)
    tampered = f"{payload}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"
    page.goto(tampered)
    assert page.inner_text("#refused") == "Đường dẫn không hợp lệ"
    other_unit = link.replace(link.split("/n/")[1].split(".")[0], link.split("/n/")[1].split(".")[0][::-1])
    response = page.goto(other_unit)
    assert response is not None and response.status == 403

    env.clock.now = pendulum.datetime(2025, 11, 20, 9, tz=TZ)  # due 31/10 + 14 days of grace: expired
    response = page.goto(link)
    assert response is not None and response.status == 410
    assert page.inner_text("#refused") == "Đường dẫn đã hết hạn"
    # A form posted to an expired link records nothing either.
    result = page.request.post(
        link + "/link", form={"url": "https://x.example/1", "title": "Tin", "date": "2025-11-20"}
    )
    assert result.status == 410
    plan = service.resolve_plan(PLAN, env.settings)
    judged = [j for j in service.judge_plan(env.settings, plan, env.clock.now) if j.occurrence.duty == DUTY]
    assert all(j.count == 0 for j in judged)


def test_a_link_takes_only_evidence_dated_inside_its_own_period(env: Env) -> None:
    """An October link used in early November: a November date would fill November, so it is refused."""
    link = _reminder_link(env)
    env.clock.now = pendulum.datetime(2025, 11, 5, 9, tz=TZ)  # the link still works (due 31/10 + grace)
    after = httpx.post(
        link + "/link", data={"url": "https://x.example/11", "title": "Tin tháng 11", "date": "2025-11-03"}
    )
    assert after.status_code == 400 and "sau kỳ tháng 10/2025 (đến 31/10/2025)" in after.text
    last_day = httpx.post(
        link + "/link", data={"url": "https://x.example/10", "title": "Tin ngày cuối", "date": "2025-10-31"}
    )
    assert last_day.status_code in (200, 303), last_day.text
    plan = service.resolve_plan(PLAN, env.settings)
    counts = {
        j.occurrence.period: j.count
        for j in service.judge_plan(env.settings, plan, env.clock.now)
        if j.occurrence.duty == DUTY
    }
    assert counts["2025-10"] == 1 and counts["2025-11"] == 0

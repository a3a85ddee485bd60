"""Transport security: STARTTLS required and verified, implicit TLS, loopback-only plain SMTP."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest
import trustme
from aiosmtpd.controller import Controller

from cchc.app.mail_pass import run_tick
from cchc.core.loader import load_plan
from cchc.settings import Settings, get_settings
from cchc.store import outbox as ob
from notifications.catcher import free_port
from notifications.smtp import MailConfigError, parse_smtp_url
from tests.conftest import PLAN_DIR
from tests.mailserver import Scripted

NOW = pendulum.datetime(2026, 11, 25, 9, tz="UTC")
AT = pendulum.datetime(2025, 9, 3, 8, 30, tz="Asia/Ho_Chi_Minh")  # reminder-1 of the Q3 report due 10/09
PHU_THAI = load_plan(PLAN_DIR / "phu-thai-2025h2.yaml")


def test_smtp_urls_are_parsed_and_unsafe_ones_refused() -> None:
    c = parse_smtp_url("smtp://c%C3%A1n-b%E1%BB%99:p%40ss@mail.example.vn")
    assert (c.scheme, c.host, c.port, c.username, c.password) == ("smtp", "mail.example.vn", 587, "cán-bộ", "p@ss")
    assert parse_smtp_url("smtps://mail.example.vn").port == 465
    assert parse_smtp_url("smtp+insecure://127.0.0.1").port == 1025
    assert parse_smtp_url("smtp+insecure://[::1]:2525").port == 2525
    with pytest.raises(MailConfigError, match=r"refused for 'mail\.example\.vn'"):
        parse_smtp_url("smtp+insecure://mail.example.vn:25")
    with pytest.raises(MailConfigError, match="scheme 'http' is not supported"):
        parse_smtp_url("http://mail.example.vn")
    with pytest.raises(MailConfigError, match="no host"):
        parse_smtp_url("smtp://")
    with pytest.raises(MailConfigError, match="not a valid URL"):
        parse_smtp_url("smtp://mail.example.vn:99999")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture
def tls_env(cchc_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, pytest.MonkeyPatch]]:
    monkeypatch.setenv("CCHC_SMTP_TIMEOUT", "5")
    yield cchc_env, monkeypatch


def _configure(monkeypatch: pytest.MonkeyPatch, url: str, ca_file: Path | None) -> Settings:
    monkeypatch.setenv("CCHC_SMTP_URL", url)
    if ca_file:
        monkeypatch.setenv("CCHC_SMTP_CA_FILE", str(ca_file))
    else:
        monkeypatch.delenv("CCHC_SMTP_CA_FILE", raising=False)
    get_settings.cache_clear()
    return get_settings()


def _statuses(settings: Settings) -> list[str]:
    from cchc.app import service
    from cchc.store.db import session_scope

    with session_scope(service.engine_for(settings)) as s:
        return [r.status for r in ob.rows(s)]


@pytest.mark.parametrize("trusted", [True, False])
def test_starttls_is_required_and_the_certificate_verified(
    tls_env: tuple[Settings, pytest.MonkeyPatch], ca: trustme.CA, tmp_path: Path, trusted: bool
) -> None:
    _, monkeypatch = tls_env
    handler = Scripted()
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, tls_context=_server_context(ca), require_starttls=True
    )
    controller.start()
    try:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        settings = _configure(monkeypatch, f"smtp://127.0.0.1:{port}", ca_file if trusted else None)
        result = run_tick(settings, PHU_THAI, AT, NOW, ["bao-cao-quy"])
        if trusted:
            assert len(result.sent) == 1 and len(handler.received) == 1
        else:
            assert result.sent == [] and handler.received == []
            assert any("TLS failed" in p for p in result.problems) and result.config_error
            assert _statuses(settings) == [ob.QUEUED], "a configuration fault loses nothing"
    finally:
        controller.stop()


def test_a_server_without_starttls_is_refused_for_smtp_urls(tls_env: tuple[Settings, pytest.MonkeyPatch]) -> None:
    _, monkeypatch = tls_env
    handler = Scripted()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = _configure(monkeypatch, f"smtp://127.0.0.1:{port}", None)
        result = run_tick(settings, PHU_THAI, AT, NOW, ["bao-cao-quy"])
        assert handler.received == [] and any("STARTTLS" in p for p in result.problems)
        assert _statuses(settings) == [ob.QUEUED]
    finally:
        controller.stop()


def test_implicit_tls_with_smtps(tls_env: tuple[Settings, pytest.MonkeyPatch], ca: trustme.CA, tmp_path: Path) -> None:
    _, monkeypatch = tls_env
    handler = Scripted()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=_server_context(ca))
    controller.start()
    try:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        settings = _configure(monkeypatch, f"smtps://127.0.0.1:{port}", ca_file)
        result = run_tick(settings, PHU_THAI, AT, NOW, ["bao-cao-quy"])
        assert len(result.sent) == 1 and len(handler.received) == 1
    finally:
        controller.stop()

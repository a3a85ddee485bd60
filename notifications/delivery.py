"""Delivery plumbing shared by every sender: the transport the settings choose, and async from sync code."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

from cchc.settings import Settings
from notifications.smtp import EmlTransport, SmtpTransport, Transport, parse_smtp_url

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, also when this thread already runs a loop (a Prefect task)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def make_transport(settings: Settings) -> Transport:
    if settings.smtp_url is None or not settings.smtp_url.get_secret_value().strip():
        return EmlTransport(settings.mail_dir)
    ca = str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    return SmtpTransport(parse_smtp_url(settings.smtp_url.get_secret_value(), settings.smtp_timeout, ca))

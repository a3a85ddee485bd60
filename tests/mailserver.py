"""A real SMTP server on loopback (aiosmtpd) whose answers a test can script."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifications.catcher import free_port


@dataclass
class Received:
    rcpt: list[str]
    msg: EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.msg["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.msg["Subject"])

    def text(self) -> str:
        part = self.msg.get_body(("plain",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]


@dataclass
class Scripted:
    """Accepts everything unless told otherwise: refuse some recipients, or answer DATA with codes."""

    refuse: dict[str, str] = field(default_factory=dict)  # address -> "550 ..." reply
    data_replies: list[str] = field(default_factory=list)  # consumed one per DATA; empty: accept
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.0  # seconds the server takes over each DATA before it answers (a slow server)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)  # the message is kept even if the client is gone by then
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            msg = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            self.received.append(Received(list(envelope.rcpt_tos), msg))
        return "250 2.0.0 queued"

    def by_subject(self, needle: str) -> list[Received]:
        return [r for r in self.received if needle in r.subject]


class MailServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = Scripted()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp+insecure://127.0.0.1:{self.port}"

    def start(self) -> MailServer:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def running(port: int | None = None) -> Iterator[MailServer]:
    server = MailServer(port).start()
    try:
        yield server
    finally:
        server.stop()


def ids(items: list[Any]) -> list[str]:
    return [r.message_id for r in items]

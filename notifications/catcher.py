"""`cchc mail serve`: a local SMTP catcher (aiosmtpd) that keeps every message it receives as a file.

For demos and trials: point CCHC_SMTP_URL at smtp+insecure://127.0.0.1:PORT and read the
messages in the inbox folder. It listens on loopback only.
"""

from __future__ import annotations

import email
import email.policy
import os
import socket
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifications.smtp import is_loopback, safe_name


class Catcher:
    """aiosmtpd handler: each accepted message becomes ``<Message-ID>.eml`` in the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.received = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        msg = email.message_from_bytes(content, policy=email.policy.default)
        name = safe_name(str(msg.get("Message-ID") or f"no-id-{os.getpid()}-{self.received}"))
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.part"
        header = f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode()
        tmp.write_bytes(header + content)
        tmp.replace(self.folder / f"{name}.eml")
        self.received += 1
        return "250 OK: stored"


def free_port(host: str = "127.0.0.1") -> int:
    """aiosmtpd's Controller cannot take port 0; ask the OS for a free port first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def start(folder: Path, host: str = "127.0.0.1", port: int = 1025, handler: Any | None = None) -> Controller:
    if not is_loopback(host):
        raise ValueError(f"the catcher listens on loopback only, not '{host}'")
    controller = Controller(handler or Catcher(folder), hostname=host, port=port)
    controller.start()
    return controller

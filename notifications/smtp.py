"""Transports: SMTP through aiosmtplib, or .eml files in a folder when no server is configured.

Failures are classified the way RFC 5321 asks: temporary ones (4yz, connection refused,
timeouts, a dropped connection) are retried later; permanent ones (5yz, a refused
recipient) are final for that message. A fault of the configuration itself (bad login,
an unverifiable certificate, a server without STARTTLS) concerns every message, so it
is raised and the messages stay queued until someone fixes the settings.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

import aiosmtplib
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

Kind = Literal["sent", "temporary", "permanent"]
DEFAULT_PORTS = {"smtp": 587, "smtps": 465, "smtp+insecure": 1025}


class MailConfigError(Exception):
    """The mail settings are wrong; the message says which setting and what to do."""


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    reply: str
    refused: dict[str, str] = field(default_factory=dict)  # address -> server's reason


@dataclass(frozen=True)
class SmtpConfig:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None
    timeout: float
    ca_file: str | None = None  # CA bundle to verify against instead of the system CAs (an internal mail server)

    @property
    def label(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_smtp_url(url: str, timeout: float = 30.0, ca_file: str | None = None) -> SmtpConfig:
    """``smtp://user:pass@host:587`` (STARTTLS required), ``smtps://…:465`` or ``smtp+insecure://127.0.0.1:1025``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        # Not the parser's message: it may quote part of the password.
        raise MailConfigError(
            "CCHC_SMTP_URL is not a valid URL (a '/', '#' or '?' in the password must be percent-encoded); "
            "example: smtp://user:password@mail.example.vn:587"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise MailConfigError(
            f"CCHC_SMTP_URL scheme '{parts.scheme}' is not supported; use smtp:// (STARTTLS), smtps:// (TLS) "
            "or smtp+insecure:// (loopback catchers only)"
        )
    host = parts.hostname or ""
    if not host:
        raise MailConfigError("CCHC_SMTP_URL has no host; example: smtp://user:password@mail.example.vn:587")
    if scheme == "smtp+insecure" and not is_loopback(host):
        raise MailConfigError(
            f"CCHC_SMTP_URL: smtp+insecure:// sends without TLS and is refused for '{host}'; "
            "it is only for a catcher on 127.0.0.1. Use smtp:// or smtps:// for a real server."
        )
    return SmtpConfig(
        scheme=scheme,
        host=host,
        port=port or DEFAULT_PORTS[scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=timeout,
        ca_file=ca_file,
    )


def _code_kind(code: int) -> Kind:
    return "temporary" if 400 <= code < 500 else "permanent"


class Transport(Protocol):
    where: str

    async def open(self) -> None: ...
    async def send(self, msg: EmailMessage, sender: str, recipients: list[str]) -> Outcome: ...
    async def close(self) -> None: ...


@runtime_checkable
class EnvelopeTransport(Transport, Protocol):
    """A transport that sends a message in two steps, so a pass can record the previous message while the
    envelope of the next one is on the wire: ``envelope`` delivers nothing, ``data`` delivers it."""

    async def envelope(self, sender: str, recipients: list[str], size: int) -> Outcome | None: ...
    async def data(self, message: bytes, message_id: str, meanwhile: Callable[[], object] | None = None) -> Outcome: ...
    async def reset(self) -> None: ...


class SmtpTransport:
    """One connection reused across a batch; reconnects once if the server drops it."""

    def __init__(self, config: SmtpConfig, tls_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self.where = config.label
        self.tls_context = tls_context
        self.client: aiosmtplib.SMTP | None = None
        self.reconnects = 0
        self.connects = 0
        self.refused: dict[str, tuple[int, str]] = {}  # recipients of the current envelope the server refused
        self.resets = 0  # envelopes taken back (RSET)

    def _client(self) -> aiosmtplib.SMTP:
        c = self.config
        return aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            username=c.username,
            password=c.password,
            timeout=c.timeout,
            use_tls=c.scheme == "smtps",
            # Never opportunistic: STARTTLS is required for smtp://, absent only for loopback catchers.
            start_tls=c.scheme == "smtp",
            validate_certs=True,
            tls_context=self.tls_context,
            cert_bundle=c.ca_file,
        )

    async def open(self) -> None:
        client = self._client()
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as e:
            raise MailConfigError(
                f"{self.where} refused the login ({e.code} {e.message}); check the user and password in CCHC_SMTP_URL"
            ) from None
        except ssl.SSLError as e:
            raise MailConfigError(
                f"{self.where}: TLS failed ({e}); the server's certificate must be valid for '{self.config.host}'"
            ) from None
        except aiosmtplib.SMTPException as e:
            # aiosmtplib reports a missing STARTTLS as a bare SMTPException; anything else is retried.
            if "STARTTLS" in str(e) and not isinstance(e, (OSError, aiosmtplib.SMTPResponseException)):
                raise MailConfigError(
                    f"{self.where} does not offer STARTTLS ({e}); use smtps:// or a server that supports it"
                ) from None
            raise
        self.client = client
        self.connects += 1

    async def send(self, msg: EmailMessage, sender: str, recipients: list[str]) -> Outcome:
        data = msg.as_bytes()
        return await self.envelope(sender, recipients, len(data)) or await self.data(data, str(msg["Message-ID"]))

    async def _connected(self) -> aiosmtplib.SMTP | Outcome:
        if self.client is None or not self.client.is_connected:
            if self.reconnects >= 1 and self.connects > 0:
                return Outcome("temporary", "connection lost and not re-established in this batch")
            try:
                if self.connects > 0:
                    self.reconnects += 1
                await self.open()
            except (OSError, aiosmtplib.SMTPException) as e:
                return Outcome("temporary", f"cannot connect to {self.where}: {e}")
        assert self.client is not None
        return self.client

    async def envelope(self, sender: str, recipients: list[str], size: int) -> Outcome | None:
        """MAIL FROM and RCPT TO of one message: None when the server waits for its DATA, else the outcome.

        Nothing is delivered before ``data``: a pass sends the envelope while it records the previous
        message, and can still take it back with ``reset``. The same steps as aiosmtplib's ``sendmail``.
        """
        client = await self._connected()
        if isinstance(client, Outcome):
            return client
        self.refused = {}
        try:
            options = [f"size={size}"] if client.supports_extension("size") else []
            await client.mail(sender, options=options)
            for address in recipients:
                try:
                    await client.rcpt(address)
                except aiosmtplib.SMTPRecipientRefused as e:
                    self.refused[address] = (e.code, e.message)
        except aiosmtplib.SMTPResponseException as e:
            await self.reset()
            return Outcome(_code_kind(e.code), f"{e.code} {e.message}")
        except (OSError, aiosmtplib.SMTPException) as e:  # disconnects and timeouts
            await self._drop()
            return Outcome("temporary", f"{type(e).__name__}: {e}")
        if recipients and len(self.refused) == len(recipients):
            await self.reset()
            kinds = {_code_kind(code) for code, _ in self.refused.values()}
            reasons = {a: f"{code} {why}" for a, (code, why) in self.refused.items()}
            return Outcome("temporary" if kinds == {"temporary"} else "permanent", "all recipients refused", reasons)
        return None

    async def data(self, message: bytes, message_id: str, meanwhile: Callable[[], object] | None = None) -> Outcome:
        """The message itself, after ``envelope``: once the server answers it has the message.

        ``meanwhile`` runs once the message is written, while the server takes it in (a pass builds the
        next message then); the answer is read after it."""
        if self.client is None or not self.client.is_connected:
            return Outcome("temporary", "connection lost before the message was sent")
        try:
            # Our own bytes: send_message would re-flatten with a policy that folds Vietnamese subjects badly.
            if meanwhile is None:
                reply = await self.client.data(message)
            else:
                reply = await self._data_meanwhile(self.client, message, meanwhile)
        except aiosmtplib.SMTPResponseException as e:
            await self.reset()
            return Outcome(_code_kind(e.code), f"{e.code} {e.message}")
        except (OSError, aiosmtplib.SMTPException) as e:  # disconnects and timeouts
            await self._drop()
            return Outcome("temporary", f"{type(e).__name__}: {e}")
        return Outcome("sent", reply.message, {a: f"{code} {why}" for a, (code, why) in self.refused.items()})

    async def _data_meanwhile(
        self, client: aiosmtplib.SMTP, message: bytes, meanwhile: Callable[[], object]
    ) -> aiosmtplib.SMTPResponse:
        """aiosmtplib's DATA (the same line endings and dot-stuffing), with ``meanwhile`` between writing the
        message and reading the server's answer."""
        start = await client.execute_command(b"DATA", timeout=self.config.timeout)
        if start.code != 354:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        protocol = client.protocol
        assert protocol is not None  # execute_command raised otherwise
        protocol.write(PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n")
        try:
            meanwhile()
        finally:
            # The answer is read whatever happened meanwhile: the connection stays in step.
            reply = await protocol.read_response(timeout=self.config.timeout)
        if reply.code != 250:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        return reply

    async def reset(self) -> None:
        """Drop the envelope under way (RSET); a failure here leaves the connection to the next send."""
        if self.client is not None and self.client.is_connected:
            self.resets += 1
            with contextlib.suppress(OSError, aiosmtplib.SMTPException):
                await self.client.rset()

    async def _drop(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            finally:
                self.client = None

    async def close(self) -> None:
        if self.client is not None and self.client.is_connected:
            with contextlib.suppress(OSError, aiosmtplib.SMTPException):
                await self.client.quit()
        await self._drop()


def safe_name(message_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", message_id.strip("<>"))


def write_eml(folder: Path, msg: EmailMessage | bytes, name: str) -> Path:
    """Atomically; the same message written twice is one file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.eml"
    tmp = folder / f".{name}.{os.getpid()}.part"
    tmp.write_bytes(msg if isinstance(msg, bytes) else msg.as_bytes())
    tmp.replace(target)
    return target


class EmlTransport:
    """The embedded default: no server configured, nothing lost, every message a file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.where = str(folder)

    async def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    async def send(self, msg: EmailMessage, sender: str, recipients: list[str]) -> Outcome:
        return await self.data(msg.as_bytes(), str(msg["Message-ID"]))

    async def envelope(self, sender: str, recipients: list[str], size: int) -> Outcome | None:
        return None

    async def data(self, message: bytes, message_id: str, meanwhile: Callable[[], object] | None = None) -> Outcome:
        try:
            path = write_eml(self.folder, message, safe_name(message_id))
        except OSError as e:
            return Outcome("temporary", f"cannot write to {self.folder}: {e}")
        finally:
            if meanwhile is not None:
                meanwhile()
        return Outcome("sent", f"saved {path}")

    async def reset(self) -> None:
        return None

    async def close(self) -> None:
        return None

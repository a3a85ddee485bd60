"""Signed links for units: one per unit and occurrence, so a unit answers a reminder without an account.

A token is ``payload.signature``: the payload is base64url JSON (plan, duty, period, unit, expiry),
the signature HMAC-SHA256 of the payload with the installation's secret. Pure: the secret and the
moment are parameters.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from cchc.core.periods import PERIOD_KEY_PATTERN
from cchc.core.spec import ID_PATTERN

GRACE = dt.timedelta(days=14)  # a late unit may still send evidence this long after the due time


class LinkError(ValueError):
    """The link cannot be used; ``reason`` is 'forged', 'malformed' or 'expired'."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class MalformedLink(LinkError):
    """The token is not a well-formed link (bad base64 or JSON, a missing or mistyped field, an id that is
    not an id, an expiry out of range); raised for any malformed input, never a bare ValueError/OverflowError."""

    def __init__(self, message: str):
        super().__init__("malformed", message)


MAX_TOKEN = 2048  # a real token is ~200 characters
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_ID = re.compile(ID_PATTERN)
_PERIOD = re.compile(PERIOD_KEY_PATTERN)
_MAX_ID = 64  # the spec's Slug
_MIN_EXPIRY = 946_684_800  # 2000-01-01
_MAX_EXPIRY = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
_FIELDS = frozenset({"p", "d", "k", "u", "e"})


def is_id(text: object) -> bool:
    """A plan, duty or unit id as the spec defines it: never a path, never empty, never too long."""
    return isinstance(text, str) and 0 < len(text) <= _MAX_ID and _ID.fullmatch(text) is not None


@dataclass(frozen=True)
class Claims:
    plan: str
    duty: str
    period: str
    unit: str
    expires: dt.datetime  # aware UTC


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _check(plan: object, duty: object, period: object, unit: object, expires: object) -> None:
    for name, value in (("plan", plan), ("duty", duty), ("unit", unit)):
        if not is_id(value):
            raise MalformedLink(f"the {name} of this link is not an id")
    if not isinstance(period, str) or _PERIOD.fullmatch(period) is None:
        raise MalformedLink("the period of this link is not a period key")
    # bool is an int in Python; a float (1e300), a string or null is refused rather than coerced.
    if type(expires) is not int or not _MIN_EXPIRY <= expires <= _MAX_EXPIRY:
        raise MalformedLink("the expiry of this link is not a timestamp in range")


def seal(secret: bytes, body: dict[str, object]) -> str:
    """``body`` as a token: base64url JSON, a dot, its HMAC-SHA256 (every signed link of the system)."""
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode())
    sig = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{sig}"


def unseal(secret: bytes, token: str) -> object:
    """The JSON body of a token ``seal`` made with this secret; LinkError otherwise. The signature is checked
    in constant time before anything in the payload is parsed; the caller checks the body's fields."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN:
        raise MalformedLink("this link is too long")
    payload, _, sig = token.partition(".")
    expected = _b64(hmac.new(secret, payload.encode("utf-8", "replace"), hashlib.sha256).digest())
    if not sig or not hmac.compare_digest(sig.encode("utf-8", "replace"), expected.encode()):
        raise LinkError("forged", "this link was not issued by the system or has been altered")
    if not _B64URL.fullmatch(payload):
        raise MalformedLink("this link is damaged (not base64url)")
    try:
        return json.loads(_unb64(payload).decode("utf-8"))
    except (ValueError, binascii.Error, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedLink("this link is damaged (not JSON)") from None


def sign(secret: bytes, claims: Claims) -> str:
    _check(claims.plan, claims.duty, claims.period, claims.unit, int(claims.expires.timestamp()))
    body: dict[str, object] = {
        "p": claims.plan,
        "d": claims.duty,
        "k": claims.period,
        "u": claims.unit,
        "e": int(claims.expires.timestamp()),
    }
    return seal(secret, body)


def verify(secret: bytes, token: str, now: dt.datetime) -> Claims:
    """The claims of a genuine, well-formed, unexpired token; LinkError otherwise (the signature is checked
    in constant time, before anything in the payload is parsed). Strict: every field must have its type and
    range, so malformed input raises MalformedLink and never another exception."""
    body = unseal(secret, token)
    if not isinstance(body, dict) or set(body) != _FIELDS:
        raise MalformedLink("this link is damaged (missing or unknown fields)")
    _check(body["p"], body["d"], body["k"], body["u"], body["e"])
    claims = Claims(body["p"], body["d"], body["k"], body["u"], dt.datetime.fromtimestamp(body["e"], dt.UTC))
    if now >= claims.expires:
        raise LinkError("expired", f"this link expired on {claims.expires.isoformat()}")
    return claims


def expiry(due: dt.datetime, grace: dt.timedelta = GRACE) -> dt.datetime:
    return (due + grace).astimezone(dt.UTC)

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
from dataclasses import dataclass

GRACE = dt.timedelta(days=14)  # a late unit may still send evidence this long after the due time


class LinkError(ValueError):
    """The link cannot be used; ``reason`` is 'forged' or 'expired'."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


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


def sign(secret: bytes, claims: Claims) -> str:
    body = {
        "p": claims.plan,
        "d": claims.duty,
        "k": claims.period,
        "u": claims.unit,
        "e": int(claims.expires.timestamp()),
    }
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode())
    sig = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{sig}"


def verify(secret: bytes, token: str, now: dt.datetime) -> Claims:
    """The claims of a genuine, unexpired token; LinkError otherwise (checked in constant time)."""
    payload, _, sig = token.partition(".")
    expected = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    if not sig or not hmac.compare_digest(sig.encode("utf-8", "replace"), expected.encode()):
        raise LinkError("forged", "this link was not issued by the system or has been altered")
    try:
        body = json.loads(_unb64(payload))
        claims = Claims(body["p"], body["d"], body["k"], body["u"], dt.datetime.fromtimestamp(int(body["e"]), dt.UTC))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise LinkError("forged", "this link is damaged") from None
    if now >= claims.expires:
        raise LinkError("expired", f"this link expired on {claims.expires.isoformat()}")
    return claims


def expiry(due: dt.datetime, grace: dt.timedelta = GRACE) -> dt.datetime:
    return (due + grace).astimezone(dt.UTC)

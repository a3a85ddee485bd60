"""Signed sign-in links for coordinators: one per person, so she acts in the portal under her own identity.

Same construction and the same secret as the units' links (cchc.core.links: base64url JSON payload, HMAC-SHA256,
checked in constant time before anything is parsed), but a different set of fields: a unit's link is never a
coordinator's and the other way round (each verifier refuses the other's payload as malformed). The link names
only the coordinator's id and an expiry; her commune and whether she is revoked are read from the store on every
request, so revoking takes effect at once. Pure: the secret and the moment are parameters.
"""

from __future__ import annotations

import datetime as dt

from cchc.core.links import LinkError, MalformedLink, seal, unseal

KIND = "coordinator"
VALIDITY = dt.timedelta(days=180)  # a half-year plan's life; `cchc coordinator add` can issue another
_FIELDS = frozenset({"t", "c", "e"})
_MIN_EXPIRY = 946_684_800  # 2000-01-01
_MAX_EXPIRY = 253_402_300_799  # 9999-12-31T23:59:59Z
_MAX_ID = 2**31 - 1


def sign(secret: bytes, coordinator_id: int, expires: dt.datetime) -> str:
    _check(coordinator_id, int(expires.timestamp()))
    return seal(secret, {"t": KIND, "c": coordinator_id, "e": int(expires.timestamp())})


def _check(coordinator_id: object, expires: object) -> None:
    if type(coordinator_id) is not int or not 0 < coordinator_id <= _MAX_ID:
        raise MalformedLink("the coordinator of this link is not an id")
    if type(expires) is not int or not _MIN_EXPIRY <= expires <= _MAX_EXPIRY:
        raise MalformedLink("the expiry of this link is not a timestamp in range")


def verify(secret: bytes, token: str, now: dt.datetime) -> int:
    """The coordinator id of a genuine, well-formed, unexpired sign-in link; LinkError otherwise."""
    body = unseal(secret, token)
    if not isinstance(body, dict) or set(body) != _FIELDS or body["t"] != KIND:
        raise MalformedLink("this is not a coordinator's sign-in link")
    _check(body["c"], body["e"])
    expires = dt.datetime.fromtimestamp(body["e"], dt.UTC)
    if now >= expires:
        raise LinkError("expired", f"this link expired on {expires.isoformat()}")
    coordinator_id: int = body["c"]
    return coordinator_id

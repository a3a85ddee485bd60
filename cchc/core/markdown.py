"""Make user text inert in Markdown (report, overdue artifact). Pure.

Titles, unit names and notes come from specs and evidence that anyone with a sender
address can write; the Prefect UI renders Markdown artifacts with raw HTML, links and
images. ``md_text`` turns such text into something that renders as the same words and
nothing else: no tag, no link, no image, no emphasis, no code, no table cell break, no
new line. Letters (Vietnamese diacritics included), digits, dots, hyphens, commas,
colons, slashes and spaces are left as they are, so ordinary text reads the same.
``md_url`` makes a link only of an http(s) URL, whose destination cannot break out of
``[label](url)``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
# Markdown punctuation that can open a link, image, emphasis, code span, strikethrough,
# heading or table cell; the backslash first, so the escapes added are not escaped again.
_MD = "\\`*_[]()!#|~"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPE = {**{c: "\\" + c for c in _MD}, **_HTML}
_TABLE = str.maketrans(_ESCAPE)
# Characters percent-encoded in a link destination: those that could end it, open an
# HTML tag or break a table cell, and whitespace.
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029()<>\"'`|\\\[\]{}^]")
SCHEMES = ("http", "https")


def md_text(s: object) -> str:
    """``s`` as inert text for a Markdown paragraph, list item, heading or table cell."""
    return _CONTROL.sub(" ", str(s)).translate(_TABLE)


def safe_url(url: str) -> str | None:
    """``url`` fit for a link destination, or ``None`` when it is not http(s) with a host."""
    u = url.strip()
    try:
        parts = urlsplit(u)
    except ValueError:
        return None
    if parts.scheme.lower() not in SCHEMES or not parts.netloc:
        return None
    return _URL_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), u)


def md_url(url: str, label: str | None = None) -> str:
    """A Markdown link to an http(s) ``url`` (shown as ``label``, else the URL); any other
    text (``javascript:``, ``data:``, a file name) as inert plain text, not a link."""
    dest = safe_url(url)
    if dest is None:
        return md_text(url if label is None else f"{label} ({url})")
    return f"[{md_text(url if label is None else label)}]({dest})"

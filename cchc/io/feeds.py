"""What a commune website publishes, read into dated items: an RSS/Atom feed, or a listing page by its selectors.

Parsing only (no network): the bytes come from ``cchc.io.fetch``. Feed items are dated by their own
publication stamp in the plan's time zone; pages and stamp-less feeds by Vietnamese date text
(``cchc.core.vndates``). A source that cannot be read as declared raises ``SourceError``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import feedparser
from selectolax.lexbor import LexborHTMLParser

from cchc.core.spec import FeedSource
from cchc.core.vndates import parse_vn_date
from cchc.io.fetch import SourceError


@dataclass(frozen=True)
class Item:
    link: str
    title: str
    published: dt.date | None
    text: str  # what keywords are matched against


_BENIGN = (feedparser.CharacterEncodingOverride,)


def parse_feed(data: bytes, now: dt.datetime, tz: str) -> list[Item]:
    d = feedparser.parse(data)
    usable = [e for e in d.entries if e.get("link")]
    # One stray '&' makes a feed "bozo" although every item was read: only a feed with nothing usable fails.
    if d.bozo and not isinstance(d.bozo_exception, _BENIGN) and not usable:
        raise SourceError(f"not a valid RSS/Atom feed ({d.bozo_exception})")
    if not d.entries and not d.feed.get("title"):
        raise SourceError("not an RSS/Atom feed: no channel and no items")
    items = []
    for e in d.entries:
        link = e.get("link")
        if not link:
            continue
        stamp = e.get("published_parsed") or e.get("updated_parsed")
        if stamp is not None:
            published: dt.date | None = (
                dt.datetime.fromtimestamp(calendar.timegm(stamp), dt.UTC).astimezone(ZoneInfo(tz)).date()
            )
        else:
            published = parse_vn_date(e.get("published", "") or e.get("updated", ""), now)
        title = " ".join(str(e.get("title", "")).split())
        items.append(Item(link, title, published, f"{title} {e.get('summary', '')}"))
    return items


def parse_page(data: bytes, source: FeedSource, base: str, now: dt.datetime) -> list[Item]:
    tree = LexborHTMLParser(data.decode("utf-8", errors="replace"))
    nodes = tree.css(source.items or "")
    if not nodes:
        raise SourceError(f"no element matches '{source.items}': the page changed shape")
    items = []
    for node in nodes:
        a = node.css_first(source.link)
        href = a.attributes.get("href") if a is not None else None
        if a is None or not href:
            continue
        t = node.css_first(source.title) if source.title else a
        title = " ".join((t.text() if t is not None else a.text()).split())
        d = node.css_first(source.date) if source.date else node
        published = parse_vn_date(d.text(separator=" ") if d is not None else "", now)
        items.append(Item(urljoin(base, href), title, published, title))
    if not items:
        raise SourceError(f"the items matching '{source.items}' have no link ('{source.link}'): the page changed shape")
    return items

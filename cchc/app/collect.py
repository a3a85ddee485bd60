"""Automatic evidence: the commune website's feed or CCHC listing page, read inside the duty flows.

Fetching is guarded: http/https only, every address the host resolves to must be public unless
the spec allows that host, redirects are followed by hand (each hop checked, at most 3), and a
timeout and a size cap bound every read. An item is recorded once per link and duty, dated by
its own publication date. A source that is down or changed shape is told to the coordinator once
(when it starts failing), and the flow goes on with the evidence it has.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import feedparser
import httpx
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cchc.app import service
from cchc.core.calendar import to_local
from cchc.core.spec import Plan, Source
from cchc.core.vndates import normalize, parse_vn_date
from cchc.settings import Settings
from cchc.store import outbox as ob
from cchc.store import repo
from cchc.store.db import session_scope
from cchc.store.models import EvidenceRow, SourceCheckRow
from notifications.messages import coordinator_notice

MAX_BYTES = 2 * 1024 * 1024
TIMEOUT = 10.0
MAX_REDIRECTS = 3
USER_AGENT = "cchc-collector/0.1 (theo doi ke hoach tuyen truyen CCHC)"


class SourceError(Exception):
    """The source cannot be read as declared; the message says why, for the coordinator."""


@dataclass(frozen=True)
class Item:
    link: str
    title: str
    published: dt.date | None
    text: str  # what keywords are matched against


@dataclass
class CollectResult:
    new: int = 0
    seen: int = 0
    problems: list[str] = field(default_factory=list)


Resolver = Callable[[str], Sequence[str]]


def _resolve(host: str) -> list[str]:
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except socket.gaierror as e:
        raise SourceError(f"cannot resolve {host}: {e.strerror}") from None
    except (UnicodeError, ValueError) as e:
        raise SourceError(f"'{host}' is not a valid host name ({e})") from None


def check_host(url: str, allow_hosts: Sequence[str], resolve: Resolver = _resolve) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"{url} is not an http/https address")
    host = parts.hostname
    if host in allow_hosts:
        return
    for addr in resolve(host):
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
        if not ip.is_global:
            raise SourceError(
                f"{host} is at {ip}, a private, loopback or link-local address; refused "
                "(add the host to allow_hosts in the spec if it really is the commune's server)"
            )


def fetch(
    url: str, allow_hosts: Sequence[str], timeout: float | None = None, max_bytes: int | None = None
) -> tuple[str, bytes]:
    """GET ``url`` under the rules above; returns the final address and the body."""
    timeout = timeout or TIMEOUT
    max_bytes = max_bytes or MAX_BYTES
    deadline = time.monotonic() + 3 * timeout  # the whole read, not each chunk: a dripping server is cut off
    with httpx.Client(follow_redirects=False, timeout=timeout, headers={"User-Agent": USER_AGENT}) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_host(url, allow_hosts)
            try:
                with client.stream("GET", url) as r:
                    if r.is_redirect:
                        url = urljoin(url, r.headers.get("location", ""))
                        continue
                    if r.status_code != 200:
                        raise SourceError(f"{url} answered HTTP {r.status_code}")
                    body = bytearray()
                    for chunk in r.iter_bytes():
                        body += chunk
                        if len(body) > max_bytes:
                            raise SourceError(f"{url} is larger than {max_bytes // 1024} KiB; refused")
                        if time.monotonic() > deadline:
                            raise SourceError(f"{url} did not finish within {3 * timeout:g} s")
                    return url, bytes(body)
            except httpx.TimeoutException:
                raise SourceError(f"{url} did not answer within {timeout:g} s") from None
            except (httpx.HTTPError, httpx.InvalidURL) as e:
                raise SourceError(f"{url} cannot be read: {e}") from None
        raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects")


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


def parse_page(data: bytes, source: Source, base: str, now: dt.datetime) -> list[Item]:
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


def matches(item: Item, keywords: Sequence[str]) -> bool:
    if not keywords:
        return True
    text = normalize(item.text)
    return any(normalize(k) in text for k in keywords)


def read(source: Source, now: dt.datetime, tz: str) -> list[Item]:
    final, data = fetch(source.url, source.allow_hosts)
    if source.type == "feed":
        return parse_feed(data, now, tz)
    return parse_page(data, source, final, now)


def collect(
    settings: Settings, plan: Plan, duty_id: str, at: dt.datetime, now: dt.datetime | None = None
) -> CollectResult:
    """Read every source of the duty; record new items dated up to ``at``; report failures once."""
    result = CollectResult()
    duty = next((d for d in plan.duties if d.id == duty_id), None)
    if duty is None or not duty.sources:
        return result
    now = now or at
    local = to_local(at, plan.timezone)
    for source in duty.sources:
        try:
            items = read(source, local, plan.timezone)
        except Exception as e:  # one broken source must not stop the duty's run
            why = str(e) if isinstance(e, SourceError) else f"{type(e).__name__}: {e}"
            result.problems.append(f"{source.name or source.url}: {why}")
            _failed(settings, plan, duty_id, source, why, now)
            continue
        undated = sum(1 for i in items if i.published is None)
        if undated:
            result.problems.append(f"{source.name or source.url}: {undated} item(s) without a readable date skipped")
        wanted = [
            i for i in items if i.published is not None and i.published <= local.date() and matches(i, source.keywords)
        ]
        result.seen += len(wanted)
        known = _known_links(settings, plan, duty_id, [i.link for i in wanted], now)
        for item in wanted:
            assert item.published is not None
            if _link_key(item.link) in known:
                continue  # recorded by an earlier run: no write at all
            try:
                rec = service.record_evidence(
                    settings,
                    plan,
                    service.EvidenceInput(
                        duty=duty_id,
                        kind=source.kind.value,
                        title=item.title or item.link,
                        occurred_on=item.published,
                        url=item.link,
                        unit=source.unit or duty.lead,
                        source=source.type,
                    ),
                    max(now, local),
                )
            except service.UserError as e:
                result.problems.append(f"{source.name or source.url}: {item.link}: {e}")
                continue
            result.new += 0 if rec.duplicate else 1
        _ok(settings, plan, duty_id, source, now, result.seen)
    return result


def _link_key(link: str) -> str | None:
    try:
        return repo.url_key(link)
    except repo.StoreError:
        return None


def _known_links(settings: Settings, plan: Plan, duty_id: str, links: Sequence[str], now: dt.datetime) -> set[str]:
    """Dedup keys already in the store, in one query, so an unchanged feed costs one read."""
    keys = sorted({k for k in map(_link_key, links) if k})
    if not keys:
        return set()
    engine = service.engine_for(settings)
    service.ensure_plan(engine, plan, now)
    with session_scope(engine) as s:
        q = select(EvidenceRow.dedup_key).where(
            EvidenceRow.plan_id == plan.id, EvidenceRow.duty_id == duty_id, EvidenceRow.dedup_key.in_(keys)
        )
        return set(s.scalars(q))


def _row(session: Session, plan_id: str, duty_id: str, url: str, now: dt.datetime) -> SourceCheckRow:
    ins = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        ins(SourceCheckRow)
        .values(plan_id=plan_id, duty_id=duty_id, url=url, checked_at=now, items_seen=0)
        .on_conflict_do_nothing()
    )
    row = session.scalar(
        select(SourceCheckRow)
        .where(SourceCheckRow.plan_id == plan_id, SourceCheckRow.duty_id == duty_id, SourceCheckRow.url == url)
        .with_for_update()  # two overlapping runs must not both see a new failure
    )
    assert isinstance(row, SourceCheckRow)
    return row


def _ok(settings: Settings, plan: Plan, duty_id: str, source: Source, now: dt.datetime, seen: int) -> None:
    with session_scope(service.engine_for(settings)) as s:
        row = _row(s, plan.id, duty_id, source.url, now)
        row.checked_at, row.ok_at, row.failing_since, row.last_error, row.items_seen = now, now, None, None, seen


def _failed(settings: Settings, plan: Plan, duty_id: str, source: Source, error: str, now: dt.datetime) -> None:
    """Record the failure; the coordinator is told when a source starts failing, not on every run."""
    engine = service.engine_for(settings)
    service.ensure_plan(engine, plan, now)
    with session_scope(engine) as s:
        row = _row(s, plan.id, duty_id, source.url, now)
        row.checked_at, row.last_error = now, error
        if row.failing_since is not None:
            return
        row.failing_since = now
        since = time.strftime("%Y%m%dT%H%M%S", now.astimezone(dt.UTC).timetuple())
        tag = hashlib.sha256(source.url.encode()).hexdigest()[:12]
        text = (
            f'Nguồn minh chứng tự động "{source.name or source.url}" ({source.url}) của nhiệm vụ '
            f'"{plan.duty(duty_id).title}" không đọc được: {error}. Hệ thống vẫn đánh giá theo minh chứng đã có; '
            "đề nghị kiểm tra trang (hoặc sửa mục 'sources' của nhiệm vụ trong kế hoạch) và ghi nhận minh chứng "
            "bằng tay trong thời gian chờ."
        )
        key = f"{plan.id}:notice:source:{duty_id}:{tag}:{since}"
        ob.enqueue(s, coordinator_notice(settings, plan, key, "nguồn minh chứng không đọc được", text, now), now)

"""Automatic evidence: the commune website's feed or CCHC listing page, read inside the duty flows.

Reading is ``cchc.io`` (``fetch``: the guarded GET; ``feeds``: feed and page parsers); the store's
side is ``cchc.store.sources``. This use case reads each source of a duty, keeps the items that
match its keywords and are dated up to the moment judged, records each new one once per link and
duty (dated by its own publication date), and tells the coordinator once when a source starts
failing (down, or changed shape); the flow goes on with the evidence it has.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from cchc.app import service
from cchc.core.calendar import to_local
from cchc.core.spec import FeedSource, Plan
from cchc.core.vndates import normalize
from cchc.io.feeds import Item, parse_feed, parse_page
from cchc.io.fetch import DEFAULT_LIMITS, Limits, Resolver, SourceError, fetch, resolve_host
from cchc.settings import Settings
from cchc.store import outbox as ob
from cchc.store import sources as source_store
from cchc.store.db import session_scope
from notifications.messages import coordinator_notice


@dataclass
class CollectResult:
    new: int = 0
    seen: int = 0
    problems: list[str] = field(default_factory=list)


def matches(item: Item, keywords: Sequence[str]) -> bool:
    if not keywords:
        return True
    text = normalize(item.text)
    return any(normalize(k) in text for k in keywords)


def read(
    source: FeedSource,
    now: dt.datetime,
    tz: str,
    *,
    transport: httpx.BaseTransport | None = None,
    resolve: Resolver = resolve_host,
    limits: Limits = DEFAULT_LIMITS,
) -> list[Item]:
    final, data = fetch(source.url, source.allow_hosts, limits=limits, transport=transport, resolve=resolve)
    if source.type == "feed":
        return parse_feed(data, now, tz)
    return parse_page(data, source, final, now)


def collect(
    settings: Settings,
    plan: Plan,
    duty_id: str,
    at: dt.datetime,
    now: dt.datetime | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    resolve: Resolver = resolve_host,
    limits: Limits = DEFAULT_LIMITS,
) -> CollectResult:
    """Read every source of the duty; record new items dated up to ``at``; report failures once.

    ``transport``, ``resolve`` and ``limits`` go to ``cchc.io.fetch.fetch`` (defaults: the network,
    the system resolver, 10 s / 2 MiB / 3 redirects); the guards apply whatever is given.
    """
    result = CollectResult()
    try:
        duty = plan.duty(duty_id)
    except KeyError:  # a report: nothing to collect
        return result
    if not duty.sources:
        return result
    now = now or at
    local = to_local(at, plan.timezone)
    for source in duty.sources:
        try:
            items = read(source, local, plan.timezone, transport=transport, resolve=resolve, limits=limits)
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
            if item.link in known:
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
                        origin=source.type,
                    ),
                    max(now, local),
                )
            except service.UserError as e:
                result.problems.append(f"{source.name or source.url}: {item.link}: {e}")
                continue
            result.new += 0 if rec.duplicate else 1
        _ok(settings, plan, duty_id, source, now, result.seen)
    return result


def _known_links(settings: Settings, plan: Plan, duty_id: str, links: Sequence[str], now: dt.datetime) -> set[str]:
    """The links already in the store, in one query, so an unchanged feed costs one read."""
    if not links:
        return set()
    engine = service.engine_for(settings)
    service.ensure_plan(engine, plan, now)
    with session_scope(engine) as s:
        return source_store.known_links(s, plan.id, duty_id, links)


def _ok(settings: Settings, plan: Plan, duty_id: str, source: FeedSource, now: dt.datetime, seen: int) -> None:
    with session_scope(service.engine_for(settings)) as s:
        source_store.record_ok(s, plan.id, duty_id, source.url, now, seen)


def _failed(settings: Settings, plan: Plan, duty_id: str, source: FeedSource, error: str, now: dt.datetime) -> None:
    """Record the failure; the coordinator is told when a source starts failing, not on every run."""
    engine = service.engine_for(settings)
    service.ensure_plan(engine, plan, now)
    with session_scope(engine) as s:
        if not source_store.record_failure(s, plan.id, duty_id, source.url, error, now):
            return
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

"""Collectors against a real HTTP server on loopback serving portal-shaped fixtures, and through an injected
transport (``httpx.MockTransport``, no socket at all) to show the fetch's guards hold around any transport."""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pendulum
import pytest
import yaml

from cchc.app import collect as collectors
from cchc.app import service
from cchc.io.fetch import Limits, SourceError, check_host, fetch
from cchc.settings import Settings, get_settings
from cchc.store import outbox as ob
from cchc.store.db import session_scope
from tests.conftest import FIXTURES, PLAN_DIR
from tests.webserver import Route, Web, serving

TZ = "Asia/Ho_Chi_Minh"
DUTY = "ttdvth-tin-bai-website"
KEYWORDS = ["cải cách hành chính", "CCHC", "thủ tục hành chính", "dịch vụ công"]
RSS = (FIXTURES / "web" / "phu-thong-rss.xml").read_bytes()
PAGE = (FIXTURES / "web" / "phu-thong-cchc.html").read_bytes()
AT = pendulum.datetime(2025, 10, 31, 9, tz=TZ)


@pytest.fixture
def web() -> Iterator[Web]:
    yield from serving()


def use_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sources: list[dict[str, Any]]) -> Settings:
    """Phủ Thông's plan with these sources on its website duty, in a plan folder of its own."""
    spec = yaml.safe_load((PLAN_DIR / "phu-thong-2025.yaml").read_text(encoding="utf-8"))
    for d in spec["duties"]:
        if d["id"] == DUTY:
            d["sources"] = sources
    folder = tmp_path / "plans"
    folder.mkdir(exist_ok=True)
    (folder / "phu-thong-2025.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("CCHC_PLAN_DIR", str(folder))
    get_settings.cache_clear()
    return get_settings()


def feed(web: Web, path: str = "/rss/cchc.rss", **extra: Any) -> dict[str, Any]:
    return {
        "type": "feed",
        "name": "RSS chuyên mục CCHC",
        "url": web.url(path),
        "keywords": KEYWORDS,
        "allow_hosts": ["127.0.0.1"],
        **extra,
    }


def collect(settings: Settings, at: dt.datetime = AT, **fetching: Any) -> collectors.CollectResult:
    """One collection at ``at``; ``fetching``: transport / resolve / limits, passed on to the fetch."""
    plan = service.resolve_plan("phu-thong-2025", settings)
    return collectors.collect(settings, plan, DUTY, at, at, **fetching)


def recorded(settings: Settings) -> list[tuple[str, dt.date, str, str | None]]:
    plan = service.resolve_plan("phu-thong-2025", settings)
    from cchc.store import repo

    with session_scope(service.engine_for(settings)) as s:
        return [(e.url or "", e.occurred_on, e.origin, e.unit_id) for e in repo.evidence_for(s, plan.id, DUTY)]


def notices(settings: Settings) -> list[str]:
    with session_scope(service.engine_for(settings)) as s:
        return [r.body_text for r in ob.rows(s, "phu-thong-2025") if ":notice:source:" in r.key]


def test_new_feed_items_are_recorded_once_with_their_own_dates_and_keywords_hold(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: Web
) -> None:
    web.routes["/rss/cchc.rss"] = Route(body=RSS, content_type="application/rss+xml; charset=utf-8")
    settings = use_sources(tmp_path, monkeypatch, [feed(web)])
    result = collect(settings)
    assert (result.new, result.problems) == (3, [])
    got = recorded(settings)
    assert sorted((u.rsplit("/", 1)[1], d) for u, d, _, _ in got) == [
        ("day-manh-cai-cach-hanh-chinh-1017.html", dt.date(2025, 10, 17)),
        ("huong-dan-dich-vu-cong-1010.html", dt.date(2025, 10, 10)),
        ("sipas-1003.html", dt.date(2025, 10, 3)),  # 00:30 +07:00 is still 3 October here
    ]
    assert {(src, unit) for _, _, src, unit in got} == {("feed", "ttdvth")}
    assert "bong-chuyen" not in " ".join(u for u, *_ in got)  # the unrelated post is filtered out
    again = collect(settings)
    assert (again.new, len(recorded(settings))) == (0, 3)


def test_items_dated_after_the_moment_judged_wait_for_their_day(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: Web
) -> None:
    web.routes["/rss/cchc.rss"] = Route(body=RSS)
    settings = use_sources(tmp_path, monkeypatch, [feed(web)])
    assert collect(settings, pendulum.datetime(2025, 10, 12, 9, tz=TZ)).new == 2
    assert collect(settings, pendulum.datetime(2025, 10, 20, 9, tz=TZ)).new == 1


def test_a_listing_page_is_read_with_its_selectors_and_vietnamese_dates(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: Web
) -> None:
    web.routes["/cai-cach-hanh-chinh"] = Route(body=PAGE)
    page = {
        "type": "page",
        "name": "Chuyên mục CCHC",
        "url": web.url("/cai-cach-hanh-chinh"),
        "items": "article.news-item",
        "link": "a.title",
        "date": "span.date",
        "keywords": KEYWORDS,
        "allow_hosts": ["127.0.0.1"],
    }
    settings = use_sources(tmp_path, monkeypatch, [page])
    assert collect(settings).new == 2
    assert sorted((u, d) for u, d, *_ in recorded(settings)) == [
        (web.url("/cai-cach-hanh-chinh/ket-qua-cchc-quy-iii-2209.html"), dt.date(2025, 9, 22)),
        (web.url("/cai-cach-hanh-chinh/mot-cua-1509.html"), dt.date(2025, 9, 15)),
    ]


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (Route(body=b"<rss><channel><title>Tin</title><item><title>CCHC</ite"), "not a valid RSS/Atom feed"),
        (Route(500, b"Internal Server Error"), "HTTP 500"),
        (Route(body=b"x" * 4096), "larger than"),
        (Route(302, headers={"Location": "http://10.20.30.40/rss"}), "10.20.30.40, a private"),
    ],
    ids=["malformed", "http-500", "too-large", "redirect-to-private"],
)
def test_a_broken_source_is_reported_once_and_records_nothing(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: Web, route: Route, expected: str
) -> None:
    small = Limits(max_bytes=2048)  # the fixture feed (2032 bytes) still fits
    web.routes["/rss/cchc.rss"] = route
    settings = use_sources(tmp_path, monkeypatch, [feed(web)])
    result = collect(settings, limits=small)
    assert result.new == 0 and len(result.problems) == 1 and expected in result.problems[0]
    assert recorded(settings) == []
    assert len(notices(settings)) == 1 and expected in notices(settings)[0]
    collect(settings, AT.add(days=1), limits=small)  # still broken the next day: not told again
    assert len(notices(settings)) == 1
    web.routes["/rss/cchc.rss"] = Route(body=RSS)  # repaired: collected again, and a later failure is news again
    assert collect(settings, AT.add(days=2), limits=small).new == 3
    web.routes["/rss/cchc.rss"] = Route(500, b"down")
    collect(settings, AT.add(days=3), limits=small)
    assert len(notices(settings)) == 2


def test_a_source_that_does_not_answer_in_time_is_reported(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: Web
) -> None:
    web.routes["/rss/cchc.rss"] = Route(body=RSS, delay=2.0)
    settings = use_sources(tmp_path, monkeypatch, [feed(web)])
    result = collect(settings, limits=Limits(timeout=0.5))
    assert result.new == 0 and "did not answer within 0.5 s" in result.problems[0]


def test_loopback_is_refused_unless_the_spec_allows_the_host(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: Web
) -> None:
    web.routes["/rss/cchc.rss"] = Route(body=RSS)
    settings = use_sources(tmp_path, monkeypatch, [feed(web, allow_hosts=[])])
    result = collect(settings)
    assert "127.0.0.1, a private, loopback or link-local address" in result.problems[0]
    assert web.hits == []  # refused before connecting
    web.routes["/hop"] = Route(302, headers={"Location": f"http://localhost:{web.port}/rss/cchc.rss"})
    settings = use_sources(tmp_path, monkeypatch, [feed(web, path="/hop")])
    result = collect(settings)
    assert "localhost is at" in result.problems[0] and web.hits == ["/hop"]


def test_a_source_whose_kind_the_duty_does_not_count_is_a_spec_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cchc.core.loader import SpecError, load_plan

    use_sources(tmp_path, monkeypatch, [{"type": "feed", "url": "https://x.example/rss", "kind": "photo"}])
    with pytest.raises(SpecError, match="kind 'photo' does not count for this duty"):
        load_plan(tmp_path / "plans" / "phu-thong-2025.yaml")


def test_a_feed_with_one_stray_ampersand_is_still_read(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: Web
) -> None:
    sloppy = RSS.replace("<title>Giải bóng chuyền".encode(), "<title>Văn hóa & Thể thao: Giải bóng chuyền".encode())
    web.routes["/rss/cchc.rss"] = Route(body=sloppy)
    settings = use_sources(tmp_path, monkeypatch, [feed(web)])
    result = collect(settings)
    assert (result.new, result.problems) == (3, [])


def test_any_failure_of_one_source_is_reported_and_the_next_source_still_read(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: Web
) -> None:
    web.routes["/bad"] = Route(302, headers={"Location": "http://[::1/feed"})  # not even a URL
    web.routes["/rss/cchc.rss"] = Route(body=RSS)
    settings = use_sources(tmp_path, monkeypatch, [feed(web, path="/bad"), feed(web)])
    result = collect(settings)
    assert result.new == 3 and len(result.problems) == 1 and "/bad" in result.problems[0]


def test_a_very_long_link_is_keyed_by_its_hash_and_recorded_once() -> None:
    from cchc.store import repo

    url = "https://phuthong.example/tin?" + "x" * 700
    key = repo.url_key(url)
    assert len(key) < 600 and key.startswith("url-sha256:") and key == repo.url_key(url + "#top")


def test_a_page_source_with_a_broken_selector_is_a_spec_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cchc.core.loader import SpecError, load_plan

    page = {"type": "page", "url": "https://x.example/cchc", "items": "article[", "link": "a"}
    use_sources(tmp_path, monkeypatch, [page])
    with pytest.raises(SpecError, match="items: 'article\\[' is not a valid CSS selector"):
        load_plan(tmp_path / "plans" / "phu-thong-2025.yaml")


# An injected transport: the website answered in memory, the guards still around it.

SITE = "https://phuthong.example"  # .example never resolves: only the injected transport can answer


def public(host: str) -> Sequence[str]:
    """The injected resolver: every name is at a public address (a VNPT block)."""
    return ["113.160.0.1"]


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tripwire: any attempt to resolve a name or open a TCP connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network used: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


class Site:
    """An ``httpx.MockTransport`` serving routes from memory and noting every request."""

    def __init__(self, routes: dict[str, httpx.Response]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self.answer)

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.routes.get(str(request.url), httpx.Response(404, content=b"not found"))

    @property
    def urls(self) -> list[str]:
        return [str(r.url) for r in self.requests]


@pytest.mark.usefixtures("no_sockets")
def test_an_injected_transport_is_what_reads_the_feed(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{SITE}/rss/cchc.rss"
    site = Site({url: httpx.Response(200, content=RSS, headers={"Content-Type": "application/rss+xml"})})
    source = {"type": "feed", "name": "RSS chuyên mục CCHC", "url": url, "keywords": KEYWORDS}
    settings = use_sources(tmp_path, monkeypatch, [source])
    result = collect(settings, transport=site.transport, resolve=public)
    assert (result.new, result.problems) == (3, [])
    assert site.urls == [url]
    assert site.requests[0].headers["User-Agent"].startswith("cchc-collector/")
    assert len(recorded(settings)) == 3
    again = collect(settings, transport=site.transport, resolve=public)  # the transport is not closed after use
    assert (again.new, site.urls) == (0, [url, url])


@pytest.mark.usefixtures("no_sockets")
def test_a_redirect_to_a_private_address_is_refused_through_an_injected_transport(
    cchc_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{SITE}/rss/cchc.rss"
    site = Site(
        {
            url: httpx.Response(302, headers={"Location": "http://10.20.30.40/rss"}),
            "http://10.20.30.40/rss": httpx.Response(200, content=RSS),
        }
    )
    settings = use_sources(tmp_path, monkeypatch, [{"type": "feed", "url": url, "keywords": KEYWORDS}])
    result = collect(settings, transport=site.transport, resolve=public)
    assert result.new == 0 and len(result.problems) == 1 and "10.20.30.40, a private" in result.problems[0]
    assert site.urls == [url]  # the second hop was checked and never asked for
    assert recorded(settings) == [] and len(notices(settings)) == 1


def dripping(chunks: int, pause: float) -> Iterator[bytes]:
    for _ in range(chunks):
        time.sleep(pause)
        yield b"<rss>"


@pytest.mark.usefixtures("no_sockets")
@pytest.mark.parametrize(
    ("routes", "resolve", "limits", "expected", "asked"),
    [
        ({}, lambda h: ["192.168.1.10"], Limits(), "192.168.1.10, a private", 0),
        ({"/": httpx.Response(302, headers={"Location": "file:///etc/passwd"})}, public, Limits(), "not an http", 1),
        ({"/": httpx.Response(301, headers={"Location": "/"})}, public, Limits(max_redirects=2), "more than 2", 3),
        ({"/": httpx.Response(200, content=b"x" * 4096)}, public, Limits(max_bytes=2048), "larger than 2 KiB", 1),
        ({"/": httpx.Response(200, content=dripping(20, 0.05))}, public, Limits(timeout=0.1), "within 0.3 s", 1),
        ({"/": httpx.Response(503)}, public, Limits(), "answered HTTP 503", 1),
    ],
    ids=["name-at-private-address", "redirect-off-http", "redirect-loop", "too-large", "dripping", "http-503"],
)
def test_every_guard_holds_around_an_injected_transport(
    routes: dict[str, httpx.Response], resolve: Any, limits: Limits, expected: str, asked: int
) -> None:
    site = Site({SITE + path: response for path, response in routes.items()})
    with pytest.raises(SourceError, match=expected):
        fetch(SITE + "/", [], transport=site.transport, resolve=resolve, limits=limits)
    assert len(site.requests) == asked


@pytest.mark.parametrize(
    "hidden",
    ["64:ff9b::7f00:1", "64:ff9b:1::a00:1", "2002:7f00:1::1", "2002:a9fe:a9fe::1", "::127.0.0.1", "::ffff:10.0.0.1"],
)
def test_an_ipv4_address_hidden_in_an_ipv6_one_is_refused(hidden: str) -> None:
    """NAT64, 6to4, IPv4-compatible and mapped forms of loopback, private and link-local addresses."""
    with pytest.raises(SourceError, match="private, loopback or link-local"):
        check_host(f"http://[{hidden}]/tin", [])
    with pytest.raises(SourceError, match="private, loopback or link-local"):
        check_host("http://tin.example/rss", [], resolve=lambda _host: [hidden])


@pytest.mark.parametrize("public", ["64:ff9b::808:808", "2002:808:808::1", "2001:4860:4860::8888", "8.8.8.8"])
def test_public_addresses_in_those_forms_stay_allowed(public: str) -> None:
    check_host("http://tin.example/rss", [], resolve=lambda _host: [public])


def test_a_server_dripping_its_headers_is_cut_off_by_the_one_deadline() -> None:
    """One byte of the status line every 0.3 s resets httpx's read timeout each time: only a total deadline ends it."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n" * 2:  # bounded: 88 bytes, ~26 s
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the client hung up: what the test wants
                time.sleep(0.3)

    server = threading.Thread(target=drip, daemon=True)
    server.start()
    started = time.monotonic()
    try:
        with pytest.raises(SourceError, match="did not finish within 3 s"):
            fetch(f"http://127.0.0.1:{port}/rss", ["127.0.0.1"], limits=Limits(timeout=1.0))
        assert time.monotonic() - started < 5, "cut off at the deadline, not after the whole drip"
    finally:
        stop.set()
        listener.close()
        server.join(10)

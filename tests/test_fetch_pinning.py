"""DNS rebinding (issue #14 item 4): the fetch connects to the very address it checked, never to a second answer.

A name server the test controls answers a public address first and loopback afterwards, the classic rebinding
trick; it also stands in for the system resolver (``socket.getaddrinfo``), so a fetch that resolved the name again
to connect would reach the loopback server. Every outgoing connection is noted, and one to any address off the
machine is refused at once: nothing leaves loopback and each refusal is immediate.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from cchc.io.fetch import Limits, SourceError, fetch

PUBLIC = "113.160.0.1"  # a VNPT block: global, and never dialled for real (see `network`)
QUICK = Limits(timeout=1.0)


class Dns:
    """Per name, the answers given in turn (the last one repeats); ``asked`` notes every question."""

    def __init__(self, answers: dict[str, list[str]], *, system: bool) -> None:
        self.answers = answers
        self.system = system  # False: the system resolver does not know these names at all
        self.asked: list[str] = []

    def resolve(self, host: str) -> list[str]:
        self.asked.append(host)
        turns = self.answers[host]
        return [turns[min(self.asked.count(host), len(turns)) - 1]]


@dataclass
class Network:
    """What the machine's sockets did: every address a TCP connection was opened to."""

    dialled: list[str] = field(default_factory=list)
    dns: Dns | None = None


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    """The test's name server behind ``socket.getaddrinfo``; a connection to a non-loopback address fails at once."""
    net = Network()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.create_connection

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if net.dns is not None and isinstance(host, str) and host in net.dns.answers:
            if not net.dns.system:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            host = net.dns.resolve(host)[0]
        return real_getaddrinfo(host, port, *args, **kwargs)

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        net.dialled.append(address[0])
        try:
            off_machine = not ipaddress.ip_address(address[0]).is_loopback
        except ValueError:
            off_machine = False  # a name: resolved by getaddrinfo above, the test's server decides
        if off_machine:
            raise OSError(errno.ENETUNREACH, "Network is unreachable (test: loopback only)")
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    return net


@dataclass
class Seen:
    path: str
    host: str


class Server:
    """A loopback HTTP(S) server: ``routes`` maps a path to (status, headers, body); it notes each request's Host
    header and, over TLS, the name the client asked for (SNI)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.seen: list[Seen] = []
        self.sni: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append(Seen(self.path, self.headers.get("Host", "")))
                status, headers, body = server.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            tls.sni_callback = self._note_sni
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def _note_sni(self, _sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.sni.append(name)


def running(tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    server = Server(tls)
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(5)


@pytest.fixture
def web() -> Iterator[Server]:
    yield from running()


def use(network: Network, answers: dict[str, list[str]], *, system: bool) -> Callable[[str], list[str]]:
    network.dns = Dns(answers, system=system)
    return network.dns.resolve


def test_a_name_rebound_to_loopback_after_the_check_is_never_connected_to(web: Server, network: Network) -> None:
    """Public on the first answer, loopback on every later one: the fetch connects to the public address it
    checked (refused here, no internet) and the loopback server receives nothing."""
    web.routes["/rss"] = (200, {}, b"<rss>secret</rss>")
    resolve = use(network, {"rebind.test": [PUBLIC, "127.0.0.1"]}, system=True)
    with pytest.raises(SourceError, match=r"rebind\.test.*cannot be read"):
        fetch(f"http://rebind.test:{web.port}/rss", [], resolve=resolve, limits=QUICK)
    assert web.seen == []
    assert network.dialled == [PUBLIC]
    assert network.dns is not None and network.dns.asked == ["rebind.test"]  # one answer, checked and used


def test_an_allowed_name_is_connected_at_the_address_the_resolver_gave(web: Server, network: Network) -> None:
    """The system resolver does not know the name: the page can only come from the checked 127.0.0.1, and the
    request still names the host."""
    web.routes["/rss"] = (200, {}, b"<rss>tin</rss>")
    resolve = use(network, {"portal.test": ["127.0.0.1"]}, system=False)
    url = f"http://portal.test:{web.port}/rss"
    assert fetch(url, ["portal.test"], resolve=resolve, limits=QUICK) == (url, b"<rss>tin</rss>")
    assert web.seen == [Seen("/rss", f"portal.test:{web.port}")]
    assert network.dialled == ["127.0.0.1"]


def test_a_redirect_to_a_name_that_rebinds_is_checked_and_pinned_too(web: Server, network: Network) -> None:
    """Hop one (an allowed host) redirects to a second name, public when checked and loopback when asked again."""
    web.routes["/start"] = (302, {"Location": f"http://mirror.test:{web.port}/feed"}, b"")
    web.routes["/feed"] = (200, {}, b"<rss>secret</rss>")
    dns = {"portal.test": ["127.0.0.1"], "mirror.test": [PUBLIC, "127.0.0.1"]}
    resolve = use(network, dns, system=True)
    with pytest.raises(SourceError, match=r"mirror\.test.*cannot be read"):
        fetch(f"http://portal.test:{web.port}/start", ["portal.test"], resolve=resolve, limits=QUICK)
    assert [s.path for s in web.seen] == ["/start"]
    assert network.dialled == ["127.0.0.1", PUBLIC]


def test_tls_to_a_pinned_address_still_verifies_the_name(
    network: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The certificate names only secure.test (no IP): the handshake succeeds only because SNI and verification
    use the name while the socket goes to the checked 127.0.0.1."""
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("secure.test").configure_cert(tls)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # httpx's default context trusts it
    resolve = use(network, {"secure.test": ["127.0.0.1"]}, system=False)
    for server in running(tls):
        server.routes["/rss"] = (200, {}, b"<rss>tls</rss>")
        url = f"https://secure.test:{server.port}/rss"
        assert fetch(url, ["secure.test"], resolve=resolve, limits=QUICK) == (url, b"<rss>tls</rss>")
        assert server.sni == ["secure.test"]
        assert server.seen == [Seen("/rss", f"secure.test:{server.port}")]
        assert network.dialled == ["127.0.0.1"]


def test_the_checked_addresses_are_tried_in_order_and_only_those(web: Server, network: Network) -> None:
    """A host with two checked addresses: the first does not answer, the second does; nothing else is dialled."""
    web.routes["/rss"] = (200, {}, b"<rss>tin</rss>")
    network.dns = Dns({"portal.test": ["127.0.0.1"]}, system=False)
    url = f"http://portal.test:{web.port}/rss"
    assert fetch(url, ["portal.test"], resolve=lambda _h: [PUBLIC, "127.0.0.1"], limits=QUICK)[1] == b"<rss>tin</rss>"
    assert network.dialled == [PUBLIC, "127.0.0.1"]

"""Reading one web address of a commune's website, under guards.

http/https only; every address the host resolves to must be public unless the spec allows that
host; redirects are followed by hand, each hop checked, at most ``Limits.max_redirects``; a timeout
bounds each wait and a deadline (three timeouts) the whole read, so a dripping server is cut off;
a size cap bounds the body. Every guard is applied here, around the transport, so a transport
given by the caller (``httpx.MockTransport`` in tests, a proxying transport in production) is
guarded just the same. Name resolution is a parameter too (``resolve``).

Connections are pinned: the network transport resolves each hop's host once, checks those addresses and
connects only to them (as IP literals), so a name server that answers a public address for the check and
a private one afterwards (DNS rebinding) cannot redirect the connection. TLS and the Host header still use
the name: SNI and certificate verification are for the host, not the address. A caller's transport, and a
proxy taken from the environment, resolve names themselves: for those the check is all this module does.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

MAX_BYTES = 2 * 1024 * 1024
TIMEOUT = 10.0
MAX_REDIRECTS = 3
USER_AGENT = "cchc-collector/0.1 (theo doi ke hoach tuyen truyen CCHC)"


class SourceError(Exception):
    """The source cannot be read as declared; the message says why, for the coordinator."""


@dataclass(frozen=True)
class Limits:
    timeout: float = TIMEOUT  # seconds for each wait; the whole read gets three times this
    max_bytes: int = MAX_BYTES
    max_redirects: int = MAX_REDIRECTS


DEFAULT_LIMITS = Limits()

Resolver = Callable[[str], Sequence[str]]


def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to (the system resolver), in its order of preference: the order in
    which the connection tries them."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))
    except socket.gaierror as e:
        raise SourceError(f"cannot resolve {host}: {e.strerror}") from None
    except (UnicodeError, ValueError) as e:
        raise SourceError(f"'{host}' is not a valid host name ({e})") from None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: the low 32 bits are an IPv4 address
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


def embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries: mapped, NAT64, 6to4 or IPv4-compatible (Python's is_global
    says True for 64:ff9b::7f00:1, 2002:7f00:1::1 and ::127.0.0.1, which all reach 127.0.0.1)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _NAT64_LOCAL or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global address that does not smuggle a private IPv4 one inside an IPv6 one."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return inner.is_global
    return ip.is_global


def _http_host(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"{url} is not an http/https address")
    return parts.hostname


def _addresses(host: str, resolve: Resolver) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]  # a literal address needs no resolver
    except ValueError:
        pass
    addrs = list(resolve(host))
    if not addrs:
        raise SourceError(f"cannot resolve {host}: no address")
    return addrs


def _refuse_private(host: str, addrs: Sequence[str]) -> None:
    for addr in addrs:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
        if not is_public(ip):
            raise SourceError(
                f"{host} is at {ip}, a private, loopback or link-local address; refused "
                "(add the host to allow_hosts in the spec if it really is the commune's server)"
            )


def check_host(url: str, allow_hosts: Sequence[str], resolve: Resolver = resolve_host) -> None:
    """Refuse ``url`` unless it is http/https and its host is public (or allowed by the spec).

    An allowed host is not looked up: a caller's transport (a proxy) may reach names this machine cannot resolve.
    """
    host = _http_host(url)
    if host not in allow_hosts:
        _refuse_private(host, _addresses(host, resolve))


def pinned_addresses(url: str, allow_hosts: Sequence[str], resolve: Resolver = resolve_host) -> list[str]:
    """``check_host``'s guard, returning the addresses it checked: the only ones a connection for ``url`` may use.
    An allowed host is looked up too (with the same ``resolve``), since its connection is pinned as well."""
    host = _http_host(url)
    addrs = _addresses(host, resolve)
    if host not in allow_hosts:
        _refuse_private(host, addrs)
    return addrs


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write waits at most until the fetch's deadline: a server that drips its
    headers one byte at a time cannot keep a duty's run waiting (httpx's timeouts restart on every byte)."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the whole read took longer than its deadline")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        left = self._left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Opens each socket to an address ``pin`` was given for that host (never resolving the name again), with
    every wait bounded by the fetch's deadline. httpcore still passes the name to ``start_tls`` (SNI and
    certificate checks) and httpx still sends it as the Host header: only the socket's address is pinned."""

    def __init__(self, deadline: float) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline
        self._pinned: dict[str, list[str]] = {}

    def pin(self, url: str, addrs: Sequence[str]) -> None:
        # Keyed by the host exactly as httpcore will name it (ASCII, IDNA-encoded, IPv6 without brackets).
        self._pinned[httpx.URL(url).raw_host.decode("ascii")] = list(addrs)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        addrs = self._pinned.get(host)
        if not addrs:
            raise httpcore.ConnectError(f"{host} was not checked before connecting; refused")
        for addr in addrs[:-1]:  # in the resolver's order, as socket.create_connection would try them
            try:
                return self._connect(addr, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue  # the next checked address may answer
        return self._connect(addrs[-1], port, timeout, local_address, socket_options)

    def _connect(
        self, addr: str, port: int, timeout: float | None, local_address: str | None, socket_options: Any
    ) -> httpcore.NetworkStream:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the whole read took longer than its deadline")
        stream = self._inner.connect_tcp(
            addr, port, left if timeout is None else min(timeout, left), local_address, socket_options
        )
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _network_transport(backend: _PinnedBackend) -> httpx.HTTPTransport:
    """The default transport, its sockets pinned to checked addresses and bound by the deadline (httpx has no
    total timeout of its own)."""
    transport = httpx.HTTPTransport()
    transport._pool._network_backend = backend
    return transport


class _Borrowed(httpx.BaseTransport):
    """The caller's transport, used but not closed: it may serve several fetches."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)

    def close(self) -> None:
        pass


def fetch(
    url: str,
    allow_hosts: Sequence[str],
    *,
    limits: Limits = DEFAULT_LIMITS,
    transport: httpx.BaseTransport | None = None,
    resolve: Resolver = resolve_host,
) -> tuple[str, bytes]:
    """GET ``url`` under the guards above; returns the final address (after redirects) and the body.

    ``transport``: None for a normal network transport (opened and closed here, proxies from the
    environment honoured as before); otherwise the caller's, which is used as it is (no proxy from the
    environment in front of it) and left open.
    """
    timeout, max_bytes = limits.timeout, limits.max_bytes
    # One deadline for the whole fetch, redirects included: connect, headers and body, not each chunk.
    deadline = time.monotonic() + 3 * timeout
    backend: _PinnedBackend | None = None  # None: the caller's transport connects as it sees fit
    if transport is None:
        backend = _PinnedBackend(deadline)
        used: httpx.BaseTransport = _network_transport(backend)
    else:
        used = _Borrowed(transport)
    with httpx.Client(
        follow_redirects=False,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        transport=used,
        trust_env=transport is None,
    ) as client:
        for _ in range(limits.max_redirects + 1):
            try:
                if backend is None:
                    check_host(url, allow_hosts, resolve)
                else:  # this hop connects to the addresses just checked, never to a later answer
                    backend.pin(url, pinned_addresses(url, allow_hosts, resolve))
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
                if time.monotonic() >= deadline:
                    raise SourceError(f"{url} did not finish within {3 * timeout:g} s") from None
                raise SourceError(f"{url} did not answer within {timeout:g} s") from None
            except (httpx.HTTPError, httpx.InvalidURL) as e:
                raise SourceError(f"{url} cannot be read: {e}") from None
        raise SourceError(f"{url}: more than {limits.max_redirects} redirects")

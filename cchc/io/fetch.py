"""Reading one web address of a commune's website, under guards.

http/https only; every address the host resolves to must be public unless the spec allows that
host; redirects are followed by hand, each hop checked, at most ``Limits.max_redirects``; a timeout
bounds each wait and a deadline (three timeouts) the whole read, so a dripping server is cut off;
a size cap bounds the body. Every guard is applied here, around the transport, so a transport
given by the caller (``httpx.MockTransport`` in tests, a proxying transport in production) is
guarded just the same. Name resolution is a parameter too (``resolve``).
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
    """Every address ``host`` resolves to (the system resolver)."""
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
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


def check_host(url: str, allow_hosts: Sequence[str], resolve: Resolver = resolve_host) -> None:
    """Refuse ``url`` unless it is http/https and its host is public (or allowed by the spec)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"{url} is not an http/https address")
    host = parts.hostname
    if host in allow_hosts:
        return
    try:
        addrs: Sequence[str] = [str(ipaddress.ip_address(host))]  # a literal address needs no resolver
    except ValueError:
        addrs = resolve(host)
    for addr in addrs:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
        if not is_public(ip):
            raise SourceError(
                f"{host} is at {ip}, a private, loopback or link-local address; refused "
                "(add the host to allow_hosts in the spec if it really is the commune's server)"
            )


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


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, deadline: float) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the whole read took longer than its deadline")
        stream = self._inner.connect_tcp(
            host, port, left if timeout is None else min(timeout, left), local_address, socket_options
        )
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _network_transport(deadline: float) -> httpx.HTTPTransport:
    """The default transport, its sockets bound by the deadline (httpx has no total timeout of its own)."""
    transport = httpx.HTTPTransport()
    transport._pool._network_backend = _DeadlineBackend(deadline)
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
    with httpx.Client(
        follow_redirects=False,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        transport=_network_transport(deadline) if transport is None else _Borrowed(transport),
        trust_env=transport is None,
    ) as client:
        for _ in range(limits.max_redirects + 1):
            check_host(url, allow_hosts, resolve)
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
                if time.monotonic() >= deadline:
                    raise SourceError(f"{url} did not finish within {3 * timeout:g} s") from None
                raise SourceError(f"{url} did not answer within {timeout:g} s") from None
            except (httpx.HTTPError, httpx.InvalidURL) as e:
                raise SourceError(f"{url} cannot be read: {e}") from None
        raise SourceError(f"{url}: more than {limits.max_redirects} redirects")

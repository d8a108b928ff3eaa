"""Outbound fetches of URLs that come from outside (a WhatsApp or Meta media URL, an Open311 `media_url`):
the one way the platform downloads what a webhook or a client names.

Rules, each checked again at every redirect:
- https only; the host must be on the media allow-list (the providers' media hosts, plus
  MEDIA_ALLOWED_HOSTS: `host` exact or `.domain` for its subdomains; `*` allows any host);
- the host is resolved once, every address it resolves to must be public (never loopback, private,
  link-local, multicast, shared, reserved, or those embedded in IPv4-mapped, 6to4, Teredo or NAT64
  addresses), and the connection goes to that checked address (TLS still verifies the host name), so
  a DNS answer that changes between check and connect (rebinding) changes nothing;
- at most MAX_REDIRECTS redirects, a size limit (Content-Length and the bytes actually read) and a time
  limit for the whole download;
- the configured provider bases (TWILIO_API_BASE, META_GRAPH_BASE, X_API_BASE) are the operator's own
  configuration and are trusted as they are (the tests point them at local fakes);
- credentials go only to the provider's own media URLs: the exact configured Twilio host and port and
  the path `/2010-04-01/Accounts/<our account sid>/`, compared after parsing, never by string prefix;
  a redirect elsewhere is followed without them.
"""
from __future__ import annotations

import base64
import ipaddress
import os
import posixpath
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3

from ingest.base import DeliveryError, http_error

PROVIDER_MEDIA_HOSTS = (".twilio.com", ".twiliocdn.com", ".fbsbx.com", ".fbcdn.net", ".cdninstagram.com",
                        ".twimg.com")
MAX_REDIRECTS = 3
NAT64 = ipaddress.ip_network("64:ff9b::/96")
CHUNK = 65536


class FetchRefused(DeliveryError):
    """A URL the platform will not fetch (for good: not retried)."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class FetchPolicy:
    allowed_hosts: tuple[str, ...] = PROVIDER_MEDIA_HOSTS
    trusted_bases: tuple[str, ...] = ()  # operator-configured provider base URLs
    credentials: tuple = ()  # ((base url, path prefix, (user, password)), ...)
    timeout_seconds: float = 10.0  # each connect and each read
    total_seconds: float = 30.0  # the whole download, redirects included
    resolve: object = field(default=socket.getaddrinfo, compare=False, repr=False)

    @classmethod
    def from_config(cls, config, extra_hosts: str | None = None) -> "FetchPolicy":
        raw = os.environ.get("MEDIA_ALLOWED_HOSTS", "") if extra_hosts is None else extra_hosts
        hosts = PROVIDER_MEDIA_HOSTS + tuple(h.strip().lower() for h in raw.split(",") if h.strip())
        bases = tuple(b for b in (config.twilio_api_base, config.meta_graph_base, config.x_api_base) if b)
        credentials = ()
        if config.twilio_account_sid and config.twilio_auth_token:
            credentials = ((config.twilio_api_base, f"/2010-04-01/Accounts/{config.twilio_account_sid}/",
                            (config.twilio_account_sid, config.twilio_auth_token)),)
        return cls(hosts, bases, credentials, config.http_timeout_seconds, max(30.0, config.http_timeout_seconds))


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent
    trusted: bool


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def _clean_path(path: str) -> str | None:
    """The path with dot segments resolved (None when it climbs above the root)."""
    if not path.startswith("/"):
        path = "/" + path
    if "%2e" in path.lower() or "%2f" in path.lower() or "\\" in path:
        return None
    normal = posixpath.normpath(path)
    if path.endswith("/") and not normal.endswith("/"):
        normal += "/"
    return normal if normal.startswith("/") else None


def url_problem(url: str, policy: FetchPolicy | None = None) -> str | None:
    """Why `url` would not be fetched, from its text alone (scheme, host, allow-list, IP literal), or None.
    Intake calls this to refuse a bad URL at once; the fetch checks it again, with DNS."""
    try:
        target = _target(url, policy or FetchPolicy())
    except FetchRefused as exc:
        return str(exc)
    if not target.trusted:
        try:
            _check_address(ipaddress.ip_address(target.host))
        except ValueError:
            pass  # a host name: resolved and checked when fetched
        except FetchRefused as exc:
            return str(exc)
    return None


def _target(url: str, policy: FetchPolicy) -> Target:
    if not isinstance(url, str) or len(url) > 2000 or any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise FetchRefused("not a usable URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchRefused("not a usable URL") from None
    scheme, host = (parts.scheme or "").lower(), (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("URLs with user names are not fetched")
    if not host:
        raise FetchRefused("the URL has no host")
    port = port or (443 if scheme == "https" else 80)
    path = _clean_path(parts.path or "/")
    if path is None:
        raise FetchRefused("the URL's path is not usable")
    full = path + (f"?{parts.query}" if parts.query else "")
    for base in policy.trusted_bases:
        b_scheme, b_host, b_port = _origin(base)
        if (scheme, host, port) == (b_scheme, b_host, b_port) and scheme in ("http", "https"):
            return Target(scheme, host, port, full, True)
    if scheme != "https":
        raise FetchRefused("only https URLs are fetched")
    if not _allowed_host(host, policy.allowed_hosts):
        raise FetchRefused(f"host {host[:80]} is not on the media allow-list (MEDIA_ALLOWED_HOSTS)")
    return Target(scheme, host, port, full, False)


def _allowed_host(host: str, allowed: tuple[str, ...]) -> bool:
    for entry in allowed:
        if entry == "*" or host == entry or (entry.startswith(".") and (host.endswith(entry) or host == entry[1:])):
            return True
    return False


def _check_address(address) -> None:
    embedded = []
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [a for a in (address.ipv4_mapped, address.sixtofour, address.teredo and address.teredo[1]) if a]
        if address in NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    for a in [address, *embedded]:
        if not a.is_global or a.is_multicast or a.is_reserved or a.is_loopback or a.is_link_local or a.is_private:
            raise FetchRefused(f"{address} is not a public address")


def _resolved(target: Target, policy: FetchPolicy) -> str:
    """The address to connect to: for a trusted base its host as configured; otherwise the host's first
    address, once every address it resolves to has passed the check."""
    if target.trusted:
        return target.host
    try:
        infos = policy.resolve(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise DeliveryError(f"cannot resolve {target.host[:80]}: {type(exc).__name__}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise DeliveryError(f"cannot resolve {target.host[:80]}")
    for address in addresses:
        _check_address(address)
    return str(addresses[0])


def _credentials_for(url: str, policy: FetchPolicy) -> tuple[str, str] | None:
    scheme, host, port = _origin(url)
    path = _clean_path(urlsplit(url).path or "/")
    for base, prefix, secret in policy.credentials:
        if (scheme, host, port) == _origin(base) and path is not None and path.startswith(prefix):
            return secret
    return None


def fetch(url: str, max_bytes: int, policy: FetchPolicy) -> tuple[bytes, str]:
    """Download `url` under the rules above; (bytes, content type). Raises FetchRefused for a URL that
    breaks a rule or a file over the limit, DeliveryError for what may work later (network, 5xx)."""
    deadline = time.monotonic() + policy.total_seconds
    auth = _credentials_for(url, policy)
    for _hop in range(MAX_REDIRECTS + 1):
        target = _target(url, policy)
        address = _resolved(target, policy)
        headers = {"Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
                   "User-Agent": "tangerang-live-room/1 (media fetch)", "Accept": "*/*"}
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        response = _request(target, address, headers, deadline, policy)
        try:
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    raise DeliveryError(f"redirect without a Location (HTTP {response.status})")
                url = urljoin(url, location)
                auth = auth if _credentials_for(url, policy) == auth else None  # never carried to another host
                continue
            if response.status >= 300:
                raise http_error(response.status, "")
            return _read(response, max_bytes, deadline), response.headers.get("Content-Type", "application/octet-stream")
        finally:
            response.release_conn()
    raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")


def _request(target: Target, address: str, headers: dict, deadline: float, policy: FetchPolicy):
    left = max(0.1, deadline - time.monotonic())
    timeout = urllib3.Timeout(connect=min(left, policy.timeout_seconds), read=min(left, policy.timeout_seconds))
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1,
                                           cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
                                           server_hostname=target.host, assert_hostname=target.host)
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1)
    try:
        return pool.urlopen("GET", target.path, headers=headers, redirect=False, preload_content=False,
                            assert_same_host=False)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise DeliveryError(f"cannot fetch from {target.host[:80]}: {type(exc).__name__}") from None


def _read(response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchRefused(f"media larger than {max_bytes} bytes")
    chunks, size = [], 0
    try:
        while True:
            chunk = response.read1(CHUNK)  # what has arrived: a slow sender cannot hold us past the deadline
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise FetchRefused(f"media larger than {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise DeliveryError("media download took too long")
            chunks.append(chunk)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise DeliveryError(f"media download failed: {type(exc).__name__}") from None
    return b"".join(chunks)

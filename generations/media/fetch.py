"""Download a provider's finished video into a file we own, safely. No Django here.

The URL comes from a third party (a provider response or a webhook), so it is treated as hostile
(RELIABILITY.md §4.6, §5):

* only http/https, no userinfo;
* the host is resolved ONCE and every address must be globally routable, unless ``host:port`` (or ``host``)
  is allow-listed (the simulator on loopback in dev/tests);
* we then connect to that validated IP, not to the name: the URL is rewritten to the IP while the Host header
  and TLS SNI/certificate check keep the original name, so a second DNS answer (rebinding) is never used;
* redirects are followed by hand, at most ``MAX_REDIRECTS``, and every hop goes through the same checks;
* the body is read with ``iter_raw`` (no decompression) and counted at wire size against ``max_bytes``.
  A Content-Encoding other than identity is refused outright: a video is already compressed, we ask for
  ``identity``, and decoding would open the door to a decompression bomb for no gain;
* the first bytes must be an MP4 ``ftyp`` box, whatever the Content-Type says;
* a wall-clock deadline bounds the whole download (httpx timeouts are per read, so a slow drip never trips them).

Every failure is a ``DownloadError`` whose ``permanent`` flag says whether retrying can help.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

import httpx

from generations.providers.http import ssl_context

MAX_REDIRECTS = 3
PROGRESS_INTERVAL = 1.0  # seconds between on_progress calls (the pipeline's heartbeat)
USER_AGENT = "kling-site-fetch/1"
ALLOWED_CONTENT_TYPES = ("application/octet-stream", "binary/octet-stream")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# NAT64 (RFC 6052) embeds an IPv4 address in the low 32 bits; Python calls the prefix global.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Deprecated IPv4-compatible IPv6 (::a.b.c.d); some stacks still route it to the embedded IPv4 address.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DownloadError(Exception):
    """A download that did not work. ``message`` is one readable sentence; ``kind`` a short machine word.

    kinds: forbidden, dns, connection, timeout, truncated, expired, rate_limited, server, http, redirects,
    too_large, content.
    """

    def __init__(self, message: str, *, permanent: bool, kind: str, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.kind = kind
        self.status_code = status_code

    @property
    def retryable(self) -> bool:
        return not self.permanent


@dataclass(frozen=True)
class Downloaded:
    size: int
    sha256: str
    content_type: str
    final_url: str  # after redirects, with the original host name (never the pinned IP)


@dataclass(frozen=True)
class _Target:
    url: httpx.URL  # the URL as given (host name kept)
    pinned_url: httpx.URL  # the same URL with the host replaced by the validated IP
    host: str  # ASCII (IDNA) host, used for SNI and certificate checks
    ip: IPAddress


def download(
    url: str,
    fileobj: BinaryIO,
    *,
    max_bytes: int,
    allowed_hosts: Iterable[str] = (),
    connect_timeout: float = 10,
    read_timeout: float = 30,
    deadline_seconds: float = 600,
    on_progress: Callable[[int], None] | None = None,
) -> Downloaded:
    """Stream ``url`` into ``fileobj`` (binary, writable). Side effect: writes to ``fileobj`` only.

    On error the file object may hold a partial body; the caller owns it and discards it.
    """
    allowed = frozenset(h.lower() for h in allowed_hosts)
    deadline = time.monotonic() + deadline_seconds
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    # trust_env=False: HTTP(S)_PROXY from the environment would send the request elsewhere than the
    # validated IP. No keep-alive: the pool is keyed on IP:port, and a reused TLS connection would skip
    # the SNI/certificate check for a second host name on the same IP.
    transport = httpx.HTTPTransport(
        retries=0, limits=httpx.Limits(max_keepalive_connections=0), verify=ssl_context()
    )
    with httpx.Client(transport=transport, timeout=timeout, trust_env=False, follow_redirects=False) as client:
        current = _parse(url)
        for _hop in range(MAX_REDIRECTS + 1):
            target = _validate(current, allowed)
            _check_deadline(deadline)
            response = _send(client, target)
            try:
                if response.status_code in REDIRECT_STATUSES:
                    current = _next_hop(target.url, response)
                    continue
                _check_response(response, max_bytes)
                return _stream_body(response, target.url, fileobj, max_bytes, deadline, on_progress)
            finally:
                response.close()
    raise DownloadError(f"The video URL redirected more than {MAX_REDIRECTS} times.", permanent=True, kind="redirects")


# --- URL and address checks -------------------------------------------------------------------------------


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise _forbidden(f"The video URL is not valid ({exc}).") from exc
    if parsed.scheme not in ("http", "https"):
        scheme = parsed.scheme or "no scheme"
        raise _forbidden(f"Only http and https video URLs are allowed, not {scheme}.")
    if parsed.userinfo:
        raise _forbidden("Video URLs with a user name or password are not allowed.")
    if not parsed.raw_host:
        raise _forbidden("The video URL has no host.")
    return parsed


def _validate(url: httpx.URL, allowed: frozenset[str]) -> _Target:
    host = url.raw_host.decode("ascii").lower()
    port = url.port or (443 if url.scheme == "https" else 80)
    display = f"[{host}]" if ":" in host else host
    is_allowed = display in allowed or f"{display}:{port}" in allowed
    addresses = _resolve(host, port)
    if not is_allowed:
        for ip in addresses:
            if is_forbidden_address(ip):
                raise _forbidden(f"The video URL points to a private or reserved address ({ip}), which is not allowed.")
    ip = addresses[0]
    pinned = url.copy_with(host=str(ip), port=port)
    return _Target(url=url, pinned_url=pinned, host=host, ip=ip)


def check_destination(url: str, allowed_hosts: Iterable[str] = ()) -> _Target:
    """Parse ``url``, resolve its host once and check every address with the download's rules (``allowed_hosts``
    as in ``download``). Connect to the returned ``pinned_url`` with ``host`` as Host header and TLS SNI, never to
    the name again (outgoing webhooks use this). Raises ``DownloadError`` (kind forbidden or dns)."""
    return _validate(_parse(url), frozenset(h.lower() for h in allowed_hosts))


def public_url_problem(url: str) -> str | None:
    """Why the downloader would refuse ``url`` as a destination (not http(s), credentials, a private, loopback or
    link-local address), or None. Forms check member-given URLs (start/end images, which providers fetch) with
    this, so one rule decides what counts as public. A host name that does not resolve now is not refused here:
    it is the provider that fetches it."""
    try:
        _validate(_parse(url), frozenset())
    except DownloadError as exc:
        return None if exc.kind == "dns" else str(exc).replace("video URL", "address")
    return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Resolve once. Numeric forms (``0x7f000001``, ``2130706433``, ``127.1``) are decoded here without DNS."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        # inet_aton accepts exactly the legacy numeric spellings the C resolver would accept.
        return [ipaddress.IPv4Address(socket.inet_aton(host))]
    except OSError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DownloadError(f"Could not resolve the video host {host}.", permanent=False, kind="dns") from exc
    # Drop any IPv6 scope id ("fe80::1%eth0"); link-local is refused anyway.
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise DownloadError(f"The video host {host} has no address.", permanent=False, kind="dns")
    return addresses


def is_forbidden_address(ip: IPAddress) -> bool:
    """True for anything that is not a plain public unicast address, including IPv4 tunnelled in IPv6."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if ip.ipv4_mapped:
            embedded.append(ip.ipv4_mapped)
        if ip.sixtofour:
            embedded.append(ip.sixtofour)
        if ip.teredo:
            embedded.append(ip.teredo[1])
        if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(is_forbidden_address(v4) for v4 in embedded):
            return True
    # is_global is False for loopback, RFC 1918, link-local (169.254.169.254), CGNAT, reserved, unspecified;
    # multicast needs its own test because 224.0.0.0/4 is "global" to Python.
    return not ip.is_global or ip.is_multicast


# --- HTTP ---------------------------------------------------------------------------------------------------


def _send(client: httpx.Client, target: _Target) -> httpx.Response:
    headers = {
        "Host": target.url.netloc.decode("ascii"),
        "Accept-Encoding": "identity",
        "User-Agent": USER_AGENT,
    }
    # sni_hostname makes httpcore send SNI and verify the certificate against the name, not the IP.
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    request = client.build_request("GET", target.pinned_url, headers=headers, extensions=extensions)
    try:
        return client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise DownloadError("The video host did not answer in time.", permanent=False, kind="timeout") from exc
    except httpx.TransportError as exc:
        message = f"Could not connect to the video host ({exc})."
        raise DownloadError(message, permanent=False, kind="connection") from exc


def _next_hop(current: httpx.URL, response: httpx.Response) -> httpx.URL:
    location = response.headers.get("Location")
    if not location:
        raise DownloadError("The video host sent a redirect without a location.", permanent=True, kind="http")
    try:
        joined = current.join(location)
    except httpx.InvalidURL as exc:
        raise _forbidden("The video host redirected to an invalid URL.") from exc
    return _parse(str(joined))


def _check_response(response: httpx.Response, max_bytes: int) -> None:
    status = response.status_code
    if status in (403, 404, 410):
        raise DownloadError(
            f"The video link has expired or no longer exists (HTTP {status}).",
            permanent=True,
            kind="expired",
            status_code=status,
        )
    if status == 429:
        raise DownloadError(
            "The video host is rate limiting us (HTTP 429).", permanent=False, kind="rate_limited", status_code=status
        )
    if status >= 500:
        raise DownloadError(
            f"The video host had an error (HTTP {status}).", permanent=False, kind="server", status_code=status
        )
    if status != 200:
        raise DownloadError(f"The video host answered HTTP {status}.", permanent=True, kind="http", status_code=status)

    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise DownloadError(
            f"The video was sent compressed ({encoding}), which we do not accept.", permanent=True, kind="content"
        )
    content_type = _media_type(response)
    # No Content-Type at all means "unknown binary" (RFC 9110 §8.3); the ftyp check still applies.
    if content_type and not (content_type.startswith("video/") or content_type in ALLOWED_CONTENT_TYPES):
        raise DownloadError(f"The video URL returned {content_type}, not a video.", permanent=True, kind="content")
    declared = _content_length(response)
    if declared is not None and declared > max_bytes:
        raise DownloadError(
            f"The video is too large ({declared} bytes; the limit is {max_bytes}).", permanent=True, kind="too_large"
        )


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _content_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("Content-Length")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise DownloadError("The video host sent an invalid Content-Length.", permanent=False, kind="http") from exc
    if value < 0:
        raise DownloadError("The video host sent an invalid Content-Length.", permanent=False, kind="http")
    return value


def _stream_body(
    response: httpx.Response,
    url: httpx.URL,
    fileobj: BinaryIO,
    max_bytes: int,
    deadline: float,
    on_progress: Callable[[int], None] | None,
) -> Downloaded:
    declared = _content_length(response)
    digest = hashlib.sha256()
    received = 0
    # Bytes held back until we have seen the 8-byte box header, so nothing but an MP4 reaches the file.
    head: bytes | None = b""
    last_progress = time.monotonic()
    try:
        # No chunk_size: httpx would buffer up to it, and a slow drip would then never reach the deadline check.
        # Each chunk is one socket read (httpcore reads at most 64 KiB), so memory stays flat anyway.
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > max_bytes:
                raise DownloadError(
                    f"The video is larger than the limit of {max_bytes} bytes.", permanent=True, kind="too_large"
                )
            if declared is not None and received > declared:
                # h11 frames by Content-Length and stops there; this guards any transport that would not.
                raise DownloadError(
                    "The video host sent more bytes than it announced.", permanent=False, kind="truncated"
                )
            if head is not None:
                head += chunk
                if len(head) < 8:
                    continue
                _check_magic(head)
                chunk, head = head, None
            digest.update(chunk)
            fileobj.write(chunk)
            now = time.monotonic()
            _check_deadline(deadline, now)
            if on_progress is not None and now - last_progress >= PROGRESS_INTERVAL:
                last_progress = now
                on_progress(received)
    except httpx.TimeoutException as exc:
        raise DownloadError("The video host stopped sending data.", permanent=False, kind="timeout") from exc
    except httpx.TransportError as exc:
        # RemoteProtocolError lands here when the peer closes before Content-Length bytes.
        raise DownloadError(f"The video download was cut off ({exc}).", permanent=False, kind="truncated") from exc
    if declared is not None and received < declared:
        raise DownloadError(
            f"The video download was cut off at {received} of {declared} bytes.", permanent=False, kind="truncated"
        )
    if head is not None:
        _check_magic(head)  # fewer than 8 bytes in total: raises
    return Downloaded(size=received, sha256=digest.hexdigest(), content_type=_media_type(response), final_url=str(url))


def _forbidden(message: str) -> DownloadError:
    return DownloadError(message, permanent=True, kind="forbidden")


def _check_magic(head: bytes) -> None:
    if len(head) < 8 or head[4:8] != b"ftyp":
        raise DownloadError("The downloaded file is not an MP4 video.", permanent=True, kind="content")


def _check_deadline(deadline: float, now: float | None = None) -> None:
    if (now if now is not None else time.monotonic()) > deadline:
        raise DownloadError("The video download took too long and was stopped.", permanent=False, kind="timeout")

"""download() against a real HTTP(S) server on loopback, and refusals proven by a spy on socket connects.

The only fakes are at two boundaries no real part can provide here: ``socket.getaddrinfo`` for a handful of
made-up names (there is no DNS in the sandbox), and a spy on ``socket.socket.connect`` /
``socket.create_connection`` that records (and still performs) every outgoing connection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import io
import ipaddress
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from generations.media import fetch
from generations.media.fetch import DownloadError, download, is_forbidden_address
from tests.test_media_probe import write_sample_mp4

MB = 1024 * 1024


# --- the server -----------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.server.seen_hosts.append(self.headers.get("Host", ""))
        route = ROUTES.get(self.path.split("?", 1)[0])
        if route is None:
            self._send(404, b"not found", "text/plain")
            return
        # The client gives up on purpose (cap, deadline): a broken pipe is the point of those tests.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            route(self)

    def _send(self, status: int, body: bytes, content_type: str = "video/mp4", **headers: str) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _head(self, status: int = 200, content_type: str = "video/mp4", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    mp4: bytes
    seen_hosts: list[str]


def _video(h: _Handler) -> None:
    h._send(200, h.server.mp4)


def _video_octet(h: _Handler) -> None:
    h._send(200, h.server.mp4, "application/octet-stream; charset=binary")


def _video_untyped(h: _Handler) -> None:
    h._send(200, h.server.mp4, "")


def _longer_than_declared(h: _Handler) -> None:
    h._head(Content_Length="1000")
    h.wfile.write(h.server.mp4[:1000] + b"X" * 200_000)


def _truncated(h: _Handler) -> None:
    h._head(Content_Length=str(len(h.server.mp4)))
    h.wfile.write(h.server.mp4[: len(h.server.mp4) // 2])
    # the handler returns and HTTP/1.0 closes the connection: a cut-off body


def _html_as_video(h: _Handler) -> None:
    h._send(200, b"<!doctype html><html><body>Your session has expired</body></html>" * 10)


def _mp4_as_html(h: _Handler) -> None:
    h._send(200, h.server.mp4, "text/html")


def _gzip_bomb(h: _Handler) -> None:
    body = gzip.compress(h.server.mp4[:32] + bytes(8 * MB))  # ~8 KB on the wire, 8 MB decoded
    h._send(200, body, Content_Encoding="gzip")


def _declared_too_big(h: _Handler) -> None:
    h._head(Content_Length=str(50 * MB))
    h.wfile.write(h.server.mp4[:32])  # never sends the rest; the client must not wait for it


def _undeclared_too_big(h: _Handler) -> None:
    h._head()  # no Content-Length: the body ends when the connection closes (HTTP/1.0)
    h.wfile.write(h.server.mp4[:32])
    for _ in range(64):
        h.wfile.write(bytes(64 * 1024))


def _redirect_to(location: str) -> Callable[[_Handler], None]:
    return lambda h: h._send(302, b"", "text/plain", Location=location)


def _status(code: int) -> Callable[[_Handler], None]:
    return lambda h: h._send(code, b"nope", "text/plain")


def _drip(h: _Handler) -> None:
    h._head(Content_Length=str(10 * MB))
    h.wfile.write(h.server.mp4[:16])
    for _ in range(200):  # 100 bytes every 20 ms: never idle long enough for a read timeout
        time.sleep(0.02)
        h.wfile.write(bytes(100))
        h.wfile.flush()


def _stall(h: _Handler) -> None:
    h._head(Content_Length=str(len(h.server.mp4)))
    h.wfile.write(h.server.mp4[:16])
    h.wfile.flush()
    time.sleep(3)


ROUTES: dict[str, Callable[[_Handler], None]] = {
    "/video.mp4": _video,
    "/octet": _video_octet,
    "/untyped": _video_untyped,
    "/long": _longer_than_declared,
    "/truncated": _truncated,
    "/html": _html_as_video,
    "/mp4-as-html": _mp4_as_html,
    "/gzip": _gzip_bomb,
    "/declared-too-big": _declared_too_big,
    "/undeclared-too-big": _undeclared_too_big,
    "/to-redis": _redirect_to("http://127.0.0.1:6379/"),
    "/to-metadata": _redirect_to("http://169.254.169.254/latest/meta-data/"),
    "/to-video": _redirect_to("/video.mp4"),
    "/to-file": _redirect_to("file:///etc/passwd"),
    "/loop": _redirect_to("/loop"),
    "/403": _status(403),
    "/404": _status(404),
    "/410": _status(410),
    "/429": _status(429),
    "/503": _status(503),
    "/drip": _drip,
    "/stall": _stall,
}


def _start(mp4: bytes, tls: ssl.SSLContext | None = None) -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.mp4, server.seen_hosts = mp4, []
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_sample_mp4(tmp_path_factory.mktemp("fetch") / "v.mp4", seconds=1.0).read_bytes()


@pytest.fixture(scope="module")
def server(mp4: bytes) -> Iterator[_Server]:
    yield from _start(mp4)


@pytest.fixture
def base(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def allowed(server: _Server) -> tuple[str, ...]:
    return (f"127.0.0.1:{server.server_address[1]}",)


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address this process tried to connect to (the connection still happens)."""
    seen: list[Any] = []
    real_connect = socket.socket.connect
    real_create = socket.create_connection

    def spy_connect(sock: socket.socket, address: Any) -> None:
        seen.append(address)
        return real_connect(sock, address)

    def spy_create(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        seen.append(address)
        return real_create(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", spy_connect)
    monkeypatch.setattr(socket, "create_connection", spy_create)
    return seen


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Answers for made-up names (filled in by the test); every other name goes to the real resolver."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in answers:
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, int(port or 0)))
            for ip in answers[name]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return answers


def _fail(url: str, **kwargs: Any) -> tuple[DownloadError, bytes]:
    sink = io.BytesIO()
    kwargs.setdefault("max_bytes", 10 * MB)
    with pytest.raises(DownloadError) as caught:
        download(url, sink, **kwargs)
    return caught.value, sink.getvalue()


# --- the happy path -------------------------------------------------------------------------------------------


def test_it_downloads_a_video_with_its_hash(base: str, allowed: tuple[str, ...], mp4: bytes) -> None:
    sink = io.BytesIO()
    result = download(f"{base}/video.mp4", sink, max_bytes=10 * MB, allowed_hosts=allowed)
    assert sink.getvalue() == mp4
    assert result.size == len(mp4)
    assert result.sha256 == hashlib.sha256(mp4).hexdigest()
    assert result.content_type == "video/mp4"
    assert result.final_url == f"{base}/video.mp4"


@pytest.mark.parametrize("path", ["/octet", "/untyped"])
def test_it_accepts_octet_stream_and_a_missing_type(path: str, base: str, allowed: tuple[str, ...], mp4: bytes) -> None:
    sink = io.BytesIO()
    download(f"{base}{path}", sink, max_bytes=10 * MB, allowed_hosts=allowed)
    assert sink.getvalue() == mp4


def test_it_follows_a_safe_redirect(base: str, allowed: tuple[str, ...], mp4: bytes) -> None:
    sink = io.BytesIO()
    result = download(f"{base}/to-video", sink, max_bytes=10 * MB, allowed_hosts=allowed)
    assert sink.getvalue() == mp4
    assert result.final_url == f"{base}/video.mp4"


def test_a_host_only_allow_list_entry_covers_every_port(base: str, mp4: bytes) -> None:
    sink = io.BytesIO()
    download(f"{base}/video.mp4", sink, max_bytes=10 * MB, allowed_hosts=["127.0.0.1"])
    assert sink.getvalue() == mp4


def test_it_reports_progress_at_most_once_per_interval(
    base: str, allowed: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "PROGRESS_INTERVAL", 0.2)
    calls: list[tuple[float, int]] = []
    error, _ = _fail(
        f"{base}/drip",
        allowed_hosts=allowed,
        deadline_seconds=1.1,
        on_progress=lambda n: calls.append((time.monotonic(), n)),
    )
    assert error.kind == "timeout"
    assert 2 <= len(calls) <= 6  # ~5 in 1.1 s at a 0.2 s interval; loose for a loaded CI machine
    assert all(b[0] - a[0] >= 0.2 for a, b in itertools.pairwise(calls))
    assert [n for _, n in calls] == sorted(n for _, n in calls)


# --- bodies that lie -----------------------------------------------------------------------------------------


def test_it_never_takes_more_than_the_content_length(base: str, allowed: tuple[str, ...], mp4: bytes) -> None:
    # HTTP/1.1 framing ends the body at Content-Length: the 200 KB that follow are never read or written.
    sink = io.BytesIO()
    result = download(f"{base}/long", sink, max_bytes=10 * MB, allowed_hosts=allowed)
    assert result.size == 1000
    assert sink.getvalue() == mp4[:1000]


def test_a_truncated_body_is_retryable(base: str, allowed: tuple[str, ...]) -> None:
    error, _ = _fail(f"{base}/truncated", allowed_hosts=allowed)
    assert (error.kind, error.retryable) == ("truncated", True)


def test_an_html_page_served_as_video_is_refused(base: str, allowed: tuple[str, ...]) -> None:
    error, written = _fail(f"{base}/html", allowed_hosts=allowed)
    assert (error.kind, error.permanent) == ("content", True)
    assert written == b""


def test_a_video_served_as_html_is_refused(base: str, allowed: tuple[str, ...]) -> None:
    error, written = _fail(f"{base}/mp4-as-html", allowed_hosts=allowed)
    assert (error.kind, error.permanent) == ("content", True)
    assert "text/html" in error.message
    assert written == b""


def test_a_compressed_body_is_refused_before_it_is_inflated(base: str, allowed: tuple[str, ...]) -> None:
    error, written = _fail(f"{base}/gzip", allowed_hosts=allowed, max_bytes=1 * MB)
    assert (error.kind, error.permanent) == ("content", True)
    assert "gzip" in error.message
    assert written == b""


def test_a_declared_size_over_the_cap_is_refused_before_reading(base: str, allowed: tuple[str, ...]) -> None:
    started = time.monotonic()
    error, written = _fail(f"{base}/declared-too-big", allowed_hosts=allowed, max_bytes=1 * MB)
    assert (error.kind, error.permanent) == ("too_large", True)
    assert written == b""
    assert time.monotonic() - started < 2  # did not wait for the 50 MB that never come


def test_an_undeclared_body_is_cut_at_the_cap(base: str, allowed: tuple[str, ...]) -> None:
    error, written = _fail(f"{base}/undeclared-too-big", allowed_hosts=allowed, max_bytes=1 * MB)
    assert (error.kind, error.permanent) == ("too_large", True)
    assert len(written) <= 1 * MB


# --- statuses, redirects, time -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [403, 404, 410])
def test_gone_links_are_permanent(code: int, base: str, allowed: tuple[str, ...]) -> None:
    error, _ = _fail(f"{base}/{code}", allowed_hosts=allowed)
    assert (error.kind, error.permanent, error.status_code) == ("expired", True, code)


@pytest.mark.parametrize(("code", "kind"), [(429, "rate_limited"), (503, "server")])
def test_busy_hosts_are_retryable(code: int, kind: str, base: str, allowed: tuple[str, ...]) -> None:
    error, _ = _fail(f"{base}/{code}", allowed_hosts=allowed)
    assert (error.kind, error.retryable) == (kind, True)


def test_a_redirect_loop_stops_after_three_hops(base: str, allowed: tuple[str, ...], server: _Server) -> None:
    before = len(server.seen_hosts)
    error, _ = _fail(f"{base}/loop", allowed_hosts=allowed)
    assert (error.kind, error.permanent) == ("redirects", True)
    assert len(server.seen_hosts) - before == 1 + fetch.MAX_REDIRECTS


@pytest.mark.parametrize(
    ("path", "refused"),
    [("/to-redis", ("127.0.0.1", 6379)), ("/to-metadata", ("169.254.169.254", 80)), ("/to-file", None)],
)
def test_a_redirect_to_an_internal_address_is_refused(
    path: str, refused: tuple[str, int] | None, base: str, allowed: tuple[str, ...], connects: list[Any]
) -> None:
    error, _ = _fail(f"{base}{path}", allowed_hosts=allowed)
    assert (error.kind, error.permanent) == ("forbidden", True)
    port = int(base.rsplit(":", 1)[1])
    assert {addr[1] for addr in connects} == {port}  # only the allowed server was ever contacted
    assert refused not in connects


def test_a_slow_drip_is_stopped_at_the_deadline(base: str, allowed: tuple[str, ...]) -> None:
    started = time.monotonic()
    error, _ = _fail(f"{base}/drip", allowed_hosts=allowed, deadline_seconds=0.5, read_timeout=5)
    assert (error.kind, error.retryable) == ("timeout", True)
    assert time.monotonic() - started < 3  # deadline 0.5 s; the server would drip for 4 s


def test_a_stalled_body_hits_the_read_timeout(base: str, allowed: tuple[str, ...]) -> None:
    error, _ = _fail(f"{base}/stall", allowed_hosts=allowed, read_timeout=0.3)
    assert (error.kind, error.retryable) == ("timeout", True)


def test_a_closed_port_is_a_retryable_connection_error() -> None:
    with socket.socket() as probe_socket:  # a port that was free a moment ago and has no listener
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    error, _ = _fail(f"http://127.0.0.1:{port}/video.mp4", allowed_hosts=[f"127.0.0.1:{port}"])
    assert (error.kind, error.retryable) == ("connection", True)


# --- refusals before any socket opens ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/video.mp4",
        "gopher://127.0.0.1:6379/_INFO",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:6379/",
        "http://[::1]/",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, IPv4-mapped
        "http://[fe80::1]/",
        "http://[64:ff9b::a00:5]/",  # NAT64 of 10.0.0.5
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://224.0.0.1/",
        "http://localhost/",
        "http://internal.example/video.mp4",  # DNS says 10.0.0.5
        "http://mixed.example/video.mp4",  # DNS says one public and one private address
        "http://user:secret@cdn.example/video.mp4",
        "not a url",
    ],
)
def test_it_refuses_without_opening_a_socket(
    url: str, connects: list[Any], dns: dict[str, list[str]], allowed: tuple[str, ...]
) -> None:
    dns["internal.example"] = ["10.0.0.5"]
    dns["mixed.example"] = ["93.184.215.14", "10.0.0.5"]
    dns["cdn.example"] = ["93.184.215.14"]
    error, _ = _fail(url, allowed_hosts=allowed)
    assert error.permanent is True
    assert error.kind == "forbidden"
    assert connects == []


def test_the_allow_list_is_by_host_and_port(connects: list[Any], allowed: tuple[str, ...]) -> None:
    # 127.0.0.1:<test port> is allowed; the same address on Redis's port, or under another name, is not.
    port = allowed[0].rsplit(":", 1)[1]
    for url in ("http://127.0.0.1:6379/", f"http://localhost:{port}/video.mp4"):
        error, _ = _fail(url, allowed_hosts=allowed)
        assert error.kind == "forbidden"
    assert connects == []


def test_it_connects_to_the_address_it_validated(
    server: _Server, connects: list[Any], dns: dict[str, list[str]], mp4: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rebinding resolver: loopback (allow-listed for this name) first, then the metadata address.
    port = server.server_address[1]
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "videos.test":
            return real(host, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in next(answers)]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    sink = io.BytesIO()
    url = f"http://videos.test:{port}/video.mp4"
    result = download(url, sink, max_bytes=10 * MB, allowed_hosts=[f"videos.test:{port}"])
    assert sink.getvalue() == mp4
    assert lookups == ["videos.test"]  # resolved exactly once
    assert {addr[0] for addr in connects} == {"127.0.0.1"}
    assert server.seen_hosts[-1] == f"videos.test:{port}"  # the Host header keeps the name
    assert result.final_url == url


# --- TLS: pinned to the IP, verified against the name ---------------------------------------------------------


def _certificates(tmp: Path, name: str) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA (written to a file for the client) and a server context whose cert names ``name``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kling-site test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = tmp / "ca.pem", tmp / "leaf.pem", tmp / "leaf.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


@pytest.mark.parametrize(("cert_name", "ok"), [("videos.test", True), ("someone-else.test", False)])
def test_https_sends_sni_and_verifies_the_certificate_against_the_name(
    cert_name: str, ok: bool, tmp_path: Path, mp4: bytes, dns: dict[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_file, context = _certificates(tmp_path, cert_name)
    seen_sni: list[str | None] = []
    context.sni_callback = lambda sock, server_name, ctx: seen_sni.append(server_name)
    # Trust our test CA only. httpx reads SSL_CERT_FILE (as deployments with their own CA bundle rely on).
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    dns["videos.test"] = ["127.0.0.1"]
    for srv in _start(mp4, tls=context):
        port = srv.server_address[1]
        url = f"https://videos.test:{port}/video.mp4"
        if ok:
            sink = io.BytesIO()
            download(url, sink, max_bytes=10 * MB, allowed_hosts=[f"videos.test:{port}"])
            assert sink.getvalue() == mp4
        else:
            error, _ = _fail(url, allowed_hosts=[f"videos.test:{port}"])
            assert (error.kind, error.retryable) == ("connection", True)
            assert "certificate" in error.message.lower()
    assert seen_sni and seen_sni[0] == "videos.test"


# --- the address rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:5",
        "2002:7f00:1::",
        "::7f00:1",
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo whose client address is 10.0.0.1
    ],
)
def test_non_public_addresses_are_forbidden(address: str) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address)) is False

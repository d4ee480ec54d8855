"""One POST to a member's endpoint, with the downloader's address rules: no Django here.

The host is resolved once and every address checked (``media.fetch.check_destination``); the request goes to
that checked IP with the name kept for the Host header and TLS SNI, so a second DNS answer is never used.
No proxy from the environment, no redirects, no keep-alive; the response body is never read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from generations.media.fetch import DownloadError, check_destination
from generations.providers.http import ssl_context

USER_AGENT = "kling-site-webhooks/1"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class Sent:
    status_code: int | None  # None: no HTTP answer (refused address, DNS, connection, timeout)
    error: str  # one sentence for the delivery log; empty when delivered

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def destination_problem(url: str, allowed_hosts: Iterable[str]) -> str | None:
    """Why ``url`` may not receive webhooks now (scheme, credentials, a private address, DNS), or None."""
    try:
        check_destination(url, allowed_hosts)
    except DownloadError as exc:
        return _reworded(exc)
    return None


def post(url: str, body: bytes, headers: dict[str, str], *, allowed_hosts: Iterable[str]) -> Sent:
    try:
        target = check_destination(url, allowed_hosts)
    except DownloadError as exc:
        return Sent(None, _reworded(exc))
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    transport = httpx.HTTPTransport(retries=0, limits=httpx.Limits(max_keepalive_connections=0), verify=ssl_context())
    sent_headers = {
        **headers,
        "Host": target.url.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    with httpx.Client(transport=transport, timeout=timeout, trust_env=False, follow_redirects=False) as client:
        request = client.build_request(
            "POST", target.pinned_url, content=body, headers=sent_headers, extensions=extensions
        )
        try:
            response = client.send(request, stream=True)
        except httpx.TimeoutException:
            return Sent(None, f"The endpoint did not answer within {READ_TIMEOUT:g} seconds.")
        except httpx.TransportError as exc:
            return Sent(None, f"Could not connect to the endpoint ({type(exc).__name__}).")
        response.close()  # the body is never read
    status = response.status_code
    if 200 <= status < 300:
        return Sent(status, "")
    if 300 <= status < 400:
        return Sent(status, f"The endpoint answered HTTP {status}; redirects are not followed.")
    return Sent(status, f"The endpoint answered HTTP {status}.")


def _reworded(exc: DownloadError) -> str:
    return exc.message.replace("video", "webhook").replace("Video", "Webhook")

"""The one HTTP helper every provider client uses.

Every call has explicit connect/read/write/pool timeouts plus a wall-clock deadline, never follows redirects,
ignores proxy environment variables, and turns every failure into a ``ProviderError`` that says whether a retry
can help. Secrets (the credential's values and the auth header we built from them) are scrubbed from every message
and stored body; headers are never logged.
"""

from __future__ import annotations

import email.utils
import functools
import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, ClassVar

import certifi
import httpx

from generations.catalog import PROVIDERS
from generations.providers.base import Client, Credential, ProviderError, SubmitOutcomeUnknown

logger = logging.getLogger("generations.providers")

USER_AGENT = "kling-site/0.1"
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)
BODY_KEEP = 4096  # bytes of an error body kept on the exception for the admin
JSON_MAX = 2 * 1024 * 1024  # an API answer larger than this is not JSON we want
CHUNK = 64 * 1024
REDACTED = "[redacted]"

# httpx errors raised before any byte of the request left us: resending cannot create a second task.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)


@dataclass(frozen=True)
class HttpOptions:
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    # Wall-clock cap for one call, body included. httpx has no total timeout, so it is checked between chunks:
    # the worst case is deadline + one read timeout.
    deadline: float = 60.0
    # Tests only: an httpx.MockTransport serving fixed documented payloads.
    transport: httpx.BaseTransport | None = None


@dataclass(frozen=True)
class ErrorDetail:
    """What a client read from one error response."""

    detail: str = ""  # the provider's own words, shown after our sentence
    kind: str = ""  # overrides the kind derived from the HTTP status
    permanent: bool | None = None  # overrides the status-derived default


@dataclass(frozen=True)
class Reply:
    status: int
    data: dict[str, Any]
    headers: httpx.Headers


@dataclass(frozen=True)
class Streamed:
    response: httpx.Response  # status and headers, e.g. to check the Content-Type before reading
    chunks: Iterator[bytes]


Describe = Callable[[int, Any], ErrorDetail]

_SENTENCES = {
    "validation": "{label} rejected the request as invalid",
    "auth": "{label} did not accept the credentials",
    "no_credit": "The {label} account is out of credit",
    "not_found": "{label} does not know this task",
    "expired": "{label} no longer has this result",
    "content_policy": "{label} refused the prompt under its content policy",
    "duplicate": "{label} already has a task with this id",
    "rate_limited": "{label} asked us to slow down",
    "timeout": "{label} did not answer in time",
    "server": "{label} had a server error",
    "connection": "Could not connect to {label}",
    "malformed": "{label} sent a response we could not read",
    "html": "{label} answered with a web page instead of its API (an unknown route, or the wrong base URL)",
    "redirect": "{label} answered with a redirect; check the base URL",
    "rejected": "{label} refused the request",
}


def ssl_context() -> ssl.SSLContext:
    """One verified TLS context for every call: building one loads the CA bundle, ~25 ms each time.

    Like httpx, SSL_CERT_FILE / SSL_CERT_DIR replace certifi's bundle (deployments with their own CA).
    """
    return _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _ssl_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    return ssl.create_default_context(cafile=certifi.where())


def _new_client(base_url: str, timeout: httpx.Timeout, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        verify=ssl_context(),
        transport=transport,
    )


_pool = threading.local()
# The server closed a kept-alive connection just as we reused it (its idle timeout can be shorter than ours):
# nothing was answered, and a GET is safe to ask again, once, on a new connection.
_STALE = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def _pooled(base_url: str, timeout: httpx.Timeout) -> httpx.Client:
    """This thread's client for one provider address: its connections (and TLS sessions) are kept alive between
    status requests (httpx drops one idle for 5 s). Per thread and reset in a forked child: a connection is never
    shared."""
    clients: dict[tuple[str, str], httpx.Client] = _pool.__dict__.setdefault("clients", {})
    key = (base_url, repr(timeout))
    if key not in clients:
        if len(clients) >= 16:  # a test run's many simulators; a real site talks to a handful of addresses
            for client in clients.values():
                client.close()
            clients.clear()
        clients[key] = _new_client(base_url, timeout)
    return clients[key]


def _forget_pooled(base_url: str, timeout: httpx.Timeout) -> None:
    client = _pool.__dict__.get("clients", {}).pop((base_url, repr(timeout)), None)
    if client is not None:
        client.close()


@contextmanager
def _pooled_stream(
    base_url: str, timeout: httpx.Timeout, url: str, params: Mapping[str, str] | None, headers: dict[str, str]
) -> Iterator[httpx.Response]:
    """A GET on this thread's kept-alive client. Its cookie jar is emptied first: accounts at one address share the
    client, and one account's cookies must never ride on another's requests. A client whose request was cut off
    (a job's time limit, any error) is closed and never reused."""
    try:
        with ExitStack() as stack:
            client = _pooled(base_url, timeout)
            client.cookies.clear()
            reusing = _has_idle_connection(client)
            try:
                response = stack.enter_context(client.stream("GET", url, params=params, headers=headers))
            except _STALE:
                if not reusing:  # a new connection cut off: that is the provider's answer, not a stale socket
                    raise
                _forget_pooled(base_url, timeout)
                client = _pooled(base_url, timeout)
                response = stack.enter_context(client.stream("GET", url, params=params, headers=headers))
            yield response
    except BaseException:
        _forget_pooled(base_url, timeout)
        raise


def _has_idle_connection(client: httpx.Client) -> bool:
    """Whether the next request will reuse a kept-alive connection (httpcore's pool; False if it cannot tell)."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    return any(connection.is_idle() for connection in getattr(pool, "connections", ()))


os.register_at_fork(after_in_child=lambda: _pool.__dict__.clear())


def classify_status(status: int) -> tuple[str, bool]:
    """(kind, permanent) for an HTTP error status, before the provider's own code refines it."""
    if status in (400, 422):
        return "validation", True
    if status in (401, 403):
        return "auth", True
    if status in (402, 406):
        return "no_credit", True
    if status == 404:
        return "not_found", True
    if status == 409:
        return "duplicate", True
    if status == 451:
        return "content_policy", True
    if status == 429:
        return "rate_limited", False
    if status == 408 or status >= 500:
        return ("timeout" if status in (408, 504) else "server"), False
    if 300 <= status < 400:
        return "redirect", True
    return "rejected", True


def sentence(
    label: str, kind: str, *, status: int | None = None, detail: str = "", retry_after: float | None = None
) -> str:
    """One sentence a member can read, e.g. "Kling rejected the request as invalid (HTTP 400): prompt is too long."."""
    text = _SENTENCES.get(kind, _SENTENCES["rejected"]).format(label=label)
    if status is not None:
        text += f" (HTTP {status})"
    detail = " ".join(detail.split())[:300].rstrip(".")
    if detail:
        text += f": {detail}"
    if retry_after:
        text += f"; retry in {retry_after:g} s"
    return text + "."


def _plain_words(text: str) -> str:
    """A short plain-text error body ("Bad Gateway") is worth showing; an HTML page is not."""
    text = text.strip()
    return text if text and len(text) <= 200 and "<" not in text else ""


def looks_like_html(raw: bytes, headers: httpx.Headers | None = None) -> bool:
    kind = (headers or {}).get("content-type", "").split(";")[0].strip().lower()
    return kind == "text/html" or raw.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP-date. Clamped to [0, 3600]."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), 3600.0)


def dig(data: Any, *path: str | int) -> Any:
    """``data[a][b][0]…`` or None when any step is missing or of the wrong type."""
    for step in path:
        if isinstance(step, int) and isinstance(data, list) and -len(data) <= step < len(data):
            data = data[step]
        elif isinstance(step, str) and isinstance(data, Mapping):
            data = data.get(step)
        else:
            return None
    return data


def ident(value: Any) -> str:
    """A task id as text: providers send strings, some gateways numbers; anything else is no id."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def text_of(value: Any) -> str:
    """A provider's error field as plain text, whatever shape it took (string, {message}, {detail:[{msg}]})."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping):
        for key in ("message", "msg", "detail", "title", "error", "name"):
            found = text_of(value.get(key))
            if found:
                return found
        return ""
    if isinstance(value, list):
        return "; ".join(t for t in (text_of(v) for v in value) if t)
    return str(value)


class Http:
    """Calls for one credential. ``auth`` builds the auth headers (fresh per request, e.g. a new Kling JWT)."""

    def __init__(
        self,
        credential: Credential,
        options: HttpOptions | None,
        *,
        auth: Callable[[], dict[str, str]],
        describe: Describe,
        label: str = "",
    ):
        self.credential = credential
        self.options = options or HttpOptions()
        # The name members see in messages: "MuleRun", "AI/ML API", "PowerTokens", "Segmind".
        self.label = label or PROVIDERS[credential.provider].label.split(" (")[0]
        self._auth = auth
        self._describe = describe
        self._secrets = [s for s in credential.secrets.values() if s]
        self._header_secrets: list[str] = []  # the auth values built for the latest request

    # -- public calls -----------------------------------------------------------------------------------------

    def get(self, path: str, *, params: Mapping[str, str] | None = None, accept: tuple[int, ...] = ()) -> Reply:
        return self.request("GET", path, params=params, accept=accept)

    def post(self, path: str, body: Mapping[str, Any], *, submit: bool = True) -> Reply:
        return self.request("POST", path, body=body, submit=submit)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        submit: bool = False,
        accept: tuple[int, ...] = (),
    ) -> Reply:
        """One JSON call. ``submit`` marks a call that creates a paid task; ``accept`` lists error statuses the
        caller parses itself (Segmind answers a FAILED task with HTTP 422 and a valid body)."""
        started = time.monotonic()
        with self._session(method, path, started, submit, body=body, params=params) as response:
            raw = self._read(response, started, method, path, submit, limit=JSON_MAX)
        status = response.status_code
        self._log(method, path, status, started)
        if 200 <= status < 300 or status in accept:
            return Reply(status, self._parse_json(raw, status, submit, response.headers), response.headers)
        raise self.error_for(status, raw, response.headers, submit=submit)

    @contextmanager
    def stream(
        self, method: str, url: str, *, body: Mapping[str, Any] | None = None, auth: bool = True, submit: bool = False
    ) -> Iterator[Streamed]:
        """A 2xx response and its body in chunks (deadline and error conversion applied); errors before any body
        byte are raised here.

        ``url`` may be absolute (a download link the provider gave us); pass ``auth=False`` then, so our key
        never travels to a host we did not configure.
        """
        started = time.monotonic()
        with self._session(method, url, started, submit, body=body, auth=auth) as response:
            path = response.request.url.path
            if not 200 <= response.status_code < 300:
                raw = self._read(response, started, method, path, submit, limit=BODY_KEEP)
                self._log(method, path, response.status_code, started)
                raise self.error_for(response.status_code, raw, response.headers, submit=submit)
            self._log(method, path, response.status_code, started)
            yield Streamed(response, self._chunks(response, started, submit))

    def _chunks(self, response: httpx.Response, started: float, submit: bool) -> Iterator[bytes]:
        method, path = response.request.method, response.request.url.path
        try:
            for chunk in response.iter_bytes(CHUNK):
                self._check_deadline(started, method, path, submit)
                yield chunk
        except httpx.HTTPError as exc:
            # The request was answered, so any failure here happened after it was sent.
            raise self._transport_error(exc, submit=submit, sent=True) from None

    # -- building errors --------------------------------------------------------------------------------------

    def error_for(self, status: int, raw: bytes, headers: httpx.Headers, *, submit: bool = False) -> ProviderError:
        text = self.scrub(raw[:BODY_KEEP].decode("utf-8", "replace"))
        try:
            data: Any = json.loads(raw)
        except ValueError:
            data = None
        kind, permanent = classify_status(status)
        detail = self._describe(status, data)
        kind = detail.kind or kind
        if detail.permanent is not None:
            permanent = detail.permanent
        retry_after = parse_retry_after(headers.get("retry-after"))
        words = detail.detail if data is not None else _plain_words(text)
        words = self.scrub(words)
        message = sentence(self.label, kind, status=status, detail=words, retry_after=retry_after)
        # A gateway timeout on a create may come after the upstream accepted the task: resending could pay twice.
        if submit and status == 504:
            return SubmitOutcomeUnknown(message, status_code=status, body=text, retry_after=retry_after)
        return ProviderError(
            message, permanent=permanent, status_code=status, body=text, retry_after=retry_after, kind=kind
        )

    def missing(self, what: str, data: Any) -> SubmitOutcomeUnknown:
        """A 2xx create answer without the task id: the task may exist, so the outcome is unknown."""
        message = sentence(self.label, "malformed", detail=what)
        body = self.scrub(json.dumps(data, default=str)[:BODY_KEEP])
        return SubmitOutcomeUnknown(message, body=body, kind="malformed")

    def scrub(self, text: str) -> str:
        for secret in sorted({*self._secrets, *self._header_secrets}, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text

    def scrub_data(self, data: Any) -> Any:
        """The provider's raw JSON with any secret value replaced, safe to store for the admin."""
        if isinstance(data, str):
            return self.scrub(data)
        if isinstance(data, Mapping):
            return {k: self.scrub_data(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.scrub_data(v) for v in data]
        return data

    # -- internals --------------------------------------------------------------------------------------------

    @contextmanager
    def _session(
        self,
        method: str,
        url: str,
        started: float,
        submit: bool,
        *,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> Iterator[httpx.Response]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if auth:
            auth_headers = self._auth()
            # The built header (e.g. a signed JWT) is a secret too: never let it reach a message.
            self._header_secrets = [v.removeprefix("Bearer ") for v in auth_headers.values() if v]
            headers.update(auth_headers)
        try:
            if method == "GET" and not submit and self.options.transport is None:
                # A status request: one kept-alive connection per provider (a worker's poll round asks about many
                # tasks in a row). Only reads share it: a paid request always goes on a fresh connection, which
                # a server can never have closed under it (that would make the send's outcome unknown).
                with _pooled_stream(self.credential.base_url, self.options.timeout, url, params, headers) as response:
                    yield response
                return
            client = _new_client(self.credential.base_url, self.options.timeout, self.options.transport)
            with client, client.stream(method, url, json=body, params=params, headers=headers) as response:
                yield response
        except httpx.HTTPError as exc:
            self._log(method, httpx.URL(url).path, None, started)
            raise self._transport_error(exc, submit=submit, sent=not isinstance(exc, NOT_SENT)) from None
        except httpx.InvalidURL:
            raise ProviderError(
                f"The {self.label} base URL is not a valid address.", permanent=True, kind="rejected"
            ) from None

    def _read(
        self, response: httpx.Response, started: float, method: str, path: str, submit: bool, *, limit: int
    ) -> bytes:
        parts: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes(CHUNK):
            self._check_deadline(started, method, path, submit)
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                break  # an error or JSON body this large is not something we will read anyway
        return b"".join(parts)

    def _check_deadline(self, started: float, method: str, path: str, submit: bool) -> None:
        if time.monotonic() - started <= self.options.deadline:
            return
        self._log(method, path, None, started)
        message = sentence(self.label, "timeout", detail=f"no complete answer within {self.options.deadline:g} s")
        if submit:
            raise SubmitOutcomeUnknown(message)
        raise ProviderError(message, permanent=False, kind="timeout")

    def _parse_json(
        self, raw: bytes, status: int, submit: bool, headers: httpx.Headers | None = None
    ) -> dict[str, Any]:
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
        # A new-api gateway serves its web UI (HTTP 200, text/html) for every route it does not register.
        kind = "html" if looks_like_html(raw, headers) else "malformed"
        detail = "" if kind == "html" else "the body is not a JSON object"
        message = sentence(self.label, kind, status=status, detail=detail)
        body = self.scrub(raw[:BODY_KEEP].decode("utf-8", "replace"))
        if submit:
            # The provider accepted the create but we cannot read the task id: the task may exist.
            raise SubmitOutcomeUnknown(message, status_code=status, body=body, kind=kind)
        raise ProviderError(message, permanent=False, status_code=status, body=body, kind=kind)

    def _transport_error(self, exc: httpx.HTTPError, *, submit: bool, sent: bool) -> ProviderError:
        timeout = isinstance(exc, httpx.TimeoutException)
        kind = "timeout" if timeout else "connection"
        if isinstance(exc, httpx.UnsupportedProtocol):
            return ProviderError(
                f"The {self.label} base URL must start with https:// or http://.", permanent=True, kind="rejected"
            )
        what = {
            httpx.ConnectTimeout: "connection timed out",
            httpx.ConnectError: "connection failed",
            httpx.PoolTimeout: "no free connection",
            httpx.ReadTimeout: "read timed out",
            httpx.WriteTimeout: "write timed out",
            httpx.ReadError: "connection reset while reading",
            httpx.WriteError: "connection reset while sending",
            httpx.RemoteProtocolError: "the server closed the connection early",
        }.get(type(exc), type(exc).__name__)
        if timeout:
            message = sentence(self.label, "timeout", detail=what)
        else:
            message = f"Lost the connection to {self.label} ({what})."
        if submit and sent:
            return SubmitOutcomeUnknown(message, kind=kind)
        return ProviderError(message, permanent=False, kind=kind)

    def _log(self, method: str, path: str, status: int | None, started: float) -> None:
        elapsed = time.monotonic() - started
        level = logging.DEBUG if status is not None and status < 400 else logging.INFO
        logger.log(level, "%s %s %s -> %s in %.2fs", self.label, method, path, status or "no answer", elapsed)


class HttpClient(Client):
    """A client speaking through one `Http`; subclasses set `describe_error`, and `_auth` unless it is a bearer key."""

    label: ClassVar[str] = ""  # the provider's name in messages; "" takes the catalog's label
    describe_error: ClassVar[Describe]

    def __init__(self, credential: Credential, *, options: HttpOptions | None = None):
        super().__init__(credential, options=options)
        self.http = Http(credential, options, auth=self._auth, describe=type(self).describe_error, label=self.label)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential.secrets['api_key']}"}

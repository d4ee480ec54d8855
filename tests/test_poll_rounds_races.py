"""Poll rounds against what the world does: a time limit cutting a round off, a server closing a kept-alive
connection as it is reused, a gateway setting cookies (found by a payment-systems review of the rounds)."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta
from typing import Any

import django_rq
import pytest
from django.utils import timezone
from rq.timeouts import JobTimeoutException

from generations.models import Generation
from generations.providers import http
from generations.providers.base import Credential, ProviderError
from generations.services import pipeline
from tests.test_poll_rounds import round_jobs, sent

S = Generation.Status


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("sim_credentials")
def test_a_round_cut_off_by_its_job_timeout_leaves_the_rows_it_never_reached_to_a_new_round(
    alice, sim, settings, monkeypatch
):
    """One slow status call (DNS, a dripping body: a call may take ~100 s of the round's 150) makes RQ raise
    JobTimeoutException in the round. The rows the round had listed but not reached are due, unleased, and no job
    is on its way for them: on a quiet account they wait for the sweep (GRACE 30 s + up to one sweep interval)."""
    settings.MAX_IN_FLIGHT_PER_MEMBER = 20
    gens = sent(alice, 3)
    sim.task_seconds = 3600
    Generation.objects.filter(pk__in=[g.pk for g in gens]).update(next_run_at=timezone.now() - timedelta(seconds=1))
    django_rq.get_connection("default").flushdb()
    real = pipeline._poll
    calls = []

    def first_call_times_out(gen, client):
        calls.append(gen.pk)
        if len(calls) == 1:
            raise JobTimeoutException("Task exceeded maximum timeout value (150 seconds)")
        return real(gen, client)

    monkeypatch.setattr(pipeline, "_poll", first_call_times_out)
    with pytest.raises(JobTimeoutException):
        pipeline.polls_due(gens[0].credential_id)
    untouched = Generation.objects.filter(pk__in=[g.pk for g in gens], poll_count=0, lease_until__isnull=True)
    assert untouched.count() == 2  # due now, free, never asked
    assert round_jobs(), "no round is on its way for the two due rows the timed-out round never reached"


def _serve(listener: socket.socket, handle: Any) -> None:
    """Accept connections on `listener` in a thread, each handled by `handle` in its own."""

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()


def _keepalive_server_that_closes_on_reuse() -> tuple[socket.socket, list[int]]:
    """An HTTP/1.1 server that keeps connections alive, but whose idle timeout fires just as the next request on
    a kept-alive connection arrives (the classic keep-alive race): it closes that connection without answering."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    served: list[int] = []

    def handle(conn: socket.socket) -> None:
        n, buf = 0, b""
        with conn:
            while data := conn.recv(65536):
                buf += data
                if b"\r\n\r\n" not in buf:
                    continue
                buf, n = b"", n + 1
                if n > 1:
                    return  # closed as the request arrived
                body = b'{"state": "running"}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
                served.append(n)

    _serve(listener, handle)
    return listener, served


def test_a_status_request_on_a_kept_alive_connection_the_server_just_closed_is_not_a_poll_error():
    """Before 6ca57f1 every status request had a fresh connection. Now the second poll of a round goes on the
    kept-alive one; a server closing it as the request arrives makes a ProviderError ("Lost the connection"), so
    the row gets poll_errors + 1 and backoff(poll_count) (up to POLL_MAX_SECONDS ±20 %) before it is asked
    again, although a GET can be resent safely on a new connection."""
    listener, _served = _keepalive_server_that_closes_on_reuse()
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        client = http.Http(
            Credential("mulerun", base, {"api_key": "k"}),
            http.HttpOptions(),
            auth=lambda: {"Authorization": "Bearer k"},
            describe=lambda status, data: http.ErrorDetail(),
        )
        assert client.get("/tasks/1").data == {"state": "running"}
        try:
            reply = client.get("/tasks/2")
        except ProviderError as exc:
            pytest.fail(f"a stale kept-alive connection became a poll error: {exc.message}")
        assert reply.data == {"state": "running"}
    finally:
        listener.close()
        for c in http._pool.__dict__.get("clients", {}).values():
            c.close()
        http._pool.__dict__.clear()


def test_status_requests_of_one_account_never_carry_cookies_another_account_was_given():
    """The kept-alive client is keyed by base URL, not by account, and an httpx.Client keeps a cookie jar: a cookie
    the provider (or its gateway / load balancer) set on account A's answer rides on account B's status requests
    and lookups (same base URL), for the life of the worker thread."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    seen: list[tuple[str, str]] = []

    def handle(conn: socket.socket) -> None:
        buf = b""
        with conn:
            while data := conn.recv(65536):
                buf += data
                if b"\r\n\r\n" not in buf:
                    continue
                head, buf = buf.split(b"\r\n\r\n", 1)[0].decode(), b""
                lines = head.split("\r\n")
                hdrs = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
                seen.append((hdrs.get("authorization", ""), hdrs.get("cookie", "")))
                body = b'{"state": "running"}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: session=of-account-a; Path=/\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )

    _serve(listener, handle)
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"

    def client(key: str) -> http.Http:
        return http.Http(
            Credential("kling", base, {"api_key": key}),
            http.HttpOptions(),
            auth=lambda: {"Authorization": f"Bearer {key}"},
            describe=lambda status, data: http.ErrorDetail(),
        )

    try:
        client("key-a").get("/tasks/1")
        client("key-b").get("/tasks/2")
        assert seen[1] == ("Bearer key-b", ""), f"account B's request carried account A's cookie: {seen[1]}"
    finally:
        listener.close()
        for c in http._pool.__dict__.get("clients", {}).values():
            c.close()
        http._pool.__dict__.clear()

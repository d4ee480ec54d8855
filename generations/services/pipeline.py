"""Submit, poll and fetch: one short step at a time, each claimed with a compare-and-set on the row.

A step claims its generation by moving ``lease_until`` into the future only if no other job holds it; a job
killed mid-step simply lets its lease expire and the recovery sweep hands the step to another job. The provider
call always happens outside any database transaction, and a row is moved on only if it is still in the state the
step started from, so a job that runs twice changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import tempfile
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connections, transaction
from django.db.models import F, Q
from django.urls import reverse
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from generations.catalog import ModelSpec
from generations.clock import db_now
from generations.media import card_media, images
from generations.media.fetch import DownloadError, download
from generations.media.probe import InvalidVideo, make_poster, probe
from generations.models import Generation, ProviderCredential
from generations.poll_policy import FLOOR_S, poll_delay
from generations.providers import get_client
from generations.providers.base import (
    Client,
    Credential,
    ProviderError,
    SubmitOutcomeUnknown,
    SubmitRequest,
    SubmitResult,
    VideoAtLink,
)
from generations.providers.http import HttpOptions
from generations.scheduling import schedule
from generations.services import line, notify, routing, timing
from generations.services.credits import credits_refund
from generations.webhooks.services import events_record

log = logging.getLogger(__name__)
S = Generation.Status


def _lease(step: str) -> timedelta:
    """How long a claim lasts between two heartbeats before the sweep may assume the job died.

    Every step keeps its lease alive from a heartbeat thread (`_Heartbeat`) that beats every quarter lease
    whatever the step waits for (a provider's first byte, a stalled body, a slow S3 upload), and stops when the
    job ends or is killed. A lease therefore outlasts every job timeout and read timeout as long as its job
    lives, and expires within LEASE_SECONDS of its death. Steps with no heartbeat would need
    lease >= job timeout (STEPS) and >= the call's read timeout; none runs without one.
    """
    return timedelta(seconds=settings.LEASE_SECONDS)


def checkpoint(point: str, gen: Generation) -> None:
    """Where a step waits on the network or on storage ("poll:call", "fetch:store", ...). Does nothing;
    the stateful model and the race tests pause steps here to interleave them with everything else."""


MAX_BEAT_SECONDS = 1500


class _Heartbeat:
    """Keeps a claimed row's lease alive from a thread, independent of bytes arriving.

    The beat renews the lease only while the row still carries this step's fencing token, so a step that lost
    its claim can never extend someone else's. The thread uses its own database connection and closes it.
    """

    use_thread = True  # the stateful model beats by hand instead, when it moves the clock
    active: ClassVar[set[_Heartbeat]] = set()

    def __init__(self, gen: Generation):
        self.pk, self.token = gen.pk, gen.lease_token
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> bool:
        until = db_now() + _lease("any")
        return Generation.objects.filter(pk=self.pk, lease_token=self.token).update(lease_until=until) == 1

    def _run(self) -> None:
        interval = max(settings.LEASE_SECONDS / 4, 0.05)
        # No step outlives its job's time limit (scheduling.STEPS, 20 minutes at most): a beat still running past
        # that is an orphan, and must let the lease lapse so the sweep hands the row on.
        stop_at = time.monotonic() + MAX_BEAT_SECONDS
        try:
            while not self._stop.wait(interval) and time.monotonic() < stop_at:
                try:
                    self.beat()
                except Exception:  # a database blip: the next beat tries again, the lease has slack for three
                    log.warning("heartbeat for %s failed", self.pk, exc_info=True)
        finally:
            connections.close_all()  # this thread's connections only

    def __enter__(self) -> _Heartbeat:
        _Heartbeat.active.add(self)
        if self.use_thread and self.token is not None:
            self._thread = threading.Thread(target=self._run, name=f"lease-{self.pk}", daemon=True)
            try:
                self._thread.start()
            except BaseException:  # cut off while starting: __exit__ will not run
                self._stop.set()
                _Heartbeat.active.discard(self)
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # first: a time limit's exception landing in this method must not leave the beat running
        _Heartbeat.active.discard(self)
        if self._thread is not None:
            self._thread.join()


# Looking a possibly-sent submit up by our external id gives up (to an admin) after this many tries.
MAX_SUBMIT_ATTEMPTS = 6
MAX_FETCH_ATTEMPTS = 5
# A poll round (polls_due) takes at most this many rows, and starts no poll after this many seconds.
ROUND_ROWS = 50
ROUND_SECONDS = 20.0
EARLY = timedelta(seconds=1.5)
# Past its deadline, a task the provider cannot be asked about (errors) is still polled this long before it fails.
DEADLINE_GRACE = timedelta(minutes=10)
PAID_LINK_FAILED = (
    "The provider made this video, but we could not download it from the link it gave. An admin will recover it."
)
UNREACHABLE = (
    "The provider could not be asked about this video since its deadline passed, so we do not know whether it was "
    "made. An admin will check it."
)
UNKNOWN_SUBMIT = (
    "We could not tell whether the provider received this request, and resending it could pay for the video twice. "
    "An admin will check it with the provider."
)


# --- helpers ------------------------------------------------------------------------------------------------
def _claim(
    pk: uuid.UUID, statuses: set[str], lease: timedelta, *, due: bool = True, where: Q | None = None, **updates: Any
) -> Generation | None:
    """Take a row for one step if it is in `statuses` and no live job holds it; None if someone else has it."""
    now = db_now()
    qs = Generation.objects.filter(pk=pk, status__in=statuses).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    if where is not None:
        qs = qs.filter(where)
    if due:  # RQ's scheduler keeps whole seconds, so a delayed job may start up to a second early
        qs = qs.filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now + EARLY))
    # The fencing token: every write that ends this step checks it, so a step whose lease expired (a frozen
    # process, a lost heartbeat) and was claimed again can no longer change the row.
    token = uuid.uuid4()
    if qs.update(lease_until=now + lease, lease_token=token, updated_at=now, **updates) != 1:
        return None
    return Generation.objects.select_related("credential", "owner").get(pk=pk)


def _advance(gen: Generation, expected: str, **fields: Any) -> bool:
    """Move the row on only if it is still where the step found it and the step still holds its claim (its
    fencing token); release the claim unless the step keeps working (``lease_until`` given)."""
    fields.setdefault("lease_until", None)
    if fields["lease_until"] is None:
        fields["lease_token"] = None
    qs = Generation.objects.filter(pk=gen.pk, status=expected)
    if gen.lease_token is not None:
        qs = qs.filter(lease_token=gen.lease_token)
    return qs.update(updated_at=db_now(), **fields) == 1


def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Seconds before the next try: doubling from POLL_FIRST_SECONDS to POLL_MAX_SECONDS, ±20 % jitter."""
    base = min(settings.POLL_MAX_SECONDS, settings.POLL_FIRST_SECONDS * 2 ** max(attempt - 1, 0))
    delay = base * random.uniform(0.8, 1.2)
    if retry_after:
        delay = max(delay, min(retry_after, 600))
    return round(delay, 2)


def next_poll_in(gen: Generation, *, now: datetime, fallback: float, retry_after: float | None = None) -> float:
    """Seconds to the next status request of a task the provider has: aimed at the time such videos usually take
    (poll_policy); the doubling `fallback` while the site knows no such videos. Errors keep `backoff` alone."""
    elapsed = (now - gen.submitted_at).total_seconds() if gen.submitted_at else 0.0
    return poll_delay(
        elapsed,
        timing.expected_seconds(gen.model, gen.mode, gen.duration),
        fallback_s=fallback,
        retry_after=retry_after,
        floor_s=min(FLOOR_S, settings.POLL_FIRST_SECONDS),
        cap_s=settings.POLL_MAX_SECONDS,
    )


def client_for(credential: ProviderCredential) -> Client:
    """A client with the configured timeouts; synchronous providers hold the line for a whole generation."""
    info = credential.provider_info
    read = settings.PROVIDER_SYNC_READ_TIMEOUT if info.synchronous else settings.PROVIDER_READ_TIMEOUT
    options = HttpOptions(
        timeout=httpx.Timeout(connect=settings.PROVIDER_CONNECT_TIMEOUT, read=read, write=10.0, pool=5.0),
        deadline=read + 30.0,
    )
    secrets = credential.get_secrets()
    return get_client(Credential(credential.provider, credential.effective_base_url, secrets), options=options)


def task_spec(gen: Generation) -> ModelSpec:
    """The model as the task's protocol needs it: a task made from a start image lives on its own route."""
    return gen.spec.for_image_task(bool(gen.image_url or gen.tail_image_url))


def _request(gen: Generation) -> SubmitRequest:
    callback = ""
    if settings.PUBLIC_BASE_URL and gen.spec.provider_info.has_callback:
        path = reverse("provider_hook", args=[gen.provider, gen.callback_secret])
        callback = settings.PUBLIC_BASE_URL.rstrip("/") + path
    params = gen.params
    if images.stored_name(params.image_url) or images.stored_name(params.tail_image_url):
        params = replace(  # our own pictures go as the provider takes them: base64, or a signed expiring link
            params,
            image_url=images.for_provider(params.image_url, gen.provider),
            tail_image_url=images.for_provider(params.tail_image_url, gen.provider),
        )
    return SubmitRequest(spec=gen.spec, params=params, external_id=gen.external_id, callback_url=callback)


PICTURE_GONE = "The picture for this video is no longer in our storage, so nothing was sent. Choose it again."


def _request_or_fail(gen: Generation) -> SubmitRequest | None:
    """The request to send; None when one of our pictures is gone from storage (swept, a lost volume): nothing was
    sent, so the video fails and is refunded at once instead of waiting out its deadline."""
    try:
        return _request(gen)
    except FileNotFoundError:
        generation_fail(gen.pk, reason=PICTURE_GONE, statuses={S.SUBMITTING}, token=gen.lease_token)
        return None


def _note_credential_problem(gen: Generation, exc: ProviderError) -> None:
    """Auth and out-of-credit errors are the admin's to fix: show them on the credential at once."""
    if exc.kind in ("auth", "no_credit"):
        ProviderCredential.objects.filter(pk=gen.credential_id).update(last_error=exc.message, last_error_at=db_now())


def generation_fail(
    pk: uuid.UUID,
    *,
    reason: str,
    detail: str = "",
    statuses: set[str] | None = None,
    token: uuid.UUID | None = None,
) -> bool:
    """Mark failed and refund, in one transaction; only the first caller wins. A step passes its fencing token
    (only its own claim may fail the row); admins and the sweep pass none."""
    statuses = statuses or (Generation.IN_FLIGHT | {S.NEEDS_ATTENTION})
    now = db_now()
    qs = Generation.objects.filter(pk=pk, status__in=statuses)
    if token is not None:
        qs = qs.filter(lease_token=token)
    with transaction.atomic():
        moved = qs.update(
            status=S.FAILED,
            error=reason[:1000],
            error_detail=detail[:8000],
            finished_at=now,
            updated_at=now,
            lease_until=None,
            lease_token=None,
            next_run_at=None,
        )
        if moved != 1:
            return False
        gen = Generation.objects.select_related("owner").get(pk=pk)
        credits_refund(generation=gen, reason=reason[:200])
        events_record(gen)
        notify.notify_later(pk)
    log.info("generation %s failed: %s", pk, reason)
    return True


def deadline_message(gen: Generation) -> str:
    seconds = (gen.deadline_at - gen.created_at).total_seconds()
    span = f"{round(seconds / 60)} minutes" if seconds >= 90 else f"{round(seconds)} seconds"
    return f"The provider did not finish the video within {span}."


def _deadline_passed(gen: Generation) -> bool:
    if db_now() < gen.deadline_at:
        return False
    generation_fail(gen.pk, reason=deadline_message(gen), token=gen.lease_token)
    return True


# --- submit ---------------------------------------------------------------------------------------------------
def submit_step(gen: Generation) -> str:
    """Synchronous providers block a worker for minutes, so they have a queue of their own."""
    return "submit_sync" if gen.spec.provider_info.synchronous else "submit"


def generation_submit(pk: uuid.UUID) -> None:
    """Send a queued generation to its provider (or resolve a submit whose outcome we never learned)."""
    gen = _claim(
        pk,
        {S.QUEUED},
        _lease("submit"),
        where=Q(admitted_at__isnull=False),  # a video still waiting in line (services.line) is not sent yet
        status=S.SUBMITTING,
        submit_attempts=F("submit_attempts") + 1,
    )
    if gen is not None:
        with _Heartbeat(gen):
            if _deadline_passed(gen):
                return
            client = client_for(gen.credential)
            if client.synchronous:
                _generate_sync(gen, client)
            else:
                _send(gen, client)
        return
    gen = _claim(pk, {S.SUBMITTING}, _lease("submit"), due=False)
    if gen is not None:  # an earlier submit job died or timed out: the request may have reached the provider
        with _Heartbeat(gen):
            _resolve_unknown_submit(gen, client_for(gen.credential))


def _send(gen: Generation, client: Client, *, resend: bool = False) -> None:
    checkpoint("submit:call", gen)
    request = _request_or_fail(gen)
    if request is None:
        return
    try:
        result = client.submit(request)
    except SubmitOutcomeUnknown as exc:
        _outcome_unknown(gen, client, exc)
        return
    except ProviderError as exc:
        if resend and exc.permanent and exc.kind != "duplicate":
            # The first send may have made the task even though the lookup did not find it; a refusal of the
            # resend (in words we may not recognise as "duplicate id") must never become a refund.
            _note_credential_problem(gen, exc)
            _advance(gen, S.SUBMITTING, status=S.NEEDS_ATTENTION, error=UNKNOWN_SUBMIT, error_detail=exc.message)
            return
        if client.has_external_id and exc.status_code in (500, 502):
            # A gateway's 500/502 may come after it created the task upstream: with our idempotency key we look
            # it up before any resend. A 503 says the request was not taken (down, maintenance): plain retry.
            # (Without an idempotency key, a 5xx is resent: README, Guarantees.)
            _outcome_unknown(gen, client, exc)
            return
        _submit_failed(gen, exc)
        return
    first_poll = next_poll_in(gen, now=db_now(), fallback=settings.POLL_FIRST_SECONDS)
    _mark_submitted(gen, result, first_poll=first_poll)


def _outcome_unknown(gen: Generation, client: Client, exc: ProviderError) -> None:
    log.warning("generation %s: submit outcome unknown (%s)", gen.pk, exc.message)
    if _advance(gen, S.SUBMITTING, error=exc.message, error_detail=exc.body, next_run_at=db_now()):
        again = _claim(gen.pk, {S.SUBMITTING}, _lease("submit"), due=False)
        if again is not None:
            with _Heartbeat(again):
                _resolve_unknown_submit(again, client)


def _mark_submitted(gen: Generation, result: SubmitResult, *, first_poll: float) -> None:
    now = db_now()
    if _advance(
        gen,
        S.SUBMITTING,
        status=S.SUBMITTED,
        provider_task_id=result.task_id,
        provider_status=result.status,
        provider_response=result.raw,
        submitted_at=now,
        next_run_at=now + timedelta(seconds=first_poll),
        error="",
    ):
        poll_later(gen, first_poll)


def _submit_failed(gen: Generation, exc: ProviderError) -> None:
    _note_credential_problem(gen, exc)
    if routing.failover(gen, exc.kind, exc.message):  # refused before any task existed: the next account
        return
    if exc.kind == "rate_limited" and not exc.permanent:  # the account is busy: back to the fair line, it rests
        line.line_rejoin(gen, rest_seconds=backoff(gen.submit_attempts, exc.retry_after), message=exc.message)
        return
    if exc.kind == "duplicate":  # our external id already exists there: the first send did arrive
        _advance(gen, S.SUBMITTING, next_run_at=db_now())
        schedule(submit_step(gen), gen.pk, key=f"dup{gen.submit_attempts}", delay=backoff(gen.submit_attempts))
        return
    delay = backoff(gen.submit_attempts, exc.retry_after)
    if exc.permanent:
        generation_fail(gen.pk, reason=exc.message, detail=exc.body, statuses={S.SUBMITTING}, token=gen.lease_token)
        return
    if db_now() + timedelta(seconds=delay) >= gen.deadline_at:  # a provider that is down: wait, not forever
        reason = f"{exc.message} The provider did not take the video before the deadline."
        generation_fail(gen.pk, reason=reason, detail=exc.body, statuses={S.SUBMITTING}, token=gen.lease_token)
        return
    if _advance(
        gen,
        S.SUBMITTING,
        status=S.QUEUED,
        error=exc.message,
        error_detail=exc.body,
        next_run_at=db_now() + timedelta(seconds=delay),
    ):
        schedule(submit_step(gen), gen.pk, key=str(gen.submit_attempts), delay=delay)


def _resolve_unknown_submit(gen: Generation, client: Client) -> None:
    """Never resend blindly: look the task up by our external id, or hand the row to an admin."""
    if not client.has_external_id:
        _advance(gen, S.SUBMITTING, status=S.NEEDS_ATTENTION, error=UNKNOWN_SUBMIT, next_run_at=None)
        return
    checkpoint("submit:lookup", gen)
    try:
        found = client.find_by_external_id(gen.external_id, spec=task_spec(gen))
    except ProviderError as exc:
        # A provider that is down answers the lookup with errors too: keep asking until the deadline (as a submit
        # would), then hand the row to an admin; a permanent refusal of the lookup goes to the admin at once.
        if db_now() >= gen.deadline_at or exc.permanent:
            _advance(gen, S.SUBMITTING, status=S.NEEDS_ATTENTION, error=UNKNOWN_SUBMIT, error_detail=exc.body)
            return
        delay = backoff(gen.submit_attempts, exc.retry_after)
        Generation.objects.filter(pk=gen.pk).update(submit_attempts=F("submit_attempts") + 1)
        if _advance(gen, S.SUBMITTING, error=exc.message, next_run_at=db_now() + timedelta(seconds=delay)):
            schedule(submit_step(gen), gen.pk, key=f"r{gen.submit_attempts}", delay=delay)
        return
    if found is not None:
        _mark_submitted(gen, found, first_poll=0)
        return
    if gen.submit_attempts >= MAX_SUBMIT_ATTEMPTS:
        _advance(gen, S.SUBMITTING, status=S.NEEDS_ATTENTION, error=UNKNOWN_SUBMIT)
        return
    # The provider has no task with our id, so the earlier request never arrived: sending is safe (and the
    # provider would refuse a second task with the same external id anyway).
    Generation.objects.filter(pk=gen.pk, lease_token=gen.lease_token).update(submit_attempts=F("submit_attempts") + 1)
    gen.refresh_from_db()
    _send(gen, client, resend=True)


# --- poll -----------------------------------------------------------------------------------------------------
def generation_poll(pk: uuid.UUID, client: Client | None = None) -> bool:
    """Ask the provider once how the task is doing, then reschedule, fetch, or fail + refund. False if the row
    was not ours to poll (not due, not polling, or another job holds it)."""
    gen = _claim(pk, Generation.POLLING, _lease("poll"), poll_count=F("poll_count") + 1)
    if gen is None:
        return False
    with _Heartbeat(gen):
        _poll(gen, client or client_for(gen.credential))
    return True


def polls_due(credential_id: int) -> int:
    """A poll round: ask one provider account about every task of its whose poll is due, on one kept-alive
    connection; each row is still claimed, polled and moved on alone (`generation_poll`), so every lease, fencing
    and money rule is the single poll's. One RQ job per account and second instead of one per poll: RQ's own
    bookkeeping was most of a worker's CPU per video. Returns how many were polled.

    A round takes at most ROUND_ROWS rows and stops starting polls after ROUND_SECONDS; what it leaves goes to a
    new round at once, which another worker may take."""
    started = time.monotonic()
    due = list(
        Generation.objects.filter(credential_id=credential_id, status__in=Generation.POLLING)
        .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=db_now() + EARLY))  # what _claim takes
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=db_now()))
        .order_by(F("next_run_at").asc(nulls_first=True))
        .values_list("pk", flat=True)[:ROUND_ROWS]
    )
    client: Client | None = None
    polled = 0
    try:
        for pk in due:
            if time.monotonic() - started > ROUND_SECONDS:
                break
            if client is None:
                client = client_for(ProviderCredential.objects.get(pk=credential_id))
            try:
                polled += generation_poll(pk, client)
            except JobTimeoutException:
                raise
            except Exception:  # one row's surprise must not hold the others back; its lease lapses, the sweep retries
                log.exception("poll of %s failed", pk)
    finally:  # also when the job's time limit cut the round off: the rows it did not reach are due now
        if polled < len(due) or len(due) == ROUND_ROWS:
            _follow_up(credential_id)
    return polled


def _follow_up(credential_id: int) -> None:
    """One follow-up round per account and second, however many rounds end in it: rounds never multiply. (A
    follow-up ending in the second it was made for takes the next second's key: its own is still taken.)"""
    second = int(time.time())
    current = get_current_job()
    if current is not None and current.id == f"poll_round-{credential_id}-more{second}":
        second += 1
    schedule("poll_round", credential_id, key=f"more{second}")


def poll_later(gen: Generation, delay: float) -> None:
    """Put the row in its account's poll round of the second its poll falls due (rows due in the same second share
    one job). The round runs at that whole second or after, never before, so it finds the row due."""
    at = math.ceil(time.time() + delay)
    schedule("poll_round", gen.credential_id, key=str(at), delay=max(at - time.time(), 0.0))


def _poll(gen: Generation, client: Client) -> None:
    # No deadline check before this call: a task may have finished just before its deadline (or an admin resumed
    # it long after), so the deadline only ever fails a video the provider has just said is not done.
    checkpoint("poll:call", gen)
    try:
        result = client.poll(gen.provider_task_id, spec=task_spec(gen))
    except ProviderError as exc:
        _note_credential_problem(gen, exc)
        if exc.kind == "not_found" and gen.poll_errors >= 3:
            generation_fail(
                gen.pk,
                reason="The provider no longer knows this task.",
                detail=exc.body,
                statuses=Generation.POLLING,
                token=gen.lease_token,
            )
            return
        if db_now() >= gen.deadline_at + DEADLINE_GRACE:  # the provider cannot be asked: an admin decides
            _advance(gen, gen.status, status=S.NEEDS_ATTENTION, error=UNREACHABLE, error_detail=exc.body)
            return
        delay = backoff(gen.poll_count, exc.retry_after)
        if _advance(
            gen,
            gen.status,
            error=exc.message,
            error_detail=exc.body,
            poll_errors=F("poll_errors") + 1,
            next_run_at=db_now() + timedelta(seconds=delay),
        ):
            poll_later(gen, delay)
        return
    now = db_now()
    # An answer ends a run of errors: only consecutive ones count (a "not found" after three of them fails the row).
    seen = {"provider_status": result.status[:64], "provider_response": result.raw, "error": "", "poll_errors": 0}
    if result.state == "succeeded":
        if _advance(
            gen,
            gen.status,
            status=S.DOWNLOADING,
            video_url=result.video_url,
            downloading_at=now,
            running_at=gen.running_at or now,
            next_run_at=now,
            **seen,
        ):
            schedule("fetch", gen.pk, key="0")
    elif result.state == "failed":
        generation_fail(
            gen.pk,
            reason=result.reason or "The provider could not make this video.",
            detail=str(result.raw)[:8000],
            statuses=Generation.POLLING,
            token=gen.lease_token,
        )
    elif now >= gen.deadline_at:  # the provider has just said it is not done, and time is up
        detail = str(result.raw)[:8000]
        generation_fail(
            gen.pk, reason=deadline_message(gen), detail=detail, statuses=Generation.POLLING, token=gen.lease_token
        )
    else:
        status = S.RUNNING if result.state == "running" else gen.status
        delay = next_poll_in(gen, now=now, fallback=backoff(gen.poll_count), retry_after=result.retry_after)
        if _advance(
            gen,
            gen.status,
            status=status,
            running_at=gen.running_at or (now if status == S.RUNNING else None),
            next_run_at=now + timedelta(seconds=delay),
            **seen,
        ):
            poll_later(gen, delay)


def generation_poll_soon(gen: Generation) -> bool:
    """A provider callback arrived: poll now instead of at the scheduled time (at most one extra poll at once)."""
    now = db_now()
    # A second racing callback re-checks the row after the first one's update and finds it already due.
    moved = Generation.objects.filter(pk=gen.pk, status__in=Generation.POLLING, next_run_at__gt=now).update(
        next_run_at=now - timedelta(seconds=1), callbacks_received=F("callbacks_received") + 1
    )
    if moved:
        gen.refresh_from_db(fields=["poll_count"])
        schedule("poll", gen.pk, key=f"{gen.poll_count}cb")
    return bool(moved)


# --- fetch ----------------------------------------------------------------------------------------------------
def _tmp_dir() -> Path:
    path = Path(settings.MEDIA_ROOT).parent / "tmp" if not settings.AWS_STORAGE_BUCKET_NAME else None
    if path is None:
        return Path(tempfile.gettempdir())
    path.mkdir(parents=True, exist_ok=True)
    return path


def generation_fetch(pk: uuid.UUID) -> None:
    """Stream the provider's video into our storage, verify it, make a poster, then (and only then) mark ready."""
    gen = _claim(pk, {S.DOWNLOADING}, _lease("fetch"), fetch_attempts=F("fetch_attempts") + 1)
    if gen is None:
        return
    with _Heartbeat(gen):
        _fetch(gen)


def _fetch(gen: Generation) -> None:
    if not gen.video_url:  # a synchronous generation whose worker died mid-body: the bytes are gone
        _advance(
            gen,
            S.DOWNLOADING,
            status=S.NEEDS_ATTENTION,
            error="The video finished at the provider but its download was interrupted. An admin will check it.",
        )
        return
    with tempfile.NamedTemporaryFile(dir=_tmp_dir(), suffix=".mp4") as tmp:
        checkpoint("fetch:download", gen)
        try:
            got = download(
                gen.video_url,
                tmp,
                max_bytes=settings.VIDEO_MAX_BYTES,
                allowed_hosts=tuple(settings.FETCH_ALLOWED_HOSTS),
            )
            tmp.flush()
            _store(gen, Path(tmp.name), size=got.size, sha256=got.sha256)
        except (DownloadError, InvalidVideo) as exc:
            _fetch_failed(gen, exc)


def _fetch_failed(gen: Generation, exc: DownloadError | InvalidVideo) -> None:
    message = getattr(exc, "message", str(exc))
    permanent = getattr(exc, "permanent", False)
    if (permanent or gen.fetch_attempts >= MAX_FETCH_ATTEMPTS) and gen.spec.provider_info.synchronous:
        # The link came from a synchronous answer: the provider billed this video, so no silent refund (and no
        # resend). The link stays on the row for the admin.
        _advance(gen, S.DOWNLOADING, status=S.NEEDS_ATTENTION, error=PAID_LINK_FAILED, error_detail=message)
        return
    if permanent or gen.fetch_attempts >= MAX_FETCH_ATTEMPTS:
        reason = f"We could not download the finished video: {message}"
        generation_fail(gen.pk, reason=reason, statuses={S.DOWNLOADING}, token=gen.lease_token)
        return
    delay = backoff(gen.fetch_attempts)
    if _advance(gen, S.DOWNLOADING, error=message, next_run_at=db_now() + timedelta(seconds=delay)):
        schedule("fetch", gen.pk, key=str(gen.fetch_attempts), delay=delay)


def _store(gen: Generation, path: Path, *, size: int, sha256: str) -> None:
    """Probe, poster (and the card's extras), save them to storage, then flip to READY in one guarded update."""
    info = probe(path)
    poster_path = path.with_suffix(".jpg")
    made = card_media.Made()
    try:
        make_poster(path, poster_path)
        # extras: what fails is logged and left out, never raised
        made = card_media.make(path, poster_path, clip=settings.PREVIEW_CLIPS)
        # Keys unique to this claim: two fetches of one row (one of them stale) never write, and so never
        # delete, the same object, whatever the storage's own collision handling.
        tag = f"{sha256[:12]}-{gen.lease_token.hex[:8] if gen.lease_token else uuid.uuid4().hex[:8]}"
        checkpoint("fetch:store", gen)
        with path.open("rb") as fh:
            video_name = default_storage.save(f"videos/{gen.pk}/video-{tag}.mp4", File(fh))
        with poster_path.open("rb") as fh:
            poster_name = default_storage.save(f"videos/{gen.pk}/poster-{tag}.jpg", File(fh))
        extras = card_media.store(made, poster_name=poster_name, preview_name=f"videos/{gen.pk}/preview-{tag}.mp4")
        _make_durable(video_name, poster_name, *extras.names)
    finally:
        made.cleanup()
        with suppress(FileNotFoundError):
            poster_path.unlink()
    checkpoint("fetch:final", gen)
    with transaction.atomic():  # the webhooks' outbox rows commit with READY or not at all
        ready = _advance(
            gen,
            S.DOWNLOADING,
            status=S.READY,
            video=video_name,
            poster=poster_name,
            card_posters=extras.card_posters,
            preview=extras.preview,
            file_size=size,
            checksum=sha256,
            video_duration=round(info.duration, 3),
            width=info.width,
            height=info.height,
            has_audio=info.has_audio,
            finished_at=db_now(),
            next_run_at=None,
            error="",
        )
        if ready:
            events_record(gen)
    if not ready:  # this claim was lost (or an admin moved the row): these keys are ours alone, nobody else's
        for name in (video_name, poster_name, *extras.names):
            default_storage.delete(name)
    else:
        notify.notify_later(gen.pk)
        log.info("generation %s ready (%s bytes)", gen.pk, size)


def _make_durable(*names: str) -> None:
    """Local storage: the files and their directory entry reach the disk before READY is committed, so a power
    cut right after the commit cannot leave a ready video without its file. Object stores (S3) acknowledge a
    PUT only once it is durable."""
    try:
        paths = [Path(default_storage.path(name)) for name in names]
    except NotImplementedError:
        return
    for target in dict.fromkeys([*paths, *(p.parent for p in paths)]):
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _generate_sync(gen: Generation, client: Client) -> None:
    """Synchronous providers (Segmind v1): the answer to the submit is the video body itself."""
    with tempfile.NamedTemporaryFile(dir=_tmp_dir(), suffix=".mp4") as tmp:
        checkpoint("sync:call", gen)
        try:
            request = _request_or_fail(gen)
            if request is None:
                return
            with client.generate(request) as chunks:
                now = db_now()
                if not _advance(
                    gen,
                    S.SUBMITTING,
                    status=S.DOWNLOADING,
                    submitted_at=now,
                    running_at=now,
                    downloading_at=now,
                    lease_until=now + _lease("fetch"),
                ):
                    return
                checkpoint("sync:body", gen)
                got = _write_capped(chunks, tmp)
        except VideoAtLink as answer:
            _link_answered(gen, answer.url)
            return
        except SubmitOutcomeUnknown as exc:
            # Cut off before or while the body streamed: the provider may have made (and billed) the video.
            for state in (S.SUBMITTING, S.DOWNLOADING):
                if _advance(gen, state, status=S.NEEDS_ATTENTION, error=UNKNOWN_SUBMIT, error_detail=exc.body):
                    break
            return
        except ProviderError as exc:
            if gen.status == S.SUBMITTING and Generation.objects.filter(pk=gen.pk, status=S.SUBMITTING).exists():
                _submit_failed(gen, exc)
            else:
                _advance(gen, S.DOWNLOADING, status=S.NEEDS_ATTENTION, error=UNKNOWN_SUBMIT, error_detail=exc.body)
            return
        except DownloadError as exc:
            _advance(gen, S.DOWNLOADING, status=S.NEEDS_ATTENTION, error=UNKNOWN_SUBMIT, error_detail=exc.message)
            return
        gen.refresh_from_db()
        try:
            _store(gen, Path(tmp.name), size=got[0], sha256=got[1])
        except InvalidVideo as exc:
            reason = f"The provider sent something that is not a video: {exc}"
            generation_fail(gen.pk, reason=reason, statuses={S.DOWNLOADING}, token=gen.lease_token)


def _link_answered(gen: Generation, url: str) -> None:
    """The synchronous call answered with a link: the video is made and paid for; from here only the download
    (the fetch step, with its own retries) may be repeated, never the request."""
    now = db_now()
    if _advance(
        gen,
        S.SUBMITTING,
        status=S.DOWNLOADING,
        video_url=url,
        submitted_at=now,
        running_at=now,
        downloading_at=now,
        next_run_at=now,
        error="",
    ):
        schedule("fetch", gen.pk, key="0")


def _write_capped(chunks: Any, fileobj: Any) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        size += len(chunk)
        if size > settings.VIDEO_MAX_BYTES:
            raise DownloadError("The video is larger than this site accepts.", permanent=True, kind="too_large")
        digest.update(chunk)
        fileobj.write(chunk)
    fileobj.flush()
    return size, digest.hexdigest()

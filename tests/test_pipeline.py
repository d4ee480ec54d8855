"""The whole pipeline against the simulator over real HTTP, with real Redis queues and a real (in-process) worker.

Every test ends with the ledger audited: the balance equals the ledger and nothing was charged or refunded twice.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from generations.catalog import CATALOG
from generations.media import card_media
from generations.media.probe import probe
from generations.models import CreditAccount, CreditEntry, Generation, ProviderCredential
from generations.services.credits import credits_audit
from generations.services.recovery import generations_recover
from tests import factories
from tests.conftest import drive, run_jobs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("pipeline_settings")]
S = Generation.Status
SIZES = {
    ("std", "16:9"): (1280, 720),
    ("std", "9:16"): (720, 1280),
    ("std", "1:1"): (720, 720),
    ("pro", "16:9"): (1920, 1080),
    ("pro", "9:16"): (1080, 1920),
    ("pro", "1:1"): (1080, 1080),
}
PROTOCOLS = [
    "mulerun:kling-v2.5-turbo",
    "aimlapi:klingai/v2.5-turbo/pro/text-to-video",
    "kling:kling-v2-5-turbo",
    "powertokens:kling-v2-5-turbo",
    "segmind:kling-2.5-turbo",
]


@pytest.fixture
def pipeline_settings(settings, media_root, fast_polls, sim_credentials, sim):
    settings.PROVIDER_READ_TIMEOUT = 1.0
    settings.PROVIDER_SYNC_READ_TIMEOUT = 3.0
    yield
    assert credits_audit() == []


def _params(model: str, **extra):
    spec = CATALOG[model]
    params = {
        "prompt": "A paper boat drifts down a rain gutter",
        "mode": spec.modes[0],
        "duration": "5",
        "aspect_ratio": "9:16",
    }
    params.update(extra)
    return params


def _charged_once_and_kept(alice, gen):
    assert CreditAccount.balance_of(alice) == 500 - gen.cost
    assert list(CreditEntry.objects.filter(generation=gen).values_list("kind", flat=True)) == ["charge"]


def _refunded_once(alice, gen):
    assert CreditAccount.balance_of(alice) == 500
    kinds = sorted(CreditEntry.objects.filter(generation=gen).values_list("kind", flat=True))
    assert kinds == ["charge", "refund"]


@pytest.mark.parametrize("model", list(CATALOG))
def test_every_catalog_model_goes_from_queued_to_ready_with_a_playable_stored_video(alice, model):
    spec = CATALOG[model]
    extra = {"sound": "on", "mode": "pro" if "pro" in spec.modes else spec.modes[0]} if spec.sound else {}
    gen = factories.create(alice, model, **_params(model, **extra))
    assert gen.status == S.QUEUED
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    assert default_storage.exists(gen.video.name) and default_storage.exists(gen.poster.name)
    with default_storage.open(gen.video.name) as fh:
        info = probe(fh.name)
    assert abs(info.duration - 5) < 0.5
    assert (info.width, info.height) == SIZES[(gen.mode, "9:16")]
    assert info.has_audio == bool(extra)
    assert (gen.width, gen.height, gen.has_audio) == (info.width, info.height, info.has_audio)
    assert gen.file_size == default_storage.size(gen.video.name) and len(gen.checksum) == 64
    assert gen.finished_at and gen.submitted_at
    assert gen.video_url.startswith("http") or spec.provider_info.synchronous  # v1's answer is the video itself
    _charged_once_and_kept(alice, gen)


@pytest.mark.parametrize("model", PROTOCOLS)
@pytest.mark.parametrize(
    "marker",
    [
        "create:429x1",
        "create:503x2",
        "poll:500x2",
        "poll:502x1",
        "poll:resetx1",
        "poll:malformedx2",
        "poll:slowx1",
        "download:truncatedx1",
    ],
)
def test_transient_faults_end_ready_and_charged_once(alice, model, marker):
    gen = factories.create(alice, model, **_params(model, prompt=f"A lighthouse in a storm [sim:{marker}]"))
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    _charged_once_and_kept(alice, gen)


@pytest.mark.parametrize("model", PROTOCOLS)
@pytest.mark.parametrize(
    ("marker", "reason"),
    [
        ("moderation", ""),
        ("create:auth", ""),
        ("create:no_credit", ""),
        ("download:wrong_type", "could not download"),
        ("download:expired", "could not download"),
        ("download:oversize", "could not download"),
    ],
)
def test_permanent_faults_end_failed_and_refunded_exactly_once(alice, model, marker, reason, settings):
    settings.VIDEO_MAX_BYTES = 50 * 1024 * 1024
    gen = factories.create(alice, model, **_params(model, prompt=f"A lighthouse in a storm [sim:{marker}]"))
    (gen,) = drive(gen)
    assert gen.status == S.FAILED
    assert reason.lower() in gen.error.lower()
    assert gen.error and "sim-" not in gen.error  # a readable sentence, never a key
    _refunded_once(alice, gen)
    if marker in ("create:auth", "create:no_credit"):  # the admin sees the account problem at once
        assert ProviderCredential.objects.get(pk=gen.credential_id).last_error


def test_a_task_that_never_finishes_fails_at_its_deadline_and_is_refunded(alice, settings):
    settings.GENERATION_DEADLINE_SECONDS = 2
    gen = factories.create(alice, **_params("mulerun:kling-v2.5-turbo", prompt="Endless [sim:never]"))
    (gen,) = drive(gen, timeout=30)
    assert gen.status == S.FAILED
    assert "did not finish" in gen.error
    assert gen.poll_count >= 2
    _refunded_once(alice, gen)


@pytest.mark.parametrize(
    "model",
    [
        "mulerun:kling-v2.5-turbo",
        "aimlapi:klingai/v2.5-turbo/pro/text-to-video",
        "segmind:kling-2.5-turbo",
        "segmind_v1:kling-2.5-turbo",
    ],
)
@pytest.mark.parametrize("marker", ["create:submit_timeout", "create:reset", "create:slow"])
def test_an_ambiguous_submit_without_an_idempotency_key_is_never_resent(alice, model, marker):
    gen = factories.create(alice, model, **_params(model, prompt=f"Ambiguous [sim:{marker}]"))
    (gen,) = drive(gen)
    assert gen.status == S.NEEDS_ATTENTION
    assert "could not tell" in gen.error
    assert gen.submit_attempts == 1
    _charged_once_and_kept(alice, gen)  # no refund yet: an admin decides (the provider may have made it)
    run_jobs()
    generations_recover()
    run_jobs()
    gen.refresh_from_db()
    assert gen.status == S.NEEDS_ATTENTION and gen.submit_attempts == 1


# Kling only: a new-api gateway (PowerTokens) cannot look a task up by our id, so there the generation goes to an
# admin instead (tests/test_pipeline_provider_answers.py).
@pytest.mark.parametrize("model", ["kling:kling-v2-5-turbo"])
@pytest.mark.parametrize("marker", ["create:submit_timeout", "create:resetx1", "create:slowx1"])
def test_an_ambiguous_submit_is_resolved_through_our_external_task_id(alice, model, marker, sim):
    gen = factories.create(alice, model, **_params(model, prompt=f"Ambiguous [sim:{marker}]"))
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    # Looked up by our external id first: resent only when the provider had no such task, so it made one video.
    assert [t.external_id for t in sim.tasks()].count(gen.external_id) == 1
    _charged_once_and_kept(alice, gen)


def test_admin_resolves_needs_attention_by_attaching_the_task_id(alice, admin_user, sim):
    from generations.services.manage import generation_resume

    gen = factories.create(
        alice, **_params("mulerun:kling-v2.5-turbo", prompt="Lost answer [sim:create:submit_timeout]")
    )
    (gen,) = drive(gen)
    assert gen.status == S.NEEDS_ATTENTION
    task = next(t for t in sim.tasks() if "Lost answer" in t.prompt)
    generation_resume(generation=gen, actor=admin_user, task_id=task.id)
    (gen,) = drive(gen)
    assert gen.status == S.READY
    _charged_once_and_kept(alice, gen)


def test_cancel_while_queued_refunds_in_full(alice):
    from generations.services.manage import ActionRefused, generation_cancel

    gen = factories.create(alice, **_params("mulerun:kling-v2.5-turbo"))
    generation_cancel(generation=gen, actor=alice)
    gen.refresh_from_db()
    assert gen.status == S.CANCELED
    _refunded_once(alice, gen)
    run_jobs()  # the submit job finds nothing to do
    gen.refresh_from_db()
    assert gen.status == S.CANCELED and gen.submit_attempts == 0
    with pytest.raises(ActionRefused):
        generation_cancel(generation=gen, actor=alice)


def test_a_job_that_runs_twice_changes_nothing_the_second_time(alice):
    from generations.services import pipeline

    gen = factories.create(alice, **_params("mulerun:kling-v2.5-turbo"))
    (gen,) = drive(gen)
    before = (gen.status, gen.submit_attempts, gen.poll_count, gen.fetch_attempts, gen.video.name)
    pipeline.generation_submit(gen.pk)
    pipeline.generation_poll(gen.pk)
    pipeline.generation_fetch(gen.pk)
    gen.refresh_from_db()
    assert (gen.status, gen.submit_attempts, gen.poll_count, gen.fetch_attempts, gen.video.name) == before
    _charged_once_and_kept(alice, gen)


def test_the_sweep_requeues_work_lost_with_a_redis_flush(alice):
    import django_rq

    gens = [factories.create(alice, **_params("mulerun:kling-v2.5-turbo")) for _ in range(3)]
    django_rq.get_connection("default").flushdb()  # every queued submit job is gone
    Generation.objects.update(next_run_at=timezone.now() - timedelta(minutes=5))
    assert set(generations_recover().elements()) == {"queued"}
    gens = drive(*gens)
    assert {g.status for g in gens} == {S.READY}


def test_the_sweep_fails_and_refunds_rows_past_their_deadline(alice):
    gen = factories.create(alice, **_params("mulerun:kling-v2.5-turbo"))
    Generation.objects.filter(pk=gen.pk).update(
        deadline_at=timezone.now() - timedelta(seconds=1), next_run_at=timezone.now() - timedelta(minutes=5)
    )
    assert generations_recover()["failed_deadline"] == 1
    gen.refresh_from_db()
    assert gen.status == S.FAILED
    _refunded_once(alice, gen)


def test_polling_backs_off_and_honours_retry_after(settings):
    from generations.services.pipeline import backoff

    settings.POLL_FIRST_SECONDS, settings.POLL_MAX_SECONDS = 5, 60
    delays = [backoff(n) for n in range(1, 9)]
    assert 4 <= delays[0] <= 6 and all(d <= 72 for d in delays)
    assert delays[-1] >= 48  # capped at 60 ± 20 %
    assert backoff(1, retry_after=30) >= 30
    assert len({backoff(3) for _ in range(20)}) > 1  # jittered: pollers do not move in lockstep


def test_with_s3_storage_the_video_lands_in_the_bucket_and_members_get_a_presigned_url(
    alice, client, s3_default_storage, settings
):
    from urllib.parse import parse_qs, urlsplit

    import httpx

    settings.MEDIA_URL_EXPIRE_SECONDS = 120
    gen = factories.create(alice, **_params("mulerun:kling-v2.5-turbo"))
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    assert s3_default_storage.exists(gen.video.name) and s3_default_storage.exists(gen.poster.name)
    client.force_login(alice)
    response = client.get(f"/videos/{gen.pk}/video.mp4")
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["X-Amz-Expires"] == ["120"]
    body = httpx.get(response["Location"]).content
    assert len(body) == gen.file_size and body[4:8] == b"ftyp"


def test_a_ready_video_has_card_posters_and_a_short_preview_clip(alice, settings):
    settings.PREVIEW_CLIPS = True  # off in tests/settings.py, where thousands of fetches would each encode one
    gen = factories.create(alice, "mulerun:kling-v2.5-turbo", **_params("mulerun:kling-v2.5-turbo"))
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    assert gen.card_posters and gen.preview
    for width in card_media.CARD_WIDTHS:
        for ext, kind in (("webp", "WEBP"), ("jpg", "JPEG")):
            name = card_media.card_poster_name(gen.poster.name, width, ext)
            with default_storage.open(name) as fh, Image.open(fh) as picture:  # portrait: as tall as the 16:9 frame
                assert picture.format == kind and picture.height == width * 9 // 16, (width, ext, picture.size)
    with default_storage.open(gen.preview.name) as fh:
        clip = probe(fh.name)
    assert (clip.width, clip.height) == (360, 640) and not clip.has_audio  # a 720 x 1280 video, at 360p
    assert clip.duration <= card_media.CLIP_SECONDS + 0.1
    assert default_storage.size(gen.preview.name) < default_storage.size(gen.video.name) / 4


def test_a_failed_clip_or_poster_copy_never_keeps_a_video_from_being_ready(alice, monkeypatch, caplog, settings):
    settings.PREVIEW_CLIPS = True
    def fails(*args, **kwargs):
        raise OSError("ffmpeg and Pillow had a bad day")

    monkeypatch.setattr(card_media, "make_clip", fails)
    monkeypatch.setattr(card_media, "make_card_posters", fails)
    gen = factories.create(alice, "mulerun:kling-v2.5-turbo", **_params("mulerun:kling-v2.5-turbo"))
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    assert default_storage.exists(gen.video.name) and default_storage.exists(gen.poster.name)
    assert (gen.card_posters, gen.preview.name) == (False, "")  # the card shows the full poster and no preview
    assert sorted(default_storage.listdir(f"videos/{gen.pk}")[1]) == sorted(
        n.rsplit("/", 1)[1] for n in (gen.video.name, gen.poster.name)
    )
    assert "preview clip" in caplog.text and "card posters" in caplog.text
    _charged_once_and_kept(alice, gen)

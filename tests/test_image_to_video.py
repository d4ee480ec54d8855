"""A video from an uploaded start image, end to end over real HTTP on every protocol that takes one: the site sends
the picture as the provider takes it (raw base64 to Kling and PowerTokens, a signed link on our site to the
others), the simulated provider decodes or fetches it, and the first frame of the stored video is that picture."""

from __future__ import annotations

import io
from typing import Any

import av
import pytest
from PIL import Image, ImageStat

from generations.catalog import CATALOG
from generations.media import images
from generations.models import Generation
from generations.simulator import Simulator
from tests import factories
from tests.conftest import drive
from tests.fixtures_simulator import client_for, make_request, png, poll_until_done

pytestmark = pytest.mark.django_db(transaction=True)
S = Generation.Status
RED, BLUE, GREEN = (200, 30, 40), (30, 60, 200), (20, 170, 60)
TOLERANCE = 30  # per channel, after yuv420p and the encoder


@pytest.fixture
def site(settings: Any, media_root: Any, fast_polls: None, sim_credentials: Any, sim: Simulator, live_server: Any):
    """Providers that fetch a picture fetch it from this (live) site, as they would from PUBLIC_BASE_URL."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.PROVIDER_READ_TIMEOUT = 2.0
    settings.PROVIDER_SYNC_READ_TIMEOUT = 5.0
    return live_server


def stored(owner: Any, size: tuple[int, int] = (640, 360), colours: tuple[tuple[int, int, int], ...] = (RED, BLUE)):
    name = images.store_upload(images.check_image(io.BytesIO(png(size, colours))), owner_id=owner.pk)
    return images.STORED + name


def first_frame(gen: Generation) -> Image.Image:
    with gen.video.open("rb") as fh, av.open(fh) as container:
        return next(container.decode(video=0)).to_image()


def mean(image: Image.Image, box: tuple[float, float, float, float]) -> tuple[float, ...]:
    w, h = image.size
    region = image.crop((int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)))
    return tuple(ImageStat.Stat(region).mean)


def close(got: tuple[float, ...], want: tuple[int, int, int]) -> bool:
    return all(abs(g - w) <= TOLERANCE for g, w in zip(got, want, strict=True))


CASES = [
    # (catalog key, form values): Kling-protocol accounts get base64, the others our signed link.
    ("kling:kling-v2-5-turbo", {"mode": "std"}),
    ("powertokens:kling-v2-5-turbo", {"mode": "pro"}),
    ("mulerun:kling-v2.5-turbo", {"mode": "std"}),
    ("mulerun:kling-v2.6", {"mode": "pro", "sound": True}),
    ("aimlapi:klingai/v2.5-turbo/pro/text-to-video", {"mode": "pro"}),
    ("aimlapi:klingai/video-v2-6-pro-text-to-video", {"mode": "pro", "sound": False}),
    ("segmind:kling-2.5-turbo", {"mode": "pro"}),
    ("segmind_v1:kling-2.5-turbo", {"mode": "pro"}),
]


@pytest.mark.parametrize(("model", "form"), CASES, ids=[c[0] for c in CASES])
def test_a_video_from_an_uploaded_start_image_begins_with_that_picture(
    alice: Any, site: Any, sim: Simulator, model: str, form: dict[str, Any]
) -> None:
    prompt = f"The flag waves ({model})"
    gen = factories.create(alice, model, prompt=prompt, duration="5", image_url=stored(alice), **form)
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    frame = first_frame(gen)
    assert frame.size == ((1280, 720) if gen.mode == "std" else (1920, 1080))  # the picture's 16:9 shape
    assert close(mean(frame, (0.1, 0.2, 0.4, 0.8)), RED), mean(frame, (0.1, 0.2, 0.4, 0.8))
    assert close(mean(frame, (0.6, 0.2, 0.9, 0.8)), BLUE), mean(frame, (0.6, 0.2, 0.9, 0.8))
    task = next(t for t in sim.tasks() if t.prompt == prompt)
    assert task.picture  # the simulator rendered this video from a picture it decoded or fetched
    sent = task.request.get("image") or task.request.get("image_url")
    if CATALOG[model].provider in images.BASE64_PROVIDERS:
        assert not sent.startswith(("http", "data:"))  # raw base64, as Kling documents
    else:
        assert sent.startswith(site.url + "/img/")  # our signed, expiring link


def test_the_video_takes_the_shape_of_a_portrait_picture_and_an_end_frame_in_pro(alice: Any, site: Any) -> None:
    start = stored(alice, (360, 640), (GREEN,))
    end = stored(alice, (360, 640), (BLUE,))
    gen = factories.create(
        alice, "kling:kling-v2-6", prompt="A door opens", mode="pro", image_url=start, tail_image_url=end
    )
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    frame = first_frame(gen)
    assert frame.size == (1080, 1920)
    assert close(mean(frame, (0.2, 0.2, 0.8, 0.8)), GREEN)
    assert not gen.has_audio  # Kling makes a video with an end frame on kling-v2-6 silent


def test_a_text_video_first_frame_is_not_a_picture(alice: Any, site: Any) -> None:
    """The comparison above can fail: without a start image the first frame is the plain dark render."""
    gen = factories.create(alice, "kling:kling-v2-5-turbo", prompt="The flag waves", mode="std")
    (gen,) = drive(gen)
    assert gen.status == S.READY, gen.error
    assert not close(mean(first_frame(gen), (0.1, 0.2, 0.4, 0.8)), RED)


@pytest.mark.parametrize("provider", ["kling", "powertokens"])
def test_a_task_is_polled_on_the_route_of_its_own_kind(sim: Simulator, picture_server: str, provider: str) -> None:
    """Kling's image2video task is created and queried on /image2video; the text2video route does not know it."""
    spec = CATALOG[f"{provider}:kling-v2-5-turbo"]
    client = client_for(sim, provider)
    request = make_request(spec, mode="pro", image_url=f"{picture_server}/start.png")
    task_id = client.submit(request).task_id
    assert poll_until_done(client, task_id, spec.for_image_task()).state == "succeeded"
    with pytest.raises(Exception) as wrong:
        client.poll(task_id, spec=spec)
    assert getattr(wrong.value, "kind", "") == "not_found"

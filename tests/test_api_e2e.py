"""A script's whole journey through the API against the simulator: register a webhook, create a video, get the
signed "ready" POST, download the video (whole and by range), and the file probes as the video it should be."""

from __future__ import annotations

import pytest

from generations.api.tokens import token_create
from generations.media.probe import probe
from generations.models import Generation
from tests.conftest import drive, run_jobs
from tests.test_api import Api
from tests.test_webhooks import pipeline, readme_verify, receiver  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_then_webhook_then_download_then_probe(alice, receiver, readme_verify, pipeline, tmp_path) -> None:  # noqa: F811
    api = Api(token_create(user=alice, name="render farm", scope="write")[1])
    hook = api.post("/webhooks", {"url": receiver.url, "events": ["generation.ready"]})
    assert hook.status_code == 201, hook.content
    secret = hook.json()["secret"]
    assert "secret" not in api.get("/webhooks").json()[0]  # shown once

    body = {"model": "kling-2-5-turbo", "prompt": "A paper boat drifts down a rain gutter", "aspect_ratio": "9:16"}
    created = api.post("/generations", body, key="boat-1")
    assert created.status_code == 201, created.content
    (gen,) = drive(Generation.objects.get(pk=created.json()["id"]))
    assert gen.status == Generation.Status.READY, gen.error
    run_jobs()  # the webhook delivery job

    (request,) = receiver.requests
    assert readme_verify(secret, request["headers"], request["body"])
    told = receiver.bodies()[0]
    assert told["type"] == "generation.ready" and told["data"]["id"] == str(gen.pk)

    shown = api.get(f"/generations/{gen.pk}").json()
    assert shown["status"] == "ready" and shown["video"]["url"].endswith(f"/generations/{gen.pk}/video")
    whole = api.client.get(shown["video"]["url"])
    assert whole.status_code == 200 and whole["Content-Type"] == "video/mp4"
    data = b"".join(whole.streaming_content)
    assert len(data) == shown["video"]["size"]
    part = api.client.get(shown["video"]["url"], HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and b"".join(part.streaming_content) == data[100:200]
    path = tmp_path / "boat.mp4"
    path.write_bytes(data)
    info = probe(path)
    assert (info.width, info.height) == (shown["video"]["width"], shown["video"]["height"])
    assert info.height > info.width  # 9:16, as asked
    assert abs(info.duration - shown["video"]["duration"]) < 0.5
    poster = api.client.get(shown["video"]["poster_url"])
    assert poster.status_code == 200 and poster["Content-Type"] == "image/jpeg"
    ledger = api.get("/ledger").json()["items"]
    assert [e["kind"] for e in ledger][:1] == ["charge"] and ledger[0]["generation"] == str(gen.pk)

"""A card's poster copies and preview clip (generations/media/card_media.py), and how views/files.py serves them:
to people who may see the video only, cached a year at a versioned URL, and the full poster for older videos."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from generations.media import card_media
from generations.models import Generation
from generations.services.manage import generation_delete

pytestmark = pytest.mark.django_db
YEAR = "private, max-age=31536000, immutable"


def _get(client: Client, url: str, **headers: str) -> Any:
    response = client.get(url, headers=headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def test_card_posters_are_small_webp_or_jpeg_cached_a_year_at_their_version(
    alice: Any, alice_client: Client, ready_video: Any
) -> None:
    gen = ready_video(alice, size=(640, 360), prompt="A kite over the dunes")
    v = card_media.version(gen.poster.name)
    _full, poster = _get(alice_client, f"/videos/{gen.pk}/poster.jpg")
    for width in card_media.CARD_WIDTHS:
        for ext, kind in card_media.CARD_FORMATS.items():
            response, body = _get(alice_client, f"/videos/{gen.pk}/poster-{width}.{ext}?v={v}")
            assert response.status_code == 200 and response["Content-Type"] == kind
            assert response["Cache-Control"] == YEAR
            assert len(body) < len(poster) or width == 640  # the 640 copy of a 640 px poster is no smaller
    stale, _ = _get(alice_client, f"/videos/{gen.pk}/poster-320.webp?v=old")
    assert stale["Cache-Control"] == "private"  # another version's URL: revalidated, never kept a year


def test_the_preview_is_the_short_clip_cached_a_year_with_ranges(
    alice: Any, alice_client: Client, ready_video: Any
) -> None:
    gen = ready_video(alice, size=(640, 360))
    url = f"/videos/{gen.pk}/preview.mp4?v={card_media.version(gen.preview.name)}"
    response, body = _get(alice_client, url, Range="bytes=0-99")
    assert response.status_code == 206 and len(body) == 100 and body[4:8] == b"ftyp"
    assert response["Content-Type"] == "video/mp4" and response["Cache-Control"] == YEAR
    assert gen.preview.size < gen.video.size


def test_a_video_without_card_media_gets_the_full_poster_and_no_preview(
    alice: Any, alice_client: Client, ready_video: Any
) -> None:
    gen = ready_video(alice, card_media=False)
    response, body = _get(alice_client, f"/videos/{gen.pk}/poster-320.webp")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"  # never a broken image
    assert body == gen.poster.read()
    assert alice_client.get(f"/videos/{gen.pk}/preview.mp4").status_code == 404
    assert alice_client.get(f"/videos/{gen.pk}/poster-100.webp").status_code == 404
    assert alice_client.get(f"/videos/{gen.pk}/poster-320.png").status_code == 404


def test_only_people_who_may_see_the_video_get_its_card_media(
    alice: Any, bob_client: Client, charlie_client: Client, ready_video: Any
) -> None:
    gen = ready_video(alice, visibility=Generation.Visibility.PRIVATE)
    v = card_media.version(gen.poster.name)
    for url in (f"/videos/{gen.pk}/poster-320.webp?v={v}", f"/videos/{gen.pk}/preview.mp4",
                f"/videos/{gen.pk}/poster.jpg?v={v}"):  # fmt: skip
        assert bob_client.get(url).status_code == 404, url
        assert charlie_client.get(url).status_code == 404, url
    assert Client().get(f"/videos/{gen.pk}/preview.mp4").status_code == 302  # to the login page


@pytest.mark.parametrize(
    ("size", "clip"),
    [((1920, 1080), (640, 360)), ((720, 1280), (360, 640)), ((1080, 1080), (360, 360)), ((320, 180), (320, 180))],
)
def test_clips_are_360p_and_never_enlarged(size: tuple[int, int], clip: tuple[int, int]) -> None:
    assert card_media.clip_size(*size) == clip


def test_deleting_a_video_removes_its_card_posters_and_clip(
    alice: Any, ready_video: Any, django_capture_on_commit_callbacks: Any
) -> None:
    gen = ready_video(alice)
    names = [gen.video.name, gen.poster.name, gen.preview.name, *card_media.card_poster_names(gen.poster.name)]
    assert all(default_storage.exists(name) for name in names)
    with django_capture_on_commit_callbacks(execute=True):
        generation_delete(generation=gen, actor=alice)
    assert [name for name in names if default_storage.exists(name)] == []

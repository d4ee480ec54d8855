"""The shared gallery: what the team sees, filters, sort, pages, stars, and a query count that stays flat."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations.forms import GalleryFilterForm
from generations.media import card_media
from generations.models import Favorite, Generation, search_text_of
from generations.views.gallery import with_favorites

pytestmark = pytest.mark.django_db
S = Generation.Status


def titles(html: str) -> list[str]:
    return re.findall(r'<h2 class="tile-title"><a href="[^"]+"[^>]*>(.*?)</a>', html)


def gallery(client: Client, **params: Any) -> str:
    response = client.get("/", params)
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_the_teams_ready_videos_and_my_private_ones(
    alice: Any, bob: Any, alice_client: Client, bob_client: Client, credentials: Any, make_generation: Any
) -> None:
    make_generation(alice, prompt="Alice shared")
    make_generation(alice, prompt="Alice private", visibility="private")
    make_generation(bob, prompt="Bob shared")
    make_generation(bob, prompt="Bob private", visibility="private")
    make_generation(bob, prompt="Bob running", status=S.RUNNING)
    make_generation(bob, prompt="Bob failed", status=S.FAILED)
    make_generation(bob, prompt="Bob deleted", deleted_at=timezone.now())
    assert set(titles(gallery(alice_client))) == {"Alice shared", "Alice private", "Bob shared"}
    assert set(titles(gallery(bob_client))) == {"Alice shared", "Bob shared", "Bob private"}


def test_another_member_never_sees_a_private_video(
    alice: Any, charlie_client: Client, credentials: Any, make_generation: Any
) -> None:
    make_generation(alice, prompt="Secret plan", visibility="private")
    html = gallery(charlie_client, q="Secret")
    assert "Secret plan" not in html and "No videos match" in html


def test_cards_have_posters_previews_and_escaped_titles(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    gen = make_generation(alice, prompt="<script>alert('x')</script> sunrise")
    small = make_generation(alice, prompt="A kite", card_posters=True)
    Generation.objects.filter(pk=small.pk).update(preview=f"videos/{small.pk}/preview.mp4")
    html = gallery(alice_client)
    # Card-size posters, WebP with a JPEG fallback, at versioned URLs; the preview is the short clip.
    v = card_media.version(small.poster.name)
    assert (f'<source type="image/webp" srcset="/videos/{small.pk}/poster-320.webp?v={v} 320w, '
            f'/videos/{small.pk}/poster-640.webp?v={v} 640w"') in html  # fmt: skip
    assert f'src="/videos/{small.pk}/poster-320.jpg?v={v}" srcset="/videos/{small.pk}/poster-320.jpg?v={v} 320w' in html
    clip = f"/videos/{small.pk}/preview.mp4"
    assert f'data-preview="{clip}?v={card_media.version(clip.lstrip("/"))}"' in html
    # A video fetched before those existed: the full poster, and no preview rather than the full video.
    assert f'src="/videos/{gen.pk}/poster.jpg?v={card_media.version(gen.poster.name)}"' in html
    assert "video.mp4" not in html and html.count("data-preview=") == 1
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; sunrise" in html
    assert 'alt="&lt;script&gt;' in html
    assert "autoplay" not in html
    assert "js/cards.js" in html


def test_search_looks_inside_prompts(alice: Any, alice_client: Client, credentials: Any, make_generation: Any) -> None:
    make_generation(alice, prompt="A red FOX in snow")
    make_generation(alice, prompt="A blue whale")
    assert titles(gallery(alice_client, q="fox")) == ["A red FOX in snow"]


def test_filters_by_member_model_mode_duration_and_date(
    alice: Any, bob: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    old = timezone.now() - timedelta(days=10)
    make_generation(alice, prompt="a1", model="kling:kling-v3", credential=credentials["kling"], duration=7)
    make_generation(alice, prompt="a2", mode="pro")
    make_generation(bob, prompt="b1", created_at=old)
    make_generation(bob, prompt="b2", model="mulerun:kling-v3", created_at=old)  # the same model, another provider
    assert set(titles(gallery(alice_client, member=bob.pk))) == {"b1", "b2"}
    # Each model once in the filter, as on the New video form, whichever account made its videos.
    html = gallery(alice_client, model="kling-3")
    assert set(titles(html)) == {"a1", "b2"}
    select = re.search(r'<select name="model".*?</select>', html, re.S)[0]
    choices = re.findall(r"<option[^>]*>([^<]*)</option>", select)
    assert choices.count("Kling 3") == 1 and not [c for c in choices if "·" in c], choices
    assert titles(gallery(alice_client, mode="pro")) == ["a2"]
    assert titles(gallery(alice_client, duration=7)) == ["a1"]
    day = old.date().isoformat()
    assert set(titles(gallery(alice_client, date_from=day, date_to=day))) == {"b1", "b2"}
    assert set(titles(gallery(alice_client, date_from=(old + timedelta(days=1)).date().isoformat()))) == {"a1", "a2"}


def test_the_filter_form_follows_the_team_and_the_query(
    alice: Any, bob: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    """The form's HTML is cached (templatetags/filter_form.py): a new member, a renamed one, a chosen value show."""

    def members(html: str) -> list[str]:
        select = re.search(r'<select name="member".*?</select>', html, re.S)
        return re.findall(r"<option[^>]*>([^<]*)</option>", select.group(0)) if select else []

    make_generation(alice, prompt="a1")
    assert members(gallery(alice_client)) == ["Anyone", "Alice"]
    make_generation(bob, prompt="b1")
    assert members(gallery(alice_client)) == ["Anyone", "Alice", "Bob"]
    bob.first_name, bob.last_name = "Robert", "Jones"
    bob.save()
    html = gallery(alice_client, member=bob.pk, q="b1")
    assert members(html) == ["Anyone", "Alice", "Robert Jones"] and titles(html) == ["b1"]
    assert f'<option value="{bob.pk}" selected>' in html and 'value="b1"' in html
    html = gallery(alice_client, q="a1")
    assert 'value="a1"' in html and f'<option value="{bob.pk}" selected>' not in html


def test_bad_filter_values_are_ignored_not_a_crash(alice_client: Client, credentials: Any) -> None:
    html = gallery(alice_client, date_from="yesterday", duration="abc", member="99999", page="-3", sort="random")
    assert "Enter a valid date." in html


def test_favourites_only(
    alice: Any, bob: Any, bob_client: Client, credentials: Any, make_generation: Any
) -> None:
    starred = make_generation(alice, prompt="starred")
    make_generation(alice, prompt="plain")
    Favorite.objects.create(user=bob, generation=starred)
    Favorite.objects.create(user=alice, generation=Generation.objects.get(prompt="plain"))  # Alice's, not Bob's
    html = gallery(bob_client, favorites="on")
    assert titles(html) == ["starred"]
    assert 'aria-pressed="true"' in html


def test_sort_newest_or_oldest(alice: Any, alice_client: Client, credentials: Any, make_generation: Any) -> None:
    now = timezone.now()
    for i in range(3):
        make_generation(alice, prompt=f"v{i}", created_at=now - timedelta(hours=i))
    assert titles(gallery(alice_client)) == ["v0", "v1", "v2"]
    assert titles(gallery(alice_client, sort="oldest")) == ["v2", "v1", "v0"]


def test_pages_of_24(alice: Any, alice_client: Client, credentials: Any, make_generation: Any) -> None:
    for i in range(30):
        make_generation(alice, prompt=f"video {i:02d}")
    first = gallery(alice_client, q="video")
    second = gallery(alice_client, q="video", page=2)
    assert len(titles(first)) == 24 and len(titles(second)) == 6
    assert "?q=video&amp;page=2" in first and 'rel="prev"' not in first
    assert 'rel="next"' not in second and "?q=video&amp;page=1" in second
    assert not set(titles(first)) & set(titles(second))


def test_a_search_pages_with_previous_and_next_without_counting_its_matches(
    alice: Any, alice_client: Client, credentials: Any, make_generation: Any
) -> None:
    for i in range(30):
        make_generation(alice, prompt=f"video {i:02d}")
    assert "Page 1 of 2" in gallery(alice_client)
    first = gallery(alice_client, q="video")
    assert "Page 1<" in first and "Page 1 of" not in first and 'rel="next"' in first
    assert "Page 2 of 2" in gallery(alice_client, q="video", page=2)  # the last page: known without a count


def test_an_empty_gallery_invites_the_first_video(alice_client: Client, credentials: Any) -> None:
    assert "No videos yet." in gallery(alice_client)


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/", "/?favorites=on&q=video", "/videos/", "/videos/?status=ready"])
@pytest.mark.parametrize(("few", "many"), [(3, 24), (40, 120)])  # one page; several ("Page 1 of N", one count)
def test_the_query_count_does_not_grow_with_the_number_of_cards(
    alice: Any, bob: Any, alice_client: Client, credentials: Any, make_generation: Any, url: str, few: int, many: int
) -> None:
    def add(n: int) -> None:
        for i in range(n):
            gen = make_generation(alice if i % 3 else bob, prompt=f"video {i}")  # My videos: 2 in 3
            Favorite.objects.create(user=alice, generation=gen)

    add(few)
    queries_few = _queries(alice_client, url)
    add(many - few)
    queries_many = _queries(alice_client, url)
    html = alice_client.get(url).content.decode()
    assert html.count('class="tile"') >= 12
    assert queries_few == queries_many, f"{url}: {queries_few} queries for {few} videos, {queries_many} for {many}"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index exists on PostgreSQL only")
def test_search_has_a_trigram_index_on_postgresql(alice: Any, credentials: Any, make_generation: Any) -> None:
    """The index every search word can use (bench/pages_latency.py measures search at 100,000 videos)."""
    make_generation(alice, prompt="An old lighthouse whose lamp sweeps the fog")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'generation_search_trgm'")
        (definition,) = cursor.fetchone()
    assert "gin (search_text gin_trgm_ops)" in definition and "status" in definition
    qs = Generation.objects.for_gallery(alice).matching("LIGHTHOUSE lamp")
    assert [g.prompt for g in qs] == ["An old lighthouse whose lamp sweeps the fog"]


def copy(gen: Generation, **fields: Any) -> Generation:
    row = Generation(**{f.attname: getattr(gen, f.attname) for f in Generation._meta.concrete_fields})
    for name, value in fields.items():
        setattr(row, name, value)
    return row


@pytest.mark.skipif(connection.vendor != "postgresql", reason="EXPLAIN and the trigram index are PostgreSQL's")
def test_the_gallery_search_query_uses_the_trigram_index(alice: Any, credentials: Any, make_generation: Any) -> None:
    """The query the gallery runs for a rare word, as the view builds it, goes through the index. A lookup the
    index cannot answer (UPPER(...) LIKE, a filter outside the index's WHERE) walks every row instead.
    bench/pages_latency.py prints the plans at 100,000 videos."""
    template = make_generation(alice, prompt="A lighthouse at night")
    rows = []
    for i in range(2000):  # enough rows for the planner to tell a rare word's index from a walk through them all
        prompt = f"A lighthouse at night {i}" if i % 100 == 0 else f"A quiet meadow {i}"
        pk = uuid.uuid4()
        text = search_text_of(prompt, [])
        rows.append(copy(template, id=pk, external_id=f"ks-{pk.hex}", prompt=prompt, search_text=text))
    Generation.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE generations_generation")
    gallery_rows = with_favorites(Generation.objects.for_gallery(alice), alice)
    listing = GalleryFilterForm({"q": "Lighthouse"}).filter(gallery_rows)
    plans = [listing[:25].explain(), listing.order_by().values("pk")[:961].explain()]  # the page, its count
    for plan in plans:
        assert "generation_search_trgm" in plan, plan
    assert len(listing) == 21

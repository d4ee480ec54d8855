"""Page latency with a big table: the Gallery and My videos against a bare page through the same middleware.

    .venv/bin/python bench/pages_latency.py [--rows 100000] [--requests 40] [--keep]

Seeds N generations (90 % ready, most shared, 50 members, some starred) into a throwaway database: PostgreSQL
when DATABASE_URL points at one (a separate `<name>_pagebench` database), else a SQLite file under var/. Requests
go through Django's test Client (the whole middleware stack, sessions and CSP included); the pages take turns,
one request each per round, so a change of the machine's load weighs on all of them alike. Prints the median and
95th percentile of each page, its number of SQL queries, its multiple of the bare page and, where issue 17 sets
one, the target (Gallery and My videos <= 2x the bare page, search <= 3x); on PostgreSQL, the EXPLAIN ANALYZE of
a search's page query and whether it uses the trigram index (a search counts no pages: views/gallery.py).
Figures move with the machine's load: compare the multiples, run when the machine is quiet.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import types
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils import timezone  # noqa: E402

BATCH = 5000
MEMBERS = 50
# (label, URL, target as a multiple of the bare page's median: issue 17; None = figures only)
PAGES = [
    ("bare page (base.html)", "/bare/", None),
    ("gallery, page 1", "/", 2),
    ("gallery, page 40", "/?page=40", None),
    ("gallery, one member + model", "/?member={member}&model=kling:kling-v3", None),
    ("gallery, favourites only", "/?favorites=on", None),
    ("gallery, search: rare word", "/?q=lighthouse", 3),
    ("gallery, search: common word", "/?q=forest", 3),
    ("gallery, search: 2 words, any order", "/?q=FOREST+lighthouse", None),
    ("gallery, search: no match", "/?q=zeppelin", None),
    ("my videos, page 1", "/videos/", 2),
    ("my videos, in progress", "/videos/?status=in_flight", None),
]
EXPLAINED = [("rare word", "lighthouse"), ("common word", "forest")]
# Prompt words: "forest" is in about a third of the prompts, "lighthouse" in 1 % (what most searches look like).
WORDS = ["red", "fox", "storm", "river", "city", "night", "neon", "rain", "desert", "ocean", "snow"]
WORDS += [f"word{i}" for i in range(300)]


def _prompt(rng: random.Random, i: int) -> str:
    words = rng.choices(WORDS, k=12)
    words += ["forest"] if rng.random() < 0.35 else []
    words += ["lighthouse"] if i % 100 == 0 else []
    return " ".join(words)


def bare(request):  # the baseline: same middleware, session, auth and top bar, no listing
    return render(request, "base.html", {})


def _urlconf() -> str:
    module = types.ModuleType("bench_pages_urls")
    module.urlpatterns = [path("bare/", bare), path("", include("kling_site.urls"))]
    sys.modules[module.__name__] = module
    return module.__name__


def _create_db(keep: bool) -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        db["TEST"]["NAME"] = str(ROOT / "var" / "bench-pages.sqlite3")
    else:
        db["TEST"]["NAME"] = f"{db['NAME']}_pagebench"
    return connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=keep)


def seed(rows: int) -> object:
    from generations.models import CreditAccount, Favorite, Generation
    from generations.services.demo import prices_seed
    from tests.fixtures_pages import make_credential

    users = get_user_model()
    if Generation.objects.count() >= rows:
        return users.objects.get(username="member0")
    prices_seed()
    members = [users(username=f"member{i}", first_name=f"Member {i}") for i in range(MEMBERS)]
    users.objects.bulk_create(members)
    members = list(users.objects.filter(username__startswith="member").order_by("pk"))
    CreditAccount.objects.bulk_create([CreditAccount(user=u, balance=1000) for u in members])
    creds = {p: make_credential(p) for p in ("mulerun", "kling")}
    models = [("mulerun:kling-v2.5-turbo", "mulerun"), ("mulerun:kling-v2.6", "mulerun"), ("kling:kling-v3", "kling")]
    rng = random.Random(7)
    now = timezone.now()
    S = Generation.Status
    in_flight = [S.QUEUED, S.SUBMITTED, S.RUNNING, S.DOWNLOADING]
    started = time.monotonic()
    for start in range(0, rows, BATCH):
        batch = []
        for i in range(start, min(start + BATCH, rows)):
            pk = uuid.uuid4()
            roll = rng.random()
            status = S.READY if roll < 0.9 else S.FAILED if roll < 0.96 else rng.choice(in_flight)
            model, provider = rng.choice(models)
            created = now - timedelta(minutes=rows - i)
            prompt = _prompt(rng, i)
            batch.append(Generation(
                id=pk, owner=rng.choice(members), credential=creds[provider], provider=provider, model=model,
                prompt=prompt, search_text=prompt.casefold(), mode=rng.choice(["std", "pro"]), aspect_ratio="16:9",
                duration=rng.choice([5, 10]), cost=10, status=status,
                visibility="private" if rng.random() < 0.15 else "team", external_id=f"ks-{pk.hex}",
                callback_secret=uuid.uuid4().hex, created_at=created, deadline_at=created + timedelta(minutes=30),
                finished_at=created + timedelta(seconds=rng.randint(60, 200)) if status == S.READY else None,
                video=f"videos/{pk}/video.mp4" if status == S.READY else "",
                poster=f"videos/{pk}/poster.jpg" if status == S.READY else "",
            ))  # fmt: skip
        Generation.objects.bulk_create(batch)
        print(f"\r  seeded {min(start + BATCH, rows):>7} / {rows}", end="", flush=True)
    me = members[0]
    ready = list(Generation.objects.filter(status=S.READY).values_list("pk", flat=True)[:2000:7])
    Favorite.objects.bulk_create([Favorite(user=me, generation_id=pk) for pk in ready])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"\r  seeded {rows} generations in {time.monotonic() - started:.1f} s")
    return me


def measure(client: Client, urls: list[str], n: int) -> list[tuple[float, float, int]]:
    """Median, p95 and queries of each URL. The pages take turns (one request each, n rounds), so a change in
    the machine's load while the bench runs weighs on every page alike, not on the pages measured then."""
    queries = []
    for url in urls:
        for _ in range(3):
            assert client.get(url).status_code == 200, url
        with CaptureQueriesContext(connection) as ctx:
            client.get(url)
        queries.append(len(ctx.captured_queries))  # now: the next request clears the log
    took: list[list[float]] = [[] for _ in urls]
    for _ in range(n):
        for url, times in zip(urls, took, strict=True):
            t = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200
    for times in took:
        times.sort()
    return [
        (statistics.median(times), times[max(int(len(times) * 0.95) - 1, 0)], count)
        for times, count in zip(took, queries, strict=True)
    ]


def explain_search(me: object) -> None:
    """The plan of a search's page query as the view builds it: which index it uses. (A search makes no count
    query: "Page N" with Previous and Next, views/gallery.py.)"""
    from generations.forms import GalleryFilterForm
    from generations.models import Generation
    from generations.views.gallery import CARD_FIELDS, PER_PAGE, with_favorites

    for label, word in EXPLAINED:
        qs = with_favorites(Generation.objects.for_gallery(me).only(*CARD_FIELDS), me)
        plan = GalleryFilterForm({"q": word}).filter(qs)[: PER_PAGE + 1].explain(analyze=True)
        index = "generation_search_trgm" if "generation_search_trgm" in plan else "not the trigram index"
        print(f"\nEXPLAIN ANALYZE, search for a {label} ({word!r}), page query: {index}")
        print("\n".join("  " + line for line in plan.splitlines()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", 100_000)))
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the seeded database")
    args = parser.parse_args()

    # Not setup_test_environment(): it instruments template rendering and would inflate every figure.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.ROOT_URLCONF = _urlconf()
    settings.DEBUG = False
    name = _create_db(args.keep)
    try:
        print(f"database: {connection.vendor} ({name})")
        me = seed(args.rows)
        client = Client()
        client.force_login(me, backend="django.contrib.auth.backends.ModelBackend")
        print(f"{'page':<36} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'x bare':>7}  target")
        figures = measure(client, [url.format(member=me.pk) for _label, url, _target in PAGES], args.requests)
        bare_ms = figures[0][0]
        for (label, _url, target), (median, p95, queries) in zip(PAGES, figures, strict=True):
            ratio = median / bare_ms
            verdict = f"<= {target}x bare: {'met' if ratio <= target else 'NOT met'}" if target else ""
            print(f"{label:<36} {median:>10.1f} {p95:>8.1f} {queries:>8} {ratio:>6.1f}x  {verdict}")
        if connection.vendor == "postgresql":
            explain_search(me)
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(name, verbosity=0)


if __name__ == "__main__":
    main()

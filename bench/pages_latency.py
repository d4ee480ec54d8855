"""Page latency with a big table: the Gallery and My videos against a bare page through the same middleware.

    .venv/bin/python bench/pages_latency.py [--rows 100000] [--requests 40] [--keep]

Seeds N generations (90 % ready, most shared, 50 members, some starred) into a throwaway database: PostgreSQL
when DATABASE_URL points at one (a separate `<name>_pagebench` database), else a SQLite file under var/. Requests
go through Django's test Client (the whole middleware stack, sessions and CSP included). Prints the median and
95th percentile of each page, and its number of SQL queries.
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
PAGES = [
    ("bare page (base.html)", "/bare/"),
    ("gallery, page 1", "/"),
    ("gallery, page 40", "/?page=40"),
    ("gallery, one member + model", "/?member={member}&model=kling:kling-v3"),
    ("gallery, favourites only", "/?favorites=on"),
    ("gallery, search: rare word", "/?q=lighthouse"),
    ("gallery, search: common word", "/?q=forest"),
    ("gallery, search: 2 words, any order", "/?q=FOREST+lighthouse"),
    ("gallery, search: no match", "/?q=zeppelin"),
    ("my videos, page 1", "/videos/"),
    ("my videos, in progress", "/videos/?status=in_flight"),
]
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


def measure(client: Client, url: str, n: int) -> tuple[float, float, int]:
    for _ in range(3):
        assert client.get(url).status_code == 200, url
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    queries = len(ctx.captured_queries)  # now: the next request clears the log
    took = []
    for _ in range(n):
        t = time.perf_counter()
        response = client.get(url)
        took.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200
    took.sort()
    return statistics.median(took), took[max(int(len(took) * 0.95) - 1, 0)], queries


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
        print(f"{'page':<32} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
        for label, url in PAGES:
            median, p95, queries = measure(client, url.format(member=me.pk), args.requests)
            print(f"{label:<32} {median:>10.1f} {p95:>8.1f} {queries:>8}")
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(name, verbosity=0)


if __name__ == "__main__":
    main()

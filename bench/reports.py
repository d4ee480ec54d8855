"""Usage reports on a big ledger: 1,000,000 CreditEntry rows and 100,000 generations over a year, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python bench/reports.py [--entries 1000000]
        [--generations 100000] [--repeat 5] [--keep]

Seeds a throwaway database (`<db>_reportbench`, dropped at the end unless --keep) with INSERT … SELECT FROM
generate_series, in seconds rather than minutes: 50 members, 4 provider accounts, the generations spread over the
last 365 days (85 % ready, 8 % failed, 3 % canceled), one charge per video, one refund per failed or canceled
video, and grants and adjustments up to the number of ledger rows asked for. The seeded ``balance_after`` values
are placeholders (the reports never read them); account balances are set to the sum of their ledger.

Prints, for each scenario (staff or member, range, filters): the median time of each of the report page's queries
(as the view runs them), the whole page through Django's test Client, the CSV export streamed to the end, and
which indexes PostgreSQL's plans use. Figures only: nothing here asserts a timing. Without PostgreSQL it says so
and exits 0 (SQLite is not what a team with a million ledger rows runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

MEMBERS = 50
# (provider, catalog key) of the four accounts; every video of an account is of its model.
ACCOUNTS = [
    ("mulerun", "mulerun:kling-v2.6"), ("mulerun", "mulerun:kling-v2.5-turbo"), ("kling", "kling:kling-v3"),
    ("segmind", "segmind:kling-2.6"),
]  # fmt: skip


def _create_db(keep: bool) -> str:
    db = connection.settings_dict
    db["TEST"]["NAME"] = f"{db['NAME']}_reportbench"
    return connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=keep)


def seed(entries: int, generations: int) -> None:
    from generations.models import CreditEntry, Generation

    if CreditEntry.objects.count() >= entries and Generation.objects.count() >= generations:
        return  # --keep: seeded by an earlier run (seeding is one transaction, so it is complete)
    started = time.monotonic()
    with transaction.atomic():
        _insert(entries, generations)
    with connection.cursor() as cursor:  # outside the transaction: VACUUM cannot run in one
        cursor.execute("VACUUM ANALYZE generations_creditentry")
        cursor.execute("VACUUM ANALYZE generations_generation")
    print(f"  seeded {CreditEntry.objects.count():,} ledger rows and {Generation.objects.count():,} generations "
          f"in {time.monotonic() - started:.1f} s")  # fmt: skip


def _insert(entries: int, generations: int) -> None:
    from generations.models import CreditAccount
    from tests.fixtures_pages import make_credential

    users = get_user_model()
    users.objects.bulk_create(
        [users(username=f"member{i}", first_name="Member", last_name=str(i)) for i in range(MEMBERS)]
    )
    members = list(users.objects.filter(username__startswith="member").order_by("pk").values_list("pk", flat=True))
    CreditAccount.objects.bulk_create([CreditAccount(user_id=pk) for pk in members])
    creds = [make_credential(provider, f"{provider} account {n}").pk for n, (provider, _m) in enumerate(ACCOUNTS)]
    params = {
        "n": generations, "members": members, "creds": creds, "providers": [p for p, _m in ACCOUNTS],
        "models": [m for _p, m in ACCOUNTS], "year": timedelta(days=365),
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")  # the same owners, accounts and outcomes on every run
        # Generations: the i-th one is created i/n of a year after a year ago; owner, account, outcome drawn.
        cursor.execute(
            """
            INSERT INTO generations_generation (
              id, owner_id, credential_id, provider, model, prompt, negative_prompt, mode, aspect_ratio, duration,
              sound, image_url, tail_image_url, multi_shot, shot_type, shots, watermark, cost, status, visibility,
              external_id, callback_secret, provider_task_id, provider_status, provider_response, error,
              error_detail, video_url, submit_attempts, poll_count, poll_errors, fetch_attempts, callbacks_received,
              deadline_at, created_at, updated_at, finished_at, video, poster, has_audio, checksum,
              account_chosen_by_member, route_log, search_text)
            SELECT md5('g' || i)::uuid, (%(members)s::int[])[1 + o], (%(creds)s::bigint[])[1 + a],
              (%(providers)s::text[])[1 + a], (%(models)s::text[])[1 + a], 'A prompt ' || i, '',
              CASE WHEN i %% 3 = 0 THEN 'pro' ELSE 'std' END, '16:9', 5, false, '', '', false, '', '[]', false,
              10 + (i %% 4) * 10, s, 'team', 'ks-' || md5('g' || i), md5('s' || i), '', '', '{}', '', '', '',
              1, 3, 0, 1, 0, t + interval '30 minutes', t, t,
              CASE WHEN s IN ('ready', 'failed', 'canceled')
                THEN t + (40 + (i * 7919) %% 560) * interval '1 second' END,
              CASE WHEN s = 'ready' THEN 'videos/' || i || '/video.mp4' ELSE '' END, '', false, '', false, '[]',
              'a prompt ' || i
            FROM (
              SELECT i, o, a, t, CASE WHEN r < .85 THEN 'ready' WHEN r < .93 THEN 'failed'
                WHEN r < .96 THEN 'canceled' WHEN r < .98 THEN 'needs_attention' ELSE 'running' END AS s
              FROM (
                SELECT i, floor(random() * 50)::int AS o, floor(random() * 4)::int AS a, random() AS r,
                  now() - %(year)s + (i::float / %(n)s) * %(year)s AS t
                FROM generate_series(1, %(n)s) AS i
              ) AS drawn
            ) AS g
            """,
            params,
        )
        # One charge per video, at its creation; one refund per failed or canceled video, when it finished.
        cursor.execute(
            """
            INSERT INTO generations_creditentry (account_id, kind, amount, balance_after, reason, generation_id,
              created_at)
            SELECT a.id, 'charge', -g.cost, 1000, 'Video: ' || g.prompt, g.id, g.created_at
            FROM generations_generation g JOIN generations_creditaccount a ON a.user_id = g.owner_id
            UNION ALL
            SELECT a.id, 'refund', g.cost, 1000, 'Refund: the provider failed', g.id, g.finished_at
            FROM generations_generation g JOIN generations_creditaccount a ON a.user_id = g.owner_id
            WHERE g.status IN ('failed', 'canceled')
            """
        )
        cursor.execute("SELECT count(*) FROM generations_creditentry")
        rest = max(entries - cursor.fetchone()[0], 0)
        # The rest: small grants (four in five) and adjustments either way, spread over the year.
        cursor.execute(
            """
            INSERT INTO generations_creditentry (account_id, kind, amount, balance_after, reason, created_at)
            SELECT (SELECT array_agg(id ORDER BY id) FROM generations_creditaccount)[1 + (i / 5) %% 50],
              CASE WHEN i %% 5 = 0 THEN 'adjustment' ELSE 'grant' END,
              CASE WHEN i %% 5 <> 0 THEN 5 WHEN i %% 2 = 0 THEN 3 ELSE -2 END, 1000, 'Top-up ' || i,
              now() - %(year)s + (i::float / %(rest)s) * %(year)s
            FROM generate_series(1, %(rest)s) AS i
            """,
            {"rest": rest, "year": timedelta(days=365)},
        )
        cursor.execute(
            """
            UPDATE generations_creditaccount a SET balance = s.total
            FROM (SELECT account_id, sum(amount) AS total FROM generations_creditentry GROUP BY account_id) s
            WHERE s.account_id = a.id
            """
        )


def timed(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm: plans and caches, as a page that has been opened before
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


def indexes_used(fn: Callable[[], Any]) -> list[str]:
    """The indexes in the plans of every query ``fn`` runs (EXPLAIN, not ANALYZE: nothing runs twice)."""
    with CaptureQueriesContext(connection) as ctx:
        fn()
    names: set[str] = set()
    with connection.cursor() as cursor:
        for query in ctx.captured_queries:
            cursor.execute("EXPLAIN (FORMAT JSON) " + query["sql"])
            names |= set(_walk(cursor.fetchone()[0][0]["Plan"]))
    return sorted(names)


def _walk(plan: dict[str, Any]) -> list[str]:
    found = [plan["Index Name"]] if "Index Name" in plan else []
    for child in plan.get("Plans", []):
        found += _walk(child)
    return found


def scenarios(staff: Any, member: Any) -> list[tuple[str, Any, str]]:
    today = timezone.localdate()
    year = f"date_from={today - timedelta(days=364)}"
    return [
        ("staff · everyone · last 30 days", staff, ""),
        ("staff · everyone · 365 days", staff, year),
        ("staff · everyone · 365 days · one model", staff, f"{year}&model={ACCOUNTS[2][1]}"),
        ("staff · one member · 365 days", staff, f"{year}&member={member.pk}"),
        ("member · own · last 30 days", member, ""),
        ("member · own · 365 days", member, year),
    ]


def measure(label: str, viewer: Any, query: str, repeat: int) -> None:
    from django.http import QueryDict

    from generations.reports import export, queries
    from generations.reports.forms import ReportFilterForm

    form = ReportFilterForm(QueryDict(query), viewer=viewer)
    assert form.is_valid(), form.errors
    f = form.filters()
    parts: list[tuple[str, Callable[[], Any]]] = [
        ("totals", lambda: queries.entries(f).aggregate(**queries.MONEY)),
        ("outcomes", lambda: queries.generations(f).aggregate(**queries.OUTCOMES)),
        ("time to ready", lambda: queries.time_to_ready(f)),
        ("timeline", lambda: queries.timeline(f)),
        ("by member", lambda: queries.by_member(f) if f.member is None else None),
        ("by model", lambda: queries.breakdown(f, "model")),
        ("by account", lambda: queries.breakdown(f, "credential")),
    ]
    client = Client()
    client.force_login(viewer, backend="django.contrib.auth.backends.ModelBackend")
    print(f"\n{label}  ({f.granularity}s, {f.start:%Y-%m-%d} to {f.end:%Y-%m-%d})")
    for name, fn in parts:
        print(f"  {name:<16} {timed(fn, repeat):>9.1f} ms   indexes: {', '.join(indexes_used(fn)) or '(none)'}")

    def page() -> None:
        assert client.get(f"/reports/?{query}").status_code == 200

    print(f"  {'whole page':<16} {timed(page, repeat):>9.1f} ms")
    lines: list[int] = []

    def csv_export() -> None:
        response = client.get(f"/reports/usage.csv?{query}")
        assert response.status_code == 200
        size = rows = 0
        for chunk in response.streaming_content:
            size += len(chunk)
            rows += 1
        lines[:] = [rows - 1, size]

    took = timed(csv_export, max(repeat // 2, 1))
    direct = timed(lambda: sum(1 for _ in export.usage_csv_lines(f)), max(repeat // 2, 1))
    print(f"  {'CSV export':<16} {took:>9.1f} ms   {lines[0]:,} rows, {lines[1] / 1024:,.0f} KiB "
          f"(rows from the database and CSV writing alone: {direct:.1f} ms)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=int(os.environ.get("BENCH_ENTRIES", 1_000_000)))
    parser.add_argument("--generations", type=int, default=int(os.environ.get("BENCH_GENERATIONS", 100_000)))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the seeded database")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        print("bench/reports.py: skipped, it needs PostgreSQL (DATABASE_URL=postgres://…)")
        return

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.DEBUG = False
    name = _create_db(args.keep)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            print(f"database: PostgreSQL {cursor.fetchone()[0]} ({name})")
        seed(args.entries, args.generations)
        staff, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_staff": True})
        member = get_user_model().objects.get(username="member0")
        for label, viewer, query in scenarios(staff, member):
            measure(label, viewer, query, args.repeat)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexrelname, pg_size_pretty(pg_relation_size(indexrelid)) FROM pg_stat_user_indexes "
                "WHERE indexrelname IN ('credit_entry_created', 'generation_created')"
            )
            sizes = ", ".join(f"{index} {size}" for index, size in cursor.fetchall())
        print(f"\nsize of the reports' own indexes: {sizes or '(none)'}")
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(name, verbosity=0)


if __name__ == "__main__":
    main()

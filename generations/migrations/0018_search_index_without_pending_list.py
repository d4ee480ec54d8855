"""Gallery search: the trigram index answers from the index alone, without a pending list to scan.

GIN's fastupdate keeps new rows in an unsorted pending list (up to 4 MB) until a vacuum merges it, and every search
reads that whole list: with 100,000 videos a search for a word nobody used took 9 ms instead of 0.04 ms
(bench/pages_latency.py). Videos are added one at a time, so paying the index update at insert costs nothing
anyone waits for. Other databases have no such index.
"""

from django.db import migrations


def fastupdate_off(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER INDEX IF EXISTS generation_search_trgm SET (fastupdate = off)")
        # Turning it off keeps what is already pending; merge that now.
        schema_editor.execute(
            "SELECT gin_clean_pending_list(c.oid) FROM pg_class c WHERE c.relname = 'generation_search_trgm'"
        )


def fastupdate_on(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER INDEX IF EXISTS generation_search_trgm RESET (fastupdate)")


class Migration(migrations.Migration):
    dependencies = [("generations", "0017_ready_kind_index")]
    operations = [migrations.RunPython(fastupdate_off, fastupdate_on)]

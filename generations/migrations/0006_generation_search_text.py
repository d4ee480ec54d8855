"""Gallery search: every word, any order, any case, in every prompt of a video (shot prompts included).

``search_text`` holds the casefolded prompts; on PostgreSQL a trigram GIN index on it (for the gallery's rows:
ready, not deleted) serves each word's ``LIKE '%word%'``. It replaces 0003's index on ``prompt`` alone.
Other databases scan, which is fine at the sizes they are used for.
"""

from django.db import migrations, models

BATCH = 2000


def backfill(apps, schema_editor):
    from generations.models import search_text_of

    Generation = apps.get_model("generations", "Generation")
    rows = Generation.objects.only("pk", "prompt", "shots").order_by("pk")
    batch = []
    for gen in rows.iterator(chunk_size=BATCH):
        gen.search_text = search_text_of(gen.prompt, gen.shots)
        batch.append(gen)
        if len(batch) >= BATCH:
            Generation.objects.bulk_update(batch, ["search_text"])
            batch = []
    if batch:
        Generation.objects.bulk_update(batch, ["search_text"])


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute("DROP INDEX IF EXISTS generation_prompt_trgm")
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS generation_search_trgm ON generations_generation "
            "USING gin (search_text gin_trgm_ops) WHERE status = 'ready' AND deleted_at IS NULL"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS generation_search_trgm")
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS generation_prompt_trgm ON generations_generation "
            "USING gin (prompt gin_trgm_ops) WHERE status = 'ready' AND deleted_at IS NULL"
        )


class Migration(migrations.Migration):
    dependencies = [("generations", "0005_callback_secret_index")]
    operations = [
        migrations.AddField(
            model_name="generation",
            name="search_text",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunPython(create_index, drop_index),
    ]

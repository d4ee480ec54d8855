"""Gallery search (`prompt ILIKE '%word%'`) uses a trigram index on PostgreSQL; other databases scan."""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS generation_prompt_trgm ON generations_generation "
            "USING gin (prompt gin_trgm_ops) WHERE status = 'ready' AND deleted_at IS NULL"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS generation_prompt_trgm")


class Migration(migrations.Migration):
    dependencies = [("generations", "0002_seed_prices")]
    operations = [migrations.RunPython(create, drop)]

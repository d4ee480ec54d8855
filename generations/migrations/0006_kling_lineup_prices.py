"""The whole Kling line-up (Kling 3 on MuleRun and AI/ML API, 4k on PowerTokens, Kling 2.6 on Segmind, older
models): a default price for every new (model, mode, duration, sound); existing prices are kept."""

import importlib

from django.db import migrations, models

seed = importlib.import_module("generations.migrations.0002_seed_prices").seed


def prune(apps, schema_editor):
    """Kling makes std videos on kling-v2-6 silent only: the std-with-sound prices 0002 seeded can never apply."""
    Price = apps.get_model("generations", "Price")
    Price.objects.filter(model="kling:kling-v2-6", mode="std", sound=True).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('generations', '0005_callback_secret_index'),
    ]

    operations = [
        migrations.AlterField(
            model_name='price',
            name='mode',
            field=models.CharField(choices=[('std', 'Standard · 720p'), ('pro', 'Professional · 1080p'), ('4k', '4K · 2160p')], max_length=8),
        ),
        migrations.AlterField(
            model_name='price',
            name='model',
            field=models.CharField(choices=[('mulerun:kling-v2.5-turbo', 'MuleRun · Kling 2.5 Turbo'), ('mulerun:kling-v2.6', 'MuleRun · Kling 2.6'), ('mulerun:kling-v3', 'MuleRun · Kling 3'), ('aimlapi:klingai/v2.5-turbo/pro/text-to-video', 'AI/ML API · Kling 2.5 Turbo Pro'), ('aimlapi:klingai/v2.1-master-text-to-video', 'AI/ML API · Kling 2.1 Master'), ('aimlapi:klingai/video-v2-6-pro-text-to-video', 'AI/ML API · Kling 2.6 Pro'), ('aimlapi:klingai/video-v3-standard-text-to-video', 'AI/ML API · Kling 3 Standard'), ('aimlapi:klingai/video-v3-pro-text-to-video', 'AI/ML API · Kling 3 Pro'), ('kling:kling-v1', 'Kling official API · Kling 1.0'), ('kling:kling-v1-6', 'Kling official API · Kling 1.6'), ('kling:kling-v2-1-master', 'Kling official API · Kling 2.1 Master'), ('kling:kling-v2-5-turbo', 'Kling official API · Kling 2.5 Turbo'), ('kling:kling-v2-6', 'Kling official API · Kling 2.6'), ('kling:kling-v3', 'Kling official API · Kling 3'), ('powertokens:kling-v2-1-master', 'PowerTokens (Kling-compatible) · Kling 2.1 Master'), ('powertokens:kling-v2-5-turbo', 'PowerTokens (Kling-compatible) · Kling 2.5 Turbo'), ('powertokens:kling-v3', 'PowerTokens (Kling-compatible) · Kling 3'), ('segmind:kling-2.5-turbo', 'Segmind (async v2) · Kling 2.5 Turbo'), ('segmind:kling-2.6', 'Segmind (async v2) · Kling 2.6'), ('segmind_v1:kling-2.5-turbo', 'Segmind (synchronous v1) · Kling 2.5 Turbo'), ('segmind_v1:kling-2.6', 'Segmind (synchronous v1) · Kling 2.6')], max_length=120),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunPython(prune, migrations.RunPython.noop),
    ]

"""Seed a default price for every (model, mode, duration, sound) in the catalog; admins edit them later."""

from django.db import migrations


def seed(apps, schema_editor):
    from generations import catalog

    Price = apps.get_model("generations", "Price")
    have = set(Price.objects.values_list("model", "mode", "duration", "sound"))
    Price.objects.bulk_create(
        [
            Price(model=key, mode=mode, duration=duration, sound=sound, credits=credits)
            for key, mode, duration, sound, credits in catalog.price_rows()
            if (key, mode, duration, sound) not in have
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("generations", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

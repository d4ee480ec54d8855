# Indexes for the staff usage reports (generations/reports/queries.py): the date range of every member's rows.
# A member's own report uses the existing owner/account indexes (credit_entry_account_recent,
# generation_owner_recent). Figures with and without them: bench/reports.py.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('generations', '0011_merge_20261202_1429'),
    ]

    operations = [
        # queries.entries(): totals, timeline, by member/model/account and the CSV rows of a date range.
        migrations.AddIndex(
            model_name='creditentry',
            index=models.Index(fields=['created_at'], name='credit_entry_created'),
        ),
        # queries.generations(): outcomes, time to ready and the breakdowns of the videos created in a range.
        migrations.AddIndex(
            model_name='generation',
            index=models.Index(fields=['created_at'], name='generation_created'),
        ),
    ]

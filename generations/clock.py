"""The one clock for leases, deadlines and schedules: the database's, not each machine's.

Workers on many machines compare `lease_until`, `next_run_at` and `deadline_at` written by each other; a worker
whose clock runs a minute fast would steal live leases (or fail videos early). On PostgreSQL every such time is
read from the server (`clock_timestamp()`, the real time even inside a transaction); SQLite lives on this
machine, so its clock is this machine's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

# Tests only: the stateful model moves time forward without waiting (added to the database's answer).
shift = timedelta(0)


def db_now() -> datetime:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            value = cursor.fetchone()[0]
        return value + shift
    return timezone.now() + shift

"""Redis is really reached: a job goes through the queue and a real worker runs it."""

from __future__ import annotations

import json
import zlib

import django_rq

from tests.conftest import run_jobs


def test_a_job_enqueued_on_redis_is_run_by_a_burst_worker():
    queue = django_rq.get_queue("default")
    job = queue.enqueue("os.path.join", "a", "b")
    assert queue.count == 1
    run_jobs()
    job.refresh()
    assert job.is_finished
    assert job.return_value() == "a/b"


def test_jobs_are_serialised_as_json_never_pickle():
    queue = django_rq.get_queue("default")
    job = queue.enqueue("os.path.join", "a", "b")
    raw = zlib.decompress(queue.connection.hget(job.key, "data"))  # RQ compresses job data
    assert json.loads(raw)[0] == "os.path.join"  # plain JSON: a pickle payload would fail to parse

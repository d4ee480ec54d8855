"""The README's Python example, run as a member would paste it, against a live site with a real worker process and
the provider simulator: it makes a video, waits for it and saves a file that probes as a video."""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest

from generations.api.tokens import token_create
from generations.media.probe import probe
from generations.models import CreditAccount, Generation
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def readme_example() -> Any:
    section = (ROOT / "README.md").read_text().split("\n## REST API\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the README's REST API section has a Python example"
    definition = code.group(1).rsplit("\nmake_video(", 1)[0]  # everything but the example call
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(definition), namespace)  # our own README, as a member would paste it
    return namespace


def test_the_readme_python_example_makes_and_downloads_a_video(
    live_server, sim_credentials, sim, media_root, fast_polls, worker_processes, alice, settings, tmp_path, monkeypatch
) -> None:
    settings.PROVIDER_READ_TIMEOUT = 2.0
    settings.API_RATE_LIMIT = "10000/min"
    worker_processes()
    example = readme_example()
    nap = example["time"].sleep
    monkeypatch.setattr(example["time"], "sleep", lambda seconds: nap(0.1))  # the example's 10 s polls, shortened
    raw = token_create(user=alice, name="readme", scope="write")[1]
    before = CreditAccount.balance_of(alice)
    request = {"model": "kling-2-5-turbo", "prompt": "A paper boat drifts down a rain gutter"}
    path = tmp_path / "boat.mp4"
    video = example["make_video"](live_server.url, raw, request, str(path))
    assert video["status"] == "ready"
    assert probe(path).width == video["video"]["width"]
    again = example["make_video"](live_server.url, raw, request, str(tmp_path / "again.mp4"))  # a retried script
    assert again["id"] == video["id"] and Generation.objects.count() == 1
    assert CreditAccount.balance_of(alice) == before - video["cost"]

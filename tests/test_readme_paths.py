"""The queue statistics URL the README gives answers there (it gave /django-rq/stats.json, a 404)."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from tests.conftest import ROOT


def _readme_stats_path() -> str:
    found = re.findall(r"`(/[^`]*stats\.json)`", (ROOT / "README.md").read_text())
    assert found, "the README names the queue statistics URL"
    return found[0]


def test_the_readme_stats_json_path_answers_with_the_token(settings: Any, db: None) -> None:
    settings.RQ_API_TOKEN = "a-long-random-monitoring-token"
    path = _readme_stats_path()
    response = Client().get(path, HTTP_AUTHORIZATION="Bearer a-long-random-monitoring-token")
    assert response.status_code == 200, path
    assert "queues" in response.json()
    assert Client().get(path).status_code == 401  # and nothing without it


def test_staff_open_the_readme_stats_json_path_logged_in(admin_user: Any) -> None:
    client = Client()
    client.force_login(admin_user, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(_readme_stats_path()).status_code == 200

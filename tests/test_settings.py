"""Settings come from the environment; bad values stop start-up with one sentence naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "p7Xq2-production-secret-key-9f8e7d6c5b4a3928171605f4e3d2c1b0aZyXwV",
    "ALLOWED_HOSTS": "videos.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://videos.example.com",
    "CREDENTIAL_KEYS": "k1Bm8v8o0gXyW1Zq3v6p2cD5Yx4sT9uJ0aLhNfRbE7w=",
    "DATABASE_URL": "sqlite:////tmp/kling-check.sqlite3",
}


def manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A production-like environment: none of the test session's own variables (the browser tests set
    # DJANGO_ALLOW_ASYNC_UNSAFE for Playwright, which `check --deploy` rightly flags).
    dropped = ("SECRET_KEY", "DEBUG", "CREDENTIAL_KEYS", "HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    clean.update(DJANGO_SETTINGS_MODULE="kling_site.settings", **(env or {}))
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True,
                          timeout=60)


def test_check_deploy_is_clean_with_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"CONN_MAX_AGE": "sixty", "DATABASE_URL": "postgres://u@h/db"}, "CONN_MAX_AGE must be a whole number"),
        ({"DATABASE_URL": "nonsense://what"}, "DATABASE_URL"),
        ({"CREDENTIAL_KEYS": "not-a-key"}, "CREDENTIAL_KEYS holds a value that is not a Fernet key"),
        ({"CREDENTIAL_KEYS": ""}, "CREDENTIAL_KEYS is not set"),
    ],
)
def test_bad_configuration_fails_with_one_sentence(env, sentence):
    result = manage("check", env={**PRODUCTION, **env})
    assert result.returncode != 0
    assert sentence in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr  # one line, no stack


def test_preflight_names_unreachable_redis():
    result = manage("preflight", env={**PRODUCTION, "REDIS_URL": "redis://:hunter2@127.0.0.1:9/0"})
    assert result.returncode != 0
    assert "REDIS_URL: no Redis answers at redis://127.0.0.1:9/0" in result.stderr
    assert "hunter2" not in result.stderr  # the password never reaches a log


def test_preflight_names_unwritable_media_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root ignores permissions; use a path under a file instead
        locked = tmp_path / "a-file"
        locked.write_text("x")
        locked = locked / "media"
    result = manage("preflight", env={**PRODUCTION, "MEDIA_ROOT": str(locked)})
    assert result.returncode != 0
    assert "MEDIA_ROOT: the media folder" in result.stderr


def test_preflight_passes_when_services_are_there(settings):
    result = manage("preflight", env={**PRODUCTION, "REDIS_URL": settings.REDIS_URL, "MEDIA_ROOT": "/tmp/kling-media"})
    assert result.returncode == 0, result.stderr
    assert "ready" in result.stdout


def test_s3_storage_is_chosen_when_a_bucket_is_named():
    result = manage(
        "shell", "-c", "from django.conf import settings; print(settings.STORAGES['default']['BACKEND'])",
        env={**PRODUCTION, "AWS_STORAGE_BUCKET_NAME": "videos", "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9000"},
    )
    assert result.stdout.strip().endswith("storages.backends.s3.S3Storage"), result.stderr

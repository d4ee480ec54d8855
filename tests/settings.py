"""Test settings: the project's settings, with test defaults for the variables a developer has not set.

Tests use the Redis at TEST_REDIS_URL (default: database 15 of the local server, so tests never touch the
development queues) or, when none answers, a private redis-server that lives as long as the test session.
"""

import atexit
import os
from pathlib import Path

from kling_site import devredis

os.environ.setdefault("SECRET_KEY", "test-only-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ")
os.environ.setdefault("CREDENTIAL_KEYS", "k1Bm8v8o0gXyW1Zq3v6p2cD5Yx4sT9uJ0aLhNfRbE7w=")
os.environ.setdefault("HTTPS", "0")
os.environ.setdefault("STATIC_MANIFEST", "0")
os.environ.setdefault("FETCH_ALLOWED_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("LOG_LEVEL", "WARNING")

_redis = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1"…: each pytest-xdist worker gets its own database
if _worker.startswith("gw") and _worker[2:].isdigit():
    _base, _, _db = _redis.rpartition("/")
    _redis = f"{_base}/{(int(_db or 0) - int(_worker[2:])) % 16}"
if not devredis.reachable(_redis):
    _redis, _proc = devredis.start_private(Path(__file__).resolve().parent.parent / "var" / f"test-redis-{os.getpid()}")
    atexit.register(_proc.terminate)
os.environ["REDIS_URL"] = _redis

from kling_site.settings import *  # noqa: E402, F403
from kling_site.settings import DATABASES, VAR_DIR  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # One file per test session, so worker subprocesses share it and parallel sessions do not collide.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}

WHITENOISE_USE_FINDERS = True  # tests serve static files from the source folders
WHITENOISE_AUTOREFRESH = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins; tests only
PREVIEW_CLIPS = False  # each fetch would encode a clip; tests/test_pipeline.py and the card tests turn it on

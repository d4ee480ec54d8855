"""kling-site settings: one file, every value from an environment variable.

Defaults make a fresh checkout run on SQLite, local media and a local Redis. Production sets the variables
listed in `.env.example` and the README; `python manage.py check --deploy` is clean with them.
A bad value stops start-up with one sentence that names the variable (see `kling_site/env.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csp.constants import NONCE, NONE, SELF

from kling_site.env import Env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # git-ignored: SQLite database, local media, private Redis data
env = Env(BASE_DIR / ".env")

# --- Core ---------------------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", False)
# Under DEBUG, show the site's own 404/500 pages (set 0 for Django's technical pages with tracebacks).
SITE_ERROR_PAGES = env.bool("SITE_ERROR_PAGES", True)
SECRET_KEY = env.secret_key(debug=DEBUG, dev_key_file=VAR_DIR / "dev-secret-key")
# Older keys still accepted for sessions and signed links while rotating SECRET_KEY.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", [])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])
SITE_NAME = env.str("SITE_NAME", "Kling Studio")

INSTALLED_APPS = [
    "kling_site.admin_site.KlingAdminConfig",  # django.contrib.admin with the site's own index names
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_rq",
    "axes",
    "csp",
    "auditlog",
    "ninja",  # the API docs' Swagger UI from our own static files (the CSP allows no CDN)
    "generations",
]

MIDDLEWARE = [
    # Outermost: under /api/ every error, Django's own included, is problem+json (generations/api/middleware.py).
    "generations.api.middleware.ApiProblemsMiddleware",
    # First: NUL bytes and non-UTF-8 bodies are a 400 before anything reads them (kling_site/badinput.py).
    "kling_site.badinput.BadInputMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login unless its view says @login_not_required (login, password reset, hooks).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "auditlog.middleware.AuditlogMiddleware",  # the acting admin on every audit log entry
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
    # Under /api/: a query parameter the operation does not take is a 422, never silently ignored.
    "generations.api.unknown_query.UnknownQueryMiddleware",
    # Under DEBUG (make run): the site's own 404/500 pages, not Django's technical ones. No-op otherwise.
    # Innermost, so the pages it renders still get the security and CSP headers.
    "kling_site.errorpages.SiteErrorPagesMiddleware",
]

ROOT_URLCONF = "kling_site.urls"
WSGI_APPLICATION = "kling_site.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "generations.context_processors.site",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two credit debits queue instead of failing with "locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # A lock held longer than this is a bug (never hold a credit lock across a network call): fail loudly.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c lock_timeout=5000 -c statement_timeout=30000"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and background jobs ------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", "redis://127.0.0.1:6379/0")
_JSON = "rq.serializers.JSONSerializer"  # jobs carry ids only; pickle would let Redis run code in workers
RQ_QUEUES = {
    # submit and poll: short calls, must never wait behind a download
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 120, "SERIALIZER": _JSON},
    # video downloads into storage
    "fetch": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 900, "SERIALIZER": _JSON},
    # synchronous provider calls that block for minutes (Segmind v1)
    "long": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 1200, "SERIALIZER": _JSON},
    # webhook deliveries: a member's slow or hanging receiver must never hold a poll or a download
    "hooks": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 60, "SERIALIZER": _JSON},
}
# The cache: the API's per-token request counts, shared by every process (Django's own Redis backend).
# "cards": each video card's HTML, keyed by what it shows (generations/templatetags/cards.py), in each process's
# memory: no round trip, and nothing added to the Redis that holds the queues (noeviction). ~1.5 kB a card.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "site"},
    "cards": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "cards",
        "OPTIONS": {"MAX_ENTRIES": 5000},
    },
}
# Requests one API token may make per window ("120/min"; units s, min, h, day): more get 429 with Retry-After.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", "120/min")
# Pictures a member may send to POST /api/v1/images per UTC day (up to 10 MB each; unused ones go after 8 days).
API_UPLOADS_PER_DAY = env.int("API_UPLOADS_PER_DAY", 200)
# A 4 s 360p clip made at fetch time for the cards' hover preview (0.5-0.7 s of worker CPU a video); off: no clip.
PREVIEW_CLIPS = env.bool("PREVIEW_CLIPS", True)
RQ = {"WORKER_CLASS": "generations.worker.Worker", "COMMIT_MODE": "on_db_commit"}
RQ_SHOW_ADMIN_LINK = True
RQ_API_TOKEN = env.str("RQ_API_TOKEN", "")

# --- Generations --------------------------------------------------------------------------------------------
# Fernet keys (comma-separated, newest first) that encrypt provider secrets at rest. Rotation: README.
CREDENTIAL_KEYS = env.fernet_keys("CREDENTIAL_KEYS", debug=DEBUG, dev_key_file=VAR_DIR / "dev-credential-key")
GENERATION_DEADLINE_SECONDS = env.int("GENERATION_DEADLINE_SECONDS", 30 * 60)
POLL_FIRST_SECONDS = env.float("POLL_FIRST_SECONDS", 5.0)
POLL_MAX_SECONDS = env.float("POLL_MAX_SECONDS", 60.0)
SWEEP_INTERVAL_SECONDS = env.int("SWEEP_INTERVAL_SECONDS", 30)
# Team budget defaults (0 = none); groups and members override them in the admin (README: Team budget).
DEFAULT_MONTHLY_ALLOWANCE = env.int("DEFAULT_MONTHLY_ALLOWANCE", 0)
DEFAULT_DAILY_CAP = env.int("DEFAULT_DAILY_CAP", 0)
DEFAULT_MONTHLY_CAP = env.int("DEFAULT_MONTHLY_CAP", 0)
# Videos one member may have at the providers at once; the rest wait in line, never refused (0 = no limit).
MAX_IN_FLIGHT_PER_MEMBER = env.int("MAX_IN_FLIGHT_PER_MEMBER", 4)
# Provider HTTP timeouts (seconds); Segmind v1 answers only when the video is done.
PROVIDER_CONNECT_TIMEOUT = env.float("PROVIDER_CONNECT_TIMEOUT", 5.0)
PROVIDER_READ_TIMEOUT = env.float("PROVIDER_READ_TIMEOUT", 30.0)
PROVIDER_SYNC_READ_TIMEOUT = env.float("PROVIDER_SYNC_READ_TIMEOUT", 900.0)
# A job holds a generation this long before the sweep assumes it died (must exceed the submit job's timeout).
LEASE_SECONDS = env.int("LEASE_SECONDS", 120)
VIDEO_MAX_BYTES = env.int("VIDEO_MAX_BYTES", 1024 * 1024 * 1024)
# host:port pairs the video fetcher may reach although they are not public addresses (the simulator).
FETCH_ALLOWED_HOSTS = env.list("FETCH_ALLOWED_HOSTS", [])
# host:port pairs webhook endpoints may use although they are not public addresses (tests, a local receiver).
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", [])
# Public address of this site, used to build provider callback URLs; empty = no callbacks.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", "")
SIMULATOR_KEYS = {
    "mulerun": "sim-mulerun-key",
    "aimlapi": "sim-aimlapi-key",
    "kling": {"access_key": "sim-kling-access-key", "secret_key": "sim-kling-secret-key-for-the-local-simulator"},
    "powertokens": "sim-powertokens-key",
    "segmind": "sim-segmind-key",
}

# --- Files --------------------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", VAR_DIR / "media")
MEDIA_URL_EXPIRE_SECONDS = env.int("MEDIA_URL_EXPIRE_SECONDS", 300)
# nginx `internal` location that maps to MEDIA_ROOT; when set, Django hands file bodies to nginx.
MEDIA_ACCEL_REDIRECT_PREFIX = env.str("MEDIA_ACCEL_REDIRECT_PREFIX", "")
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", "")
if AWS_STORAGE_BUCKET_NAME:
    _media = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", "") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", "") or None,
            "access_key": env.str("AWS_ACCESS_KEY_ID", "") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", "") or None,
            "default_acl": None,  # the bucket stays private; members get presigned URLs
            "querystring_auth": True,
            "querystring_expire": MEDIA_URL_EXPIRE_SECONDS,
            "file_overwrite": False,
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", "") or None,
            "signature_version": "s3v4",
        },
    }
else:
    _media = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _media,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env.bool("STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Accounts -----------------------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "gallery"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25  # hours: a lock-out ends by itself after 15 minutes
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("PROXY_COUNT", 0) or None


def _client_ip(request: Any) -> str | None:
    """The address login failures are counted against (axes reads it through AXES_CLIENT_IP_CALLABLE).

    With no proxy it is REMOTE_ADDR and X-Forwarded-For is ignored (a client could write anything there). With
    PROXY_COUNT proxies, each appends the address it saw, so the client is the PROXY_COUNT-th entry from the right;
    entries to the left of it are the client's own and never trusted. Without this, every visitor shares the
    proxy's address and anyone could lock anyone out (django-ipware, which axes would otherwise use, is not
    installed, so axes ignored PROXY_COUNT).
    """
    from django.conf import settings as live  # read at call time, so tests can change PROXY_COUNT

    remote = request.META.get("REMOTE_ADDR")
    count = live.AXES_IPWARE_PROXY_COUNT or 0
    if count <= 0:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    return hops[-count] if len(hops) >= count else remote


AXES_CLIENT_IP_CALLABLE = _client_ip
# Failed logins per client IP across all usernames (password spraying), per 15 minutes (kling_site/accounts.py).
LOGIN_IP_FAILURE_LIMIT = env.int("LOGIN_IP_FAILURE_LIMIT", 30)
# Password reset mails per address and per client IP, per hour.
PASSWORD_RESET_LIMIT_PER_EMAIL = env.int("PASSWORD_RESET_LIMIT_PER_EMAIL", 3)
PASSWORD_RESET_LIMIT_PER_IP = env.int("PASSWORD_RESET_LIMIT_PER_IP", 10)
EMAIL_CONFIG = env.email("EMAIL_URL", "consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "kling-site@localhost")

# --- Security -----------------------------------------------------------------------------------------------
# HTTPS is on by default outside DEBUG: the site is meant to sit behind a TLS proxy that sets X-Forwarded-Proto.
HTTPS = env.bool("HTTPS", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", True)
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
_media_origin = env.str("MEDIA_ORIGIN", "")  # e.g. https://bucket.s3.amazonaws.com when videos come from S3
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"] + ([_media_origin] if _media_origin else []),
        "media-src": [SELF] + ([_media_origin] if _media_origin else []),
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Logging ------------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Share link tokens never reach the log, though Django logs each 4xx with its path (generations/sharing/logs.py).
    "filters": {"share_tokens": {"()": "generations.sharing.logs.HideShareTokens"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["share_tokens"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

"""Who is calling: a personal token (Authorization: Bearer ks_…), acting as its member; and how often it may."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja.throttling import BaseThrottle

from generations.api import tokens
from generations.api.problems import Problem

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_ONLY_POSTS = frozenset({"quote"})  # POSTs that change nothing: a Read token may send them


class TokenAuth(HttpBearer):
    """A live token is its member: request.user is set to them, so the pages' own access rules apply unchanged."""

    def __call__(self, request: HttpRequest) -> Any:
        # Ninja's own parsing logs a header that is not "Bearer …" in full under DEBUG: a token in the log.
        scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        return self.authenticate(request, value)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = tokens.token_find(token.strip())
        if found is None:
            return None
        match = request.resolver_match
        reads_only = match is not None and match.url_name in READ_ONLY_POSTS
        if request.method not in SAFE_METHODS and not found.can_write and not reads_only:
            raise Problem(403, "This token can only read; make a Read and write token to change anything.")
        request.user = found.user
        return found


def uploads_refused_for(user: Any) -> int:
    """0 while the member has pictures left today (API_UPLOADS_PER_DAY), else the seconds until tomorrow (UTC)."""
    now = time.time()
    key = f"api-uploads:{user.pk}:{int(now // 86400)}"
    cache.add(key, 0, 86400 + 60)
    if cache.incr(key) <= settings.API_UPLOADS_PER_DAY:
        return 0
    return max(1, int(86400 - now % 86400))


class TokenRateThrottle(BaseThrottle):
    """At most API_RATE_LIMIT requests per token (e.g. "120/min") in each fixed window, counted atomically in the
    cache (Redis), so every process of the site shares one count. A refusal is a 429 with Retry-After."""

    UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}

    def _rate(self) -> tuple[int, int]:
        count, _, unit = settings.API_RATE_LIMIT.partition("/")
        return int(count), self.UNITS[unit]

    def allow_request(self, request: HttpRequest) -> bool:
        token = getattr(request, "auth", None)
        if token is None:
            return True
        limit, seconds = self._rate()
        key = f"api-rate:{token.pk}:{seconds}:{int(time.time() // seconds)}"
        cache.add(key, 0, seconds + 1)
        return cache.incr(key) <= limit

    def wait(self) -> float:
        _, seconds = self._rate()
        return max(1.0, seconds - time.time() % seconds)

"""Every URL pattern, as every persona, with hostile values in every parameter and header it reads: never a 500.

The URL map comes from the resolver (the site, accounts, the admin and django-rq's dashboard), so a new page is
covered the day it is added. Each URL is filled in with real ids (Alice's video, a credential, a user, queue 0)
and with hostile ones, then sent GET and POST with every value of CORPUS in every query parameter, form field
and header the views read. A refused request (4xx) must write nothing.

Destructive URLs (delete, cancel, logout) run last, so they cannot take the fixtures away from the others.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from generations.api.tokens import token_create
from generations.models import ApiToken, CreditEntry, Favorite, Generation, Price, ProviderCredential, ShareLink
from generations.prompts.services import template_create
from tests.fixtures_pages import make_credential

# Values a browser, a script or an attacker can put in any parameter or header.
CORPUS = [
    "²",  # "²".isdigit() is True, int("²") fails
    "٣",  # an Arabic-Indic 3: int() takes it
    "1\x00",  # PostgreSQL refuses NUL in text
    "9999-12-31",  # + 1 day overflows
    "0000-00-00",
    "9" * 20,  # over 64 bits
    "9" * 5000,  # int() refuses over 4,300 digits
    "-1",
    "1e309",
    "\x1b[31mred\x7f",  # ESC sequence and DEL
    "x" * 10_000,
    "",
]
# The admin's views share Django's code paths: fewer values per URL there, so the walk stays under a minute.
ADMIN_CORPUS = ["²", "9999-12-31", "9" * 5000]
UTF16 = "application/x-www-form-urlencoded; charset=utf-16"
# Parameters the member pages read (filters, paging, remix, download, next) plus Django's own.
SITE_PARAMS = [
    "page", "q", "member", "model", "mode", "duration", "date_from", "date_to", "favorites", "sort", "status",
    "remix", "download", "next", "visibility", "prompt", "username", "password", "email", "form_token",
    "shot_duration_1", "camera_value", "cfg_scale", "image_url", "share-label", "share-days", "share-show_names",
    "from", "prefill", "name", "text", "aspect_ratio", "sound", "v_subject", "variants", "prompts", "rows_csv",
    "template", "quoted_total", "quoted_cost", "scope", "expires", "expires_on",
]  # fmt: skip
# The admin refuses unknown lookups as a whole, so its parameters go one at a time.
ADMIN_COMMON = ["q", "o", "p", "_changelist_filters", "_to_field"]
HEADERS = [
    "HTTP_RANGE", "HTTP_IF_RANGE", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH",
    "HTTP_X_FORWARDED_FOR", "HTTP_ACCEPT", "HTTP_ACCEPT_LANGUAGE", "HTTP_REFERER", "HTTP_USER_AGENT",
    "HTTP_AUTHORIZATION",
]  # fmt: skip
DESTRUCTIVE = ("delete", "cancel", "logout", "empty", "clear", "requeue", "stop", "password")


def _walk(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, route)
        else:
            yield route, entry


def _admin_models() -> dict[str, tuple[Any, list[str]]]:
    """Each admin change list's URL prefix (admin/app/model/): its model and the lookups it accepts."""
    out: dict[str, tuple[Any, list[str]]] = {}
    for model, model_admin in admin.site._registry.items():
        names = []
        for item in model_admin.list_filter:
            if isinstance(item, str):
                names += [f"{item}__exact", f"{item}__gte"]
            elif isinstance(item, tuple):
                names += [f"{item[0]}__id__exact"]
            else:
                names.append(item.parameter_name)
        out[f"admin/{model._meta.app_label}/{model._meta.model_name}/"] = (model, names + ADMIN_COMMON)
    return out


def _fill(route: str, values: dict[str, list[str]]) -> list[str]:
    """Concrete paths for a route: every combination of the values for its converters (capped)."""
    import re

    paths = [route]
    for match in re.finditer(r"<(?:(\w+):)?(\w+)>", route):
        kind = match.group(1) or "str"
        options = values.get(match.group(2)) or values.get(kind) or ["x"]
        paths = [p.replace(match.group(0), o, 1) for p in paths for o in options][:2]
    return ["/" + re.sub(r"^\^|\$$", "", p) for p in paths if "(?P<" not in p and "\\" not in p]


def _fingerprint() -> tuple[Any, ...]:
    """What a refused request must not change, in one cheap query."""
    tables = [Generation, CreditEntry, Favorite, ProviderCredential, Price, ShareLink, ApiToken, get_user_model()]
    counts = " , ".join(f"(SELECT COUNT(*) FROM {m._meta.db_table})" for m in tables)
    gen = Generation._meta.db_table
    extra = (
        f"(SELECT COUNT(*) FROM {gen} WHERE deleted_at IS NOT NULL), "
        f"(SELECT COUNT(*) FROM {gen} WHERE visibility = 'private'), "
        f"(SELECT COUNT(*) FROM {gen} WHERE status = 'ready'), "
        f"(SELECT COUNT(*) FROM {ProviderCredential._meta.db_table} WHERE is_active), "
        f"(SELECT COUNT(*) FROM {ShareLink._meta.db_table} WHERE revoked_at IS NOT NULL), "
        f"(SELECT COUNT(*) FROM {ApiToken._meta.db_table} WHERE revoked_at IS NOT NULL)"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}, {extra}")  # table names from models, no input
        return tuple(cursor.fetchone())


@pytest.fixture
def world(alice: Any, charlie: Any, admin_user: Any, ready_video: Any, make_generation: Any) -> dict[str, Any]:
    make_credential("mulerun", label="MuleRun")
    video = ready_video(alice)
    queued = make_generation(alice, status="queued")
    template = template_create(owner=alice, name="Walk", text="{subject} walking through {place}", shared=True)
    token, _ = token_create(user=alice, name="Walk script", scope="read")
    clients = {"anonymous": Client(raise_request_exception=False)}
    for name, user in (("alice", alice), ("charlie", charlie), ("staff", admin_user)):
        clients[name] = Client(raise_request_exception=False)
        clients[name].force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    converter_values = {
        "pk": [str(video.pk), str(queued.pk)],
        "uuid": [str(video.pk)],
        "queue_index": ["0", "9"],
        "index": ["0", "9"],
        "connection_index": ["0", "9"],
        "scheduler_index": ["0"],
        "provider": ["kling", "²"],
        "secret": ["s" * 43, "²" * 43],
        "uidb64": ["MQ", "²"],
        "token": ["set-password", "x" * 500],
        "job_id": ["no-such-job", "²"],
        "key": ["no-such-worker"],
        "str": ["x", "²"],
        "path": ["x", "²/9999-12-31"],
        "int": ["0", "9"],
        "template_id": [str(template.pk), "9"],
        "token_id": [str(token.pk), "9"],
    }
    return {"clients": clients, "values": converter_values, "user": {"alice": alice, "charlie": charlie,
            "staff": admin_user}}  # fmt: skip


def _is_login_redirect(response: Any) -> bool:
    return response.status_code == 302 and "login/" in response.get("Location", "")


def test_no_url_answers_500_to_hostile_values(world: dict[str, Any]) -> None:
    models = _admin_models()
    routes = sorted(_walk(get_resolver()), key=lambda rp: any(w in rp[0] for w in DESTRUCTIVE))
    assert len(routes) > 100, "the walk missed the admin or django-rq"
    errors: list[str] = []
    sent = 0
    started = time.monotonic()
    for route, _pattern in routes:
        prefix = next((m for m in models if route.startswith(m)), None)
        values = dict(world["values"])
        if prefix:  # a real row of this admin's model, and a number no row (and no int()) has
            model = models[prefix][0]
            row = model.objects.order_by("pk").first() if model._meta.managed else None
            values["object_id"] = [str(row.pk) if row else "1", "9" * 5000]
        is_admin = route.startswith("admin/")
        for path in _fill(route, values):
            for who, client in world["clients"].items():
                if who != "anonymous" and any(w in route for w in DESTRUCTIVE):  # may have logged it out
                    client.force_login(world["user"][who], backend="django.contrib.auth.backends.ModelBackend")
                if prefix and route == prefix and who == "staff":
                    groups = [[name] for name in models[prefix][1]]  # the admin refuses unknown lookups as a whole
                else:
                    groups = [SITE_PARAMS + ADMIN_COMMON]
                # On the site every persona gets a share of the corpus (each value once per URL); in the admin only
                # staff get past the login redirect, so staff get all of it.
                turn = list(world["clients"]).index(who)
                if is_admin:
                    corpus = ADMIN_CORPUS if route == prefix else ADMIN_CORPUS[::2]
                else:
                    corpus = CORPUS[turn::2] if who != "anonymous" else CORPUS[::4]
                baseline = _fingerprint()
                for group in groups:
                    for n, value in enumerate(corpus):
                        method = ("get", "post")[n % 2]
                        headers = dict.fromkeys(HEADERS, value.replace("\x00", ""))  # no NUL in real headers
                        if method == "post" and n % 4 == 3:
                            data: Any = "&".join(f"{k}={value[:100]}" for k in group)
                            response = client.post(path, data, content_type=UTF16, **headers)
                        else:
                            response = getattr(client, method)(path, dict.fromkeys(group, value), **headers)
                        sent += 1
                        status = response.status_code
                        if status >= 500:
                            errors.append(f"{who} {method.upper()} {path} {group[:2]}={value[:20]!r}: {status}")
                        elif 400 <= status < 500 and _fingerprint() != baseline:
                            errors.append(f"{who} {method.upper()} {path}: {status} but something was written")
                        if status < 400 or status >= 500:
                            baseline = _fingerprint()
                        if _is_login_redirect(response) and n >= 1:
                            break  # the view never runs for this persona: the middleware's answer is enough
    elapsed = time.monotonic() - started
    print(f"\n{sent} requests over {len(routes)} URL patterns in {elapsed:.1f} s")
    assert not errors, f"{len(errors)} of {sent} requests failed:\n" + "\n".join(errors[:40])

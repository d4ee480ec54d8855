"""The admin index in the words of this site: Members, Provider accounts, Prices, Credit ledger, Queues.

Django groups the index by app label ("Authentication and Authorization", "Generations", "Django_Rq"), which
means nothing to the team's admins. Only the index is renamed: URLs and permissions stay Django's own.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest

# (app label, model) -> (section, name, order within the index)
FRIENDLY: dict[tuple[str, str], tuple[str, str, int]] = {
    ("auth", "user"): ("People and credits", "Members", 10),
    ("generations", "creditentry"): ("People and credits", "Credit ledger", 11),
    ("generations", "creditaccount"): ("People and credits", "Credit accounts", 12),
    ("generations", "apitoken"): ("People and credits", "API tokens", 14),
    ("auth", "group"): ("People and credits", "Groups", 13),
    ("generations", "generation"): ("Videos and providers", "Videos", 20),
    ("generations", "providercredential"): ("Videos and providers", "Provider accounts", 21),
    ("generations", "price"): ("Videos and providers", "Prices", 22),
    ("generations", "sharelink"): ("Videos and providers", "Share links", 23),
    ("generations", "prompttemplate"): ("Videos and providers", "Prompt templates", 24),
    ("generations", "webhook"): ("Videos and providers", "Webhooks", 25),
    ("generations", "webhookdelivery"): ("Videos and providers", "Webhook deliveries", 26),
    ("django_rq", "dashboard"): ("Background work", "Queues", 30),
    ("django_rq", "queue"): ("Background work", "Queues", 30),
}
SECTION_ORDER = ["People and credits", "Videos and providers", "Background work"]


class KlingAdminSite(AdminSite):
    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        if app_label is not None:  # an app's own page: keep Django's grouping, with friendly model names
            for app in apps:
                for model in app["models"]:
                    key = (app["app_label"], model["object_name"].lower())
                    model["name"] = FRIENDLY[key][1] if key in FRIENDLY else model["name"]
            return apps
        sections: dict[str, dict[str, Any]] = {}
        rest = []
        for app in apps:
            for model in app["models"]:
                key = (app["app_label"], model["object_name"].lower())
                if key not in FRIENDLY:
                    rest.append((app, model))
                    continue
                section, name, order = FRIENDLY[key]
                model = {**model, "name": name, "_order": order}
                box = sections.setdefault(section, {**app, "name": section, "models": [], "app_url": ""})
                box["models"].append(model)
        for app, model in rest:  # anything else (login lockouts, …) keeps its app's name
            sections.setdefault(app["name"], {**app, "models": []})["models"].append(model)
        for box in sections.values():
            box["models"].sort(key=lambda m: (m.get("_order", 99), m["name"]))
        rank = {name: i for i, name in enumerate(SECTION_ORDER)}
        return sorted(sections.values(), key=lambda box: (rank.get(box["name"], 99), box["name"]))


class KlingAdminConfig(AdminConfig):
    default_site = "kling_site.admin_site.KlingAdminSite"

"""404, not 500, for django-rq dashboard pages about a queue, connection or scheduler that does not exist.

django-rq's views index a list with the number in the URL (``queues/9/`` raised IndexError), and its scheduler
page needs rq-scheduler, which we do not install (the worker schedules with RQ's own scheduler). These patterns
sit in front of django-rq's own under ``/admin/django_rq/dashboard/``: their converters match only numbers that
name nothing, so every real page still falls through to django-rq, and staff see a 404 for the rest.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, register_converter
from django_rq.connection_utils import get_unique_connection_configs
from django_rq.queues import get_queues_list

PREFIX = "django_rq/dashboard/"  # included under admin/


class _MissingIndex:
    """Matches an index (ASCII digits) only if it is out of range; ValueError hands the URL on to django-rq."""

    regex = "[0-9]{1,6}"

    def count(self) -> int:
        raise NotImplementedError

    def to_python(self, value: str) -> int:
        if int(value) < self.count():
            raise ValueError("a real one: django-rq's own view answers")
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


class MissingQueue(_MissingIndex):
    def count(self) -> int:
        return len(get_queues_list())


class MissingConnection(_MissingIndex):
    def count(self) -> int:
        return len(get_unique_connection_configs())


register_converter(MissingQueue, "missing_queue")
register_converter(MissingConnection, "missing_connection")


def _missing(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    raise Http404("No such queue, worker list or scheduler.")


_view = admin.site.admin_view(_missing)  # anonymous visitors still get the admin login, as for any admin URL

urlpatterns = [
    path(PREFIX + "queues/<missing_queue:index>/", _view),
    path(PREFIX + "queues/<missing_queue:index>/<path:rest>", _view),
    path(PREFIX + "queues/confirm-action/<missing_queue:index>/", _view),
    path(PREFIX + "queues/actions/<missing_queue:index>/", _view),
    path(PREFIX + "workers/<missing_queue:index>/", _view),
    path(PREFIX + "workers/<missing_queue:index>/<path:rest>", _view),
    path(PREFIX + "cron-schedulers/<missing_connection:index>/<path:rest>", _view),
    # rq-scheduler is not installed, so no scheduler page can work (django-rq hides its link for the same reason).
    path(PREFIX + "schedulers/<int:index>/", _view),
]

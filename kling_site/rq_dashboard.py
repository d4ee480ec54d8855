"""404, not 500, for django-rq dashboard pages about a queue, connection or scheduler that does not exist.

django-rq's views index a list with the number in the URL (``queues/9/`` raised IndexError), and its scheduler
page needs rq-scheduler, which we do not install (the worker schedules with RQ's own scheduler). These patterns
sit in front of django-rq's own under ``/admin/django_rq/dashboard/``: their converters match only numbers that
name nothing, so every real page still falls through to django-rq, and staff see a 404 for the rest.

The bulk-action pages redirect to the Referer header or a posted ``next_url``; django-rq hands either to
``redirect()``, which treats a word without a slash as a view name (``NoReverseMatch``, a 500) and would follow
any other host. They get only a local path here, else django-rq's own default (the queue's job list).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, register_converter
from django.utils.http import url_has_allowed_host_and_scheme
from django_rq import stats_views
from django_rq import views as rq_views
from django_rq.connection_utils import get_unique_connection_configs
from django_rq.queues import get_queues_list
from rq.exceptions import NoSuchJobError

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


class JobId:
    """A job id, but not the names of a queue's own pages (``queues/0/failed/`` is a list, not job "failed")."""

    regex = "[^/]+"
    PAGES = frozenset({"details", "finished", "failed", "scheduled", "started", "deferred", "empty", "requeue-all"})

    def to_python(self, value: str) -> str:
        if value in self.PAGES:
            raise ValueError("a queue page: django-rq's own view answers")
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(JobId, "job_id")
register_converter(MissingQueue, "missing_queue")
register_converter(MissingConnection, "missing_connection")


def _missing(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    raise Http404("No such queue, worker list or scheduler.")


def _local(request: HttpRequest, url: str) -> bool:
    return url.startswith("/") and url_has_allowed_host_and_scheme(url, {request.get_host()})


def _with_local_next(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def wrapped(request: HttpRequest, queue_index: int) -> HttpResponse:
        request.current_app = admin.site.name  # django-rq reverses its URLs in the admin's namespace
        if not _local(request, request.META.get("HTTP_REFERER", "")):
            request.META.pop("HTTP_REFERER", None)
        if "next_url" in request.POST and not _local(request, request.POST["next_url"]):
            post = request.POST.copy()
            del post["next_url"]
            request.POST = post  # type: ignore[misc]
        return view(request, queue_index)

    return admin.site.admin_view(wrapped)


def _missing_job_is_404(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """django-rq's job and worker pages fail on an id that names nothing or is malformed (NoSuchJobError,
    ``assert worker``, ValueError from RQ's id checks)."""

    def wrapped(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        request.current_app = admin.site.name
        try:
            return view(request, **kwargs)
        except (NoSuchJobError, AssertionError, ValueError) as exc:
            raise Http404("No such job or worker.") from exc

    return admin.site.admin_view(wrapped)


_view = admin.site.admin_view(_missing)  # anonymous visitors still get the admin login, as for any admin URL

urlpatterns = [
    # Monitoring reads queue statistics with RQ_API_TOKEN (a bearer header) and no session: django-rq checks the
    # token (or a staff session) itself, so the site's login-required default must let the request reach it.
    path(PREFIX + "stats.json", login_not_required(stats_views.stats_json)),
    path(PREFIX + "queues/<missing_queue:index>/", _view),
    path(PREFIX + "queues/<missing_queue:index>/<path:rest>", _view),
    path(PREFIX + "queues/confirm-action/<missing_queue:index>/", _view),
    path(PREFIX + "queues/actions/<missing_queue:index>/", _view),
    path(PREFIX + "queues/confirm-action/<int:queue_index>/", _with_local_next(rq_views.confirm_action)),
    path(PREFIX + "queues/actions/<int:queue_index>/", _with_local_next(rq_views.actions)),
    path(PREFIX + "workers/<missing_queue:index>/", _view),
    path(PREFIX + "workers/<missing_queue:index>/<path:rest>", _view),
    path(PREFIX + "cron-schedulers/<missing_connection:index>/<path:rest>", _view),
    path(PREFIX + "queues/<int:queue_index>/<job_id:job_id>/", _missing_job_is_404(rq_views.job_detail)),
    path(PREFIX + "queues/<int:queue_index>/<job_id:job_id>/delete/", _missing_job_is_404(rq_views.delete_job)),
    path(PREFIX + "queues/<int:queue_index>/<job_id:job_id>/requeue/", _missing_job_is_404(rq_views.requeue_job_view)),
    path(PREFIX + "queues/<int:queue_index>/<job_id:job_id>/enqueue/", _missing_job_is_404(rq_views.enqueue_job)),
    path(PREFIX + "queues/<int:queue_index>/<job_id:job_id>/stop/", _missing_job_is_404(rq_views.stop_job)),
    path(
        PREFIX + "queues/<int:queue_index>/<job_id:job_id>/results/<str:result_id>/",
        _missing_job_is_404(rq_views.result_detail),
    ),
    path(PREFIX + "workers/<int:queue_index>/<str:key>/", _missing_job_is_404(rq_views.worker_details)),
    # The dashboard is an admin "model" without a table: its history page would query one.
    path(PREFIX + "<path:object_id>/history/", _view),
    # rq-scheduler is not installed, so no scheduler page can work (django-rq hides its link for the same reason).
    path(PREFIX + "schedulers/<int:index>/", _view),
]

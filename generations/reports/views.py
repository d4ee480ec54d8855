"""The usage report page and its CSV. Both read the same form, so the same filters and the same access rule
(queries.Filters.for_viewer) apply; a bad filter is a 400 that says which value is wrong."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render

from generations.reports import charts, export, queries
from generations.reports.forms import ReportFilterForm


def usage_report(request: HttpRequest) -> HttpResponse:
    form = ReportFilterForm(request.GET, viewer=request.user)
    if not form.is_valid():
        return render(request, "reports/usage.html", {"form": form}, status=400)
    report = queries.usage_report(form.filters())
    ctx = {
        "form": form,
        "report": report,
        "timeline": charts.timeline_chart(report.timeline, report.filters.granularity),
        "outcomes": charts.outcome_segments(report.outcomes),
        "by_member": charts.share_bars(report.by_member),
        "by_model": charts.share_bars(report.by_model),
        "by_account": charts.share_bars(report.by_account),
        "filtered": any(v for v in request.GET.values()),
    }
    return render(request, "reports/usage.html", ctx)


def usage_csv(request: HttpRequest) -> HttpResponse:
    form = ReportFilterForm(request.GET, viewer=request.user)
    if not form.is_valid():
        problems = "\n".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(f"Bad filters:\n{problems}\n", content_type="text/plain; charset=utf-8")
    f = form.filters()
    name = f"usage-{f.start:%Y-%m-%d}-to-{form.cleaned_data['last']:%Y-%m-%d}.csv"
    response = StreamingHttpResponse(export.usage_csv_lines(f), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response

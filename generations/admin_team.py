"""Admin for the team's budget rules: on each group and each member (README: Team budget)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.models import Group

from generations.admin import UserAdmin
from generations.models import AllowanceGrant, GroupPolicy, MemberPolicy

POLICY_FIELDS = (
    ("monthly_allowance", "expire_unused"),
    ("daily_cap", "monthly_cap"),
    "max_in_flight",
    "allowed_models",
    "allowed_modes",
)


class GroupPolicyInline(admin.StackedInline):
    model = GroupPolicy
    can_delete = True
    fields = POLICY_FIELDS
    verbose_name = "budget rules"


class MemberPolicyInline(admin.StackedInline):
    model = MemberPolicy
    can_delete = True
    fields = POLICY_FIELDS
    verbose_name = "budget rules (override the groups' and the site's)"


class AllowanceInline(admin.TabularInline):
    model = AllowanceGrant
    fk_name = "user"
    fields = ("period", "amount", "created_at", "expired_at")
    readonly_fields = fields
    can_delete = False
    extra = 0
    max_num = 0
    ordering = ("-period",)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin):
    inlines = (GroupPolicyInline,)


UserAdmin.inlines = (*UserAdmin.inlines, MemberPolicyInline, AllowanceInline)


# --- the audit log: read-only, filterable, exportable ------------------------------------------------------------
import csv  # noqa: E402

from auditlog.admin import LogEntryAdmin as BaseLogEntryAdmin  # noqa: E402
from auditlog.models import LogEntry  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402

admin.site.unregister(LogEntry)


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = str(value if value is not None else "")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@admin.register(LogEntry)
class AuditLogAdmin(BaseLogEntryAdmin):
    actions = ["export_csv"]
    list_display = ["created", "resource_url", "action", "summary", "user_url"]
    list_filter = ["action", "content_type", "actor", "timestamp"]

    @admin.display(description="Changes (before → after)")
    def summary(self, entry: LogEntry) -> str:
        text = entry.changes_str
        return text if len(text) <= 160 else text[:159] + "…"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Export the selected entries as CSV")
    def export_csv(self, request: HttpRequest, queryset: object) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
        writer = csv.writer(response)
        writer.writerow(["when", "who", "what kind", "object", "action", "changes"])
        for entry in queryset.select_related("actor", "content_type").order_by("timestamp"):
            writer.writerow(
                _cell(v)
                for v in (
                    entry.timestamp.isoformat(),
                    entry.actor.get_username() if entry.actor else "system",
                    entry.content_type.name if entry.content_type else "",
                    entry.object_repr,
                    entry.get_action_display(),
                    entry.changes_str,
                )
            )
        return response

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

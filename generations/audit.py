"""The audit log: who changed what in the admin, when, with before and after values (django-auditlog).

Model changes made through the admin (members, groups, provider accounts, prices, budget rules) are recorded by
django-auditlog's signals, with the acting admin from its middleware; provider secrets and password hashes are
never recorded. Credit grants and adjustments, and the generation actions (poll now, mark failed, resume), change
rows through services, so they record themselves with ``record``.
"""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from auditlog.registry import auditlog


def register() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from generations.models import GroupPolicy, MemberPolicy, Price, ProviderCredential

    auditlog.register(get_user_model(), exclude_fields=["password", "last_login"], m2m_fields={"groups"})
    auditlog.register(Group, m2m_fields={"permissions"})
    auditlog.register(
        ProviderCredential, exclude_fields=["secrets_encrypted", "last_error", "last_error_at", "last_checked_at"]
    )
    auditlog.register(Price)
    auditlog.register(GroupPolicy)
    auditlog.register(MemberPolicy)


def record(instance: Any, what: str, *, actor: Any = None, changes: dict[str, Any] | None = None) -> LogEntry:
    """One entry for an action a service performed: ``what`` is shown as the change's description. Without an
    ``actor`` the admin of the current request is filled in by django-auditlog's middleware context."""
    data = {"action": ["", what], **{k: ["", str(v)] for k, v in (changes or {}).items()}}
    return LogEntry.objects.log_create(
        instance,
        force_log=True,
        action=LogEntry.Action.UPDATE,
        changes=data,
        actor=actor if getattr(actor, "pk", None) else None,
    )

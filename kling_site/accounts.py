"""Login and password reset, hardened: Django's views with our forms and limits.

* A username longer than the user model allows is a form error before anything authenticates. Django's
  AuthenticationForm only sets ``maxlength`` on the widget, so 300 characters reached django-axes, whose
  failure table holds 255 and made PostgreSQL fail the request (issue 10).
* Password spraying: django-axes locks a username+IP pair; one guess on each of many accounts from one address
  never tripped it. Failed logins are also counted per client IP across usernames (LOGIN_IP_FAILURE_LIMIT per
  15 minutes); past it, that address cannot log in until the window ends.
* Password reset mails are limited per address and per client IP (PASSWORD_RESET_LIMIT_PER_EMAIL,
  PASSWORD_RESET_LIMIT_PER_IP per hour). The page answers the same whether or not an account exists and
  whether or not a mail was sent, so it reveals nothing.

Counters are fixed windows in Redis (shared by every web process): INCR, and EXPIRE on the first hit.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.views import LoginView, PasswordResetView
from django.core.validators import MaxLengthValidator
from django.http import HttpRequest

LOGIN_WINDOW = 15 * 60
RESET_WINDOW = 60 * 60


def _redis() -> Any:
    from generations.scheduling import queue_for

    return queue_for("default").connection


def _key(kind: str, value: str) -> str:
    return f"kling:limit:{kind}:" + hashlib.sha256(value.lower().encode()).hexdigest()[:32]


def count(kind: str, value: str, window: int) -> int:
    """Add one to this window's counter and return it."""
    key = _key(kind, value)
    hits = int(_redis().incr(key))
    if hits == 1:
        _redis().expire(key, window)
    return hits


def current(kind: str, value: str) -> int:
    return int(_redis().get(_key(kind, value)) or 0)


def client_ip(request: HttpRequest | None) -> str:
    return (settings.AXES_CLIENT_IP_CALLABLE(request) if request is not None else None) or "unknown"


def _limit_username(form: AuthenticationForm) -> None:
    limit = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).max_length or 150
    form.fields["username"].validators.append(MaxLengthValidator(limit))


class _Limited:
    """Login form behaviour shared by the site's and the admin's login: username length and the per-IP limit."""

    request: HttpRequest | None
    fields: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        ip = client_ip(self.request)
        if current("login-ip", ip) >= settings.LOGIN_IP_FAILURE_LIMIT:
            raise forms.ValidationError(
                "Too many failed logins from your network. Try again in 15 minutes.", code="ip_locked"
            )
        try:
            return super().clean()  # type: ignore[misc]
        except forms.ValidationError as exc:
            if getattr(exc, "code", None) == "invalid_login":
                count("login-ip", ip, LOGIN_WINDOW)
            raise


class LoginForm(_Limited, AuthenticationForm):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _limit_username(self)


class AdminLoginForm(_Limited, AdminAuthenticationForm):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _limit_username(self)


class LimitedPasswordResetForm(PasswordResetForm):
    """Sends at most the configured number of mails per address and per client IP; answers the same always."""

    def save(self, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        email = self.cleaned_data["email"]
        per_ip = count("reset-ip", client_ip(request), RESET_WINDOW)
        per_email = count("reset-email", email, RESET_WINDOW)
        if per_ip > settings.PASSWORD_RESET_LIMIT_PER_IP or per_email > settings.PASSWORD_RESET_LIMIT_PER_EMAIL:
            return  # silently: the page must not tell whether the address has an account or was throttled
        super().save(*args, request=request, **kwargs)


login_view = LoginView.as_view(authentication_form=LoginForm)
password_reset_view = PasswordResetView.as_view(form_class=LimitedPasswordResetForm)

"""Login and password reset, hardened: Django's views with our forms and limits.

* A username longer than the user model allows is a form error before anything authenticates. Django's
  AuthenticationForm only sets ``maxlength`` on the widget, so 300 characters reached django-axes, whose
  failure table holds 255 and made PostgreSQL fail the request (issue 10).
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.validators import MaxLengthValidator


def _limit_username(form: AuthenticationForm) -> None:
    limit = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).max_length or 150
    form.fields["username"].validators.append(MaxLengthValidator(limit))


class LoginForm(AuthenticationForm):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _limit_username(self)


class AdminLoginForm(AdminAuthenticationForm):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        _limit_username(self)


login_view = LoginView.as_view(authentication_form=LoginForm)

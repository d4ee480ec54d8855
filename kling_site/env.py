"""Typed, strict reading of environment variables on top of django-environ.

django-environ parses URLs and lists well, but it quietly reads "maybe" as False and lets an int's ValueError
escape as a traceback. Each reader here turns a bad value into ImproperlyConfigured with one sentence that
names the variable, so a misconfigured deploy fails at start-up in plain words.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    def __init__(self, dotenv: Path | None = None):
        self._env = environ.Env()
        if dotenv is not None and dotenv.is_file():
            environ.Env.read_env(str(dotenv), overwrite=False)

    @staticmethod
    def _raw(name: str) -> str | None:
        value = os.environ.get(name)
        if value is None:
            file_name = os.environ.get(f"{name}_FILE")  # secrets mounted as files (Docker/K8s)
            if file_name:
                try:
                    return Path(file_name).read_text().strip()
                except OSError as exc:
                    raise ImproperlyConfigured(f"{name}_FILE points at {file_name}, which cannot be read.") from exc
        return value

    def str(self, name: str, default: str) -> str:
        value = self._raw(name)
        return default if value is None else value

    def bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if value.strip().lower() in _TRUE:
            return True
        if value.strip().lower() in _FALSE:
            return False
        raise ImproperlyConfigured(f"{name} must be true or false (1/0, yes/no, on/off), not {value!r}.")

    def int(self, name: str, default: int) -> int:
        value = self._raw(name)
        if value is None or value.strip() == "":
            return default
        try:
            return int(value.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None

    def float(self, name: str, default: float) -> float:
        value = self._raw(name)
        if value is None or value.strip() == "":
            return default
        try:
            return float(value.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name} must be a number, not {value!r}.") from None

    def list(self, name: str, default: list[str]) -> list[str]:
        value = self._raw(name)
        if value is None:
            return default
        return [item.strip() for item in value.split(",") if item.strip()]

    def path(self, name: str, default: Path) -> Path:
        value = self._raw(name)
        return Path(value).expanduser().resolve() if value else default

    def db(self, name: str, default: str) -> dict[str, Any]:
        value = self._raw(name) or default
        scheme = value.split(":", 1)[0]
        if scheme not in environ.Env.DB_SCHEMES:
            raise ImproperlyConfigured(f"{name} must start with postgres://, sqlite:/// or another known scheme.")
        try:
            config = environ.Env.db_url_config(value)
        except (ValueError, KeyError, ImproperlyConfigured) as exc:
            raise ImproperlyConfigured(f"{name} is not a database URL Django understands ({exc}).") from None
        return config

    def email(self, name: str, default: str) -> dict[str, Any]:
        value = self._raw(name) or default
        try:
            return environ.Env.email_url_config(value)
        except (ValueError, KeyError) as exc:
            raise ImproperlyConfigured(
                f"{name} is not an e-mail URL such as smtp+tls://user:pass@host:587 ({exc})."
            ) from None

    def secret_key(self, *, debug: bool, dev_key_file: Path) -> str:
        """SECRET_KEY is required in production; in DEBUG a random key is kept in var/ for this checkout."""
        value = self._raw("SECRET_KEY")
        if value:
            return value
        if not debug:
            raise ImproperlyConfigured(
                "SECRET_KEY is not set: outside DEBUG the site needs a SECRET_KEY environment variable "
                "(50+ random characters, e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(50))'`)."
            )
        return _dev_secret(dev_key_file, lambda: secrets.token_urlsafe(50))

    def fernet_keys(self, name: str, *, debug: bool, dev_key_file: Path) -> list[str]:
        """Comma-separated Fernet keys, newest first (MultiFernet encrypts with the first, decrypts with any)."""
        keys = self.list(name, [])
        if not keys:
            if not debug:
                raise ImproperlyConfigured(
                    f"{name} is not set: outside DEBUG provider secrets need a Fernet key "
                    "(`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)."
                )
            return [_dev_secret(dev_key_file, lambda: Fernet.generate_key().decode())]
        for key in keys:
            try:
                Fernet(key)
            except ValueError:
                raise ImproperlyConfigured(
                    f"{name} holds a value that is not a Fernet key (32 url-safe base64 bytes)."
                ) from None
        return keys


def _dev_secret(path: Path, make: Any) -> str:
    """A per-checkout development secret, created once under var/ (never committed)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        value = make()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value

"""`make run` (manage.py devserver) refuses a port that is taken with one sentence, before it starts anything or
shows the one-time demo password (found by the outside new-user pass: the simulator crashed with a traceback)."""

from __future__ import annotations

import socket

import pytest
from django.core.management import CommandError, call_command

from generations.models import ProviderCredential

pytestmark = pytest.mark.django_db


def test_a_taken_simulator_port_is_named_and_nothing_starts(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(CommandError) as refused:
            call_command("devserver", port=0, simulator_port=busy)
    assert f"Port {busy} for SIMULATOR_PORT (the provider simulator) is already in use" in str(refused.value)
    assert f"SIMULATOR_PORT={busy + 10} make run" in str(refused.value)
    assert "password" not in capsys.readouterr().out
    assert not ProviderCredential.objects.exists()  # nothing was set up


def test_the_site_and_the_simulator_need_two_ports() -> None:
    with pytest.raises(CommandError, match="two different ports"):
        call_command("devserver", port=8123, simulator_port=8123)

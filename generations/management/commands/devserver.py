"""`make run`: the whole site on embedded defaults, in one terminal. Ctrl-C stops everything it started.

Processes (honcho): web (gunicorn), two short-queue workers and one `long` worker (RQ with scheduler and sweep
ticker, see WORKERS), the provider simulator, and a private redis-server when none answers at REDIS_URL. Data
lives under var/.
"""

from __future__ import annotations

import os
import socket
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from honcho.manager import Manager
from honcho.printer import Printer

from generations.services.demo import demo_admin, demo_credentials, prices_seed
from kling_site import devredis

# The Procfile's worker processes, with two short-queue workers: a Segmind v1 call (minutes) only ever holds
# `longworker`, and one submit hanging until its read timeout holds one short worker while the other goes on.
WORKERS = [
    ("worker1", ("default", "fetch")),
    ("worker2", ("default", "fetch")),
    ("longworker", ("long",)),
    ("hooksworker", ("hooks",)),
]


class Command(BaseCommand):
    help = "Run web, worker, simulator (and Redis if needed) together for development."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--simulator-port", type=int, default=int(os.environ.get("SIMULATOR_PORT", 8765)))
        parser.add_argument("--task-seconds", type=float, default=float(os.environ.get("SIM_TASK_SECONDS", 8)))

    def handle(self, *args: object, port: int, simulator_port: int, task_seconds: float, **options: object) -> None:
        _check_ports({"PORT (the site)": port, "SIMULATOR_PORT (the provider simulator)": simulator_port})
        py = sys.executable
        manager = Manager(Printer(sys.stdout))
        env = dict(os.environ, DEBUG=os.environ.get("DEBUG", "1"), PYTHONUNBUFFERED="1")

        redis_url = settings.REDIS_URL
        if not devredis.reachable(redis_url):
            redis_port = devredis.free_port()
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            cmd = devredis.server_command(redis_port, settings.VAR_DIR / "redis")
            manager.add_process("redis", " ".join(cmd), env=env)
            self.stdout.write(
                f"No Redis at REDIS_URL; starting a private one on port {redis_port} (data in var/redis)."
            )
        sim_url = f"http://127.0.0.1:{simulator_port}"
        env.update(
            REDIS_URL=redis_url,
            FETCH_ALLOWED_HOSTS=f"127.0.0.1:{simulator_port}",
            PUBLIC_BASE_URL=os.environ.get("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}"),
            POLL_FIRST_SECONDS=os.environ.get("POLL_FIRST_SECONDS", "2"),
            POLL_MAX_SECONDS=os.environ.get("POLL_MAX_SECONDS", "10"),
        )

        call_command("migrate", interactive=False, verbosity=0)
        prices_seed()
        made = demo_credentials(sim_url)
        username, password = demo_admin()
        self._banner(port, username, password, made)

        manager.add_process(
            "web",
            f"{py} -m gunicorn kling_site.wsgi --bind 127.0.0.1:{port} --workers 2 "
            "--threads 4 --timeout 60 --access-logfile -",
            env=env,
        )
        for name, queues in WORKERS:
            manager.add_process(name, f"{py} manage.py rqworker {' '.join(queues)} --with-scheduler", env=env)
        manager.add_process(
            "simulator", f"{py} manage.py simulator --port {simulator_port} --task-seconds {task_seconds}", env=env
        )
        manager.loop()
        sys.exit(manager.returncode)

    def _banner(self, port: int, username: str, password: str | None, made: int) -> None:
        lines = [f"Kling Studio is starting at http://127.0.0.1:{port}/"]
        if password:
            lines.append(f"Demo admin: username {username!r}, password {password!r} (shown once; keep it).")
        else:
            lines.append(f"Demo admin {username!r} exists; `python manage.py changepassword {username}` resets it.")
        if made:
            lines.append(f"Created {made} provider credentials that point at the local simulator.")
        self.stdout.write("\n".join(["=" * 72, *lines, "=" * 72]))


def _check_ports(ports: dict[str, int]) -> None:
    """Before anything starts (and before the one-time demo password is shown): each port must be free."""
    if len(set(ports.values())) < len(ports):
        raise CommandError(f"The site and the simulator need two different ports: {ports}.")
    for name, number in ports.items():
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", number))
            except OSError:
                variable = name.split()[0]
                raise CommandError(
                    f"Port {number} for {name} is already in use by another program. Choose a free one, "
                    f"e.g. {variable}={number + 10} make run."
                ) from None

"""A local stand-in for every provider the site talks to, with real MP4s and misbehaviour on demand.

See docs/providers.md. Nothing in this package imports Django; ``manage.py simulator`` wraps it.
"""

from __future__ import annotations

from generations.simulator.faults import FAULTS, Fault, FaultError
from generations.simulator.server import DEFAULT_KEYS, Simulator

__all__ = ["DEFAULT_KEYS", "FAULTS", "Fault", "FaultError", "Simulator"]

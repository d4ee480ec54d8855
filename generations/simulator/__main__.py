"""``python -m generations.simulator --port 8765 --task-seconds 10 [--fault SPEC ...] [--key provider=value ...]``."""

from __future__ import annotations

import sys

from generations.simulator.cli import main

sys.exit(main())

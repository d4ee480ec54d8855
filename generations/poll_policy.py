"""When to ask a provider again about a task: sparse early, dense around the time such videos usually take.

A task of a kind the site has made before (same model, mode and duration) usually takes about as long as the last
ones did (services.timing.expected_seconds). So instead of a doubling backoff, which can leave a finished video
waiting up to POLL_MAX_SECONDS, the schedule for an expected time E is:

- nothing until 65 % of E (but never a gap over the cap: the waits are split evenly),
- from there every `step + 0.1·|t - E|` seconds, `step` being E/60 within 2.5 to 3 s: the requests crowd around E,
  where such tasks finish, and thin out on both sides of it (a task 60 s late is asked every ~9 s), up to the cap.

Over task times of 30-300 s that spread 5-25 % around their kind's usual time, a finished video is seen about
2 s after the provider finished (p95 4-8 s) for about 0.8 requests per 10 s of generation time
(`bench/ready_latency.py`). With nothing known (fewer than three recent videos of the kind) the caller's old
backoff applies unchanged. The function is pure: the pipeline passes what it knows, and the benchmark runs the
same function against simulated task times.
"""

from __future__ import annotations

import math

EARLY_SHARE = 0.65  # the first look
STEP_SHARE = 1 / 60  # the step at E is E/60 ...
STEP_MIN_S = 2.5  # ... but at least this ...
STEP_MAX_S = 3.0  # ... and at most this
SPREAD = 0.1  # seconds added to the step per second away from E (either side)
FLOOR_S = 1.0  # never sooner than this (RQ's scheduler keeps whole seconds anyway)
RETRY_AFTER_MAX_S = 600.0  # a provider's Retry-After is honoured up to ten minutes (as pipeline.backoff does)


def dense_step(expected_s: float, *, cap_s: float) -> float:
    """The gap between requests at the expected end."""
    return min(max(expected_s * STEP_SHARE, STEP_MIN_S), STEP_MAX_S, cap_s)


def poll_delay(
    elapsed_s: float,
    expected_s: float | None,
    *,
    fallback_s: float,
    retry_after: float | None = None,
    floor_s: float = FLOOR_S,
    cap_s: float = 60.0,
) -> float:
    """Seconds from now to the next status request of a task submitted `elapsed_s` ago.

    `expected_s`: how long such tasks usually take (None: unknown, so `fallback_s`, the old backoff, is used).
    The planned delay lies in [floor_s, cap_s]; a provider's `retry_after` wins over both (never poll sooner than
    it asks).
    """
    if expected_s is None or expected_s <= 0:
        delay = fallback_s
    else:
        delay = min(max(_planned(max(elapsed_s, 0.0), expected_s, cap_s), floor_s), cap_s)
    if retry_after:
        delay = max(delay, min(retry_after, RETRY_AFTER_MAX_S))
    return round(delay, 2)


def _planned(elapsed: float, expected: float, cap_s: float) -> float:
    step = dense_step(expected, cap_s=cap_s)
    wait = EARLY_SHARE * expected - elapsed
    # A poll job may start up to a second early (RQ keeps whole seconds): one that lands just before the first look
    # does not schedule another a moment later.
    if wait > step:
        return wait / math.ceil(wait / cap_s)
    return step + SPREAD * abs(elapsed - expected)

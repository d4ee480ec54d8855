"""The poll schedule (generations.poll_policy): sparse early, dense near the expected end, old backoff when unknown."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generations.poll_policy import FLOOR_S, SPREAD, STEP_MAX_S, dense_step, poll_delay

FALLBACK = 5.0
elapsed_s = st.floats(min_value=0, max_value=3600, allow_nan=False)
expected_s = st.floats(min_value=5, max_value=900, allow_nan=False)


def polls(expected: float, finish: float, cap: float = 60.0) -> list[float]:
    """The times the schedule asks at, from submit until the first request that sees the task finished."""
    t, asked = 0.0, []
    while True:
        t += poll_delay(t, expected, fallback_s=FALLBACK, cap_s=cap)
        asked.append(t)
        if t >= finish:
            return asked


def test_the_first_poll_waits_for_most_of_the_expected_time():
    assert 0.6 * 80 <= poll_delay(0, 80, fallback_s=FALLBACK) <= 0.7 * 80


def test_a_long_first_wait_is_split_so_no_gap_exceeds_the_cap():
    asked = polls(300, finish=300)
    early = [t for t in asked if t <= 0.65 * 300 + 0.01]
    assert len(early) == 4 and early[-1] >= 0.6 * 300  # 195 s in four equal gaps of under 60 s


def test_a_video_that_takes_the_expected_time_is_seen_within_one_dense_step():
    for expected in (30, 120, 300):
        assert polls(expected, finish=expected)[-1] - expected <= STEP_MAX_S


def test_polls_stay_under_one_per_10_s_of_generation_time_over_30_to_300_s_tasks():
    """The budget is a mean: the shortest tasks spend a little more than theirs, the long ones much less."""
    times = range(30, 301, 10)
    assert sum(len(polls(t, finish=t)) for t in times) <= sum(times) / 10
    assert len(polls(300, finish=300)) <= 20


def test_polls_are_densest_at_the_expected_end_and_sparse_before():
    asked = polls(200, finish=260)
    gaps = {round(a): b - a for a, b in itertools.pairwise(asked)}
    near = [gap for t, gap in gaps.items() if abs(t - 200) <= 10]
    away = [gap for t, gap in gaps.items() if abs(t - 200) >= 40]
    assert len([t for t in asked if t < 0.65 * 200 - 0.01]) <= 2
    assert near and max(near) <= STEP_MAX_S + 1.0
    assert away and min(away) > max(near)


def test_a_video_much_slower_than_expected_is_polled_less_and_less_often_up_to_the_cap():
    asked = polls(60, finish=1800)
    gaps = [b - a for a, b in itertools.pairwise(asked)]
    assert gaps[-1] == pytest.approx(60.0) and max(gaps) <= 60.0 + 1e-6
    assert gaps[-30] > gaps[len(gaps) // 4]  # growing after the window
    assert asked[-1] - 1800 <= 60.0


def test_with_nothing_known_the_old_backoff_is_used():
    assert poll_delay(0, None, fallback_s=5.0) == 5.0
    assert poll_delay(300, None, fallback_s=61.3) == 61.3  # even above the cap: the old rule, unchanged


@given(elapsed_s, expected_s, st.floats(min_value=0.1, max_value=3600, allow_nan=False))
def test_a_provider_retry_after_is_always_honoured(elapsed, expected, retry_after):
    assert poll_delay(elapsed, expected, fallback_s=FALLBACK, retry_after=retry_after) >= min(retry_after, 600) - 0.01


@given(elapsed_s, expected_s, st.floats(min_value=1, max_value=120, allow_nan=False))
def test_the_planned_delay_is_never_below_the_floor_nor_above_the_cap(elapsed, expected, cap):
    delay = poll_delay(elapsed, expected, fallback_s=FALLBACK, cap_s=cap)
    assert min(FLOOR_S, cap) - 0.01 <= delay <= cap + 0.01


@given(expected_s, st.floats(min_value=-0.2, max_value=0.2))
def test_a_task_finishing_near_its_expected_time_is_seen_soon(expected, off):
    """Finishing within ±20 % of E, a task is seen within a step plus a tenth of how far from E it finished."""
    finish = expected * (1 + off)
    late = polls(expected, finish)[-1] - finish
    assert late <= dense_step(expected, cap_s=60) + SPREAD * abs(finish - expected) * 1.2 + 0.01

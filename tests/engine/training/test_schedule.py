"""The learning-rate schedule spans exactly the run's steps and ends at its final value."""

from __future__ import annotations

import math

import pytest

from workers.engine.timing import LearningRateSchedule


@pytest.mark.parametrize("kind, final", [("cosine", 0.0), ("onecycle", 0.0), ("constant", 0.1)])
def test_final_value_is_reached_exactly_at_the_last_step(kind, final):
    schedule = LearningRateSchedule(0.1, 40, kind, warmup_fraction=0.1)
    assert schedule.lr(40) == pytest.approx(final)
    assert schedule.final_lr == pytest.approx(final)
    if kind != "constant":
        # The last step still trains, on a small positive rate.
        assert schedule.lr(39) > 0


def test_cosine_without_warmup_starts_at_the_peak_and_halves_midway():
    schedule = LearningRateSchedule(0.2, 100, "cosine")
    assert schedule.lr(0) == pytest.approx(0.2)
    assert schedule.lr(50) == pytest.approx(0.1)
    rates = [schedule.lr(step) for step in range(101)]
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:], strict=False))


def test_warmup_rises_linearly_to_the_peak():
    schedule = LearningRateSchedule(1.0, 100, "onecycle", warmup_fraction=0.2)
    assert schedule.warmup_steps == 20
    assert schedule.lr(0) == pytest.approx(1 / 21)
    assert schedule.lr(19) == pytest.approx(20 / 21)
    assert schedule.lr(20) == pytest.approx(1.0)
    assert schedule.lr(60) == pytest.approx(0.5)


def test_a_reduced_run_compresses_the_schedule_rather_than_truncating_it():
    full = LearningRateSchedule(0.1, 1000, "cosine")
    reduced = LearningRateSchedule(0.1, 100, "cosine")
    for fraction in (0.25, 0.5, 0.75, 1.0):
        assert reduced.lr(math.floor(100 * fraction)) == pytest.approx(full.lr(math.floor(1000 * fraction)))

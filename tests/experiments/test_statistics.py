"""The comparison statistics on planted data, checked against scipy.stats computed here."""

import numpy as np
import pytest
from scipy import stats

from backend.experiments.statistics import (
    BETTER,
    NOT_APPLICABLE,
    WITHIN_NOISE,
    WORSE,
    mean_ci,
    paired_comparison,
    pareto_front,
    tied_for_first,
    time_to_target,
)


def scipy_interval(values):
    values = np.asarray(values, dtype=float)
    return stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))


def test_the_mean_and_its_t_interval_match_scipy():
    values = [0.91, 0.87, 0.93, 0.89, 0.90]

    estimate = mean_ci(values)

    low, high = scipy_interval(values)
    assert estimate.n == 5
    assert estimate.mean == pytest.approx(np.mean(values))
    assert (estimate.low, estimate.high) == (pytest.approx(low), pytest.approx(high))
    assert estimate.half_width == pytest.approx((high - low) / 2)


def test_two_seeds_use_one_degree_of_freedom():
    estimate = mean_ci([0.5, 0.7])

    # t(0.975, 1) = 12.706: two seeds give a wide interval.
    assert estimate.half_width == pytest.approx(stats.t.ppf(0.975, 1) * np.std([0.5, 0.7], ddof=1) / np.sqrt(2))
    assert estimate.half_width == pytest.approx(1.2706, abs=1e-4)


def test_one_seed_has_a_mean_but_no_interval():
    estimate = mean_ci([0.8])

    assert (estimate.mean, estimate.low, estimate.high, estimate.half_width, estimate.n) == (0.8, None, None, None, 1)


def test_no_values_have_no_mean():
    assert mean_ci([]).mean is None and mean_ci([]).n == 0


def test_identical_values_give_an_interval_of_zero_width():
    estimate = mean_ci([0.75, 0.75, 0.75])

    assert (estimate.low, estimate.mean, estimate.high) == (0.75, 0.75, 0.75)


def test_a_paired_difference_whose_interval_excludes_zero_is_better():
    baseline = {0: 0.80, 1: 0.82, 2: 0.78, 3: 0.81}
    policy = {0: 0.85, 1: 0.86, 2: 0.84, 3: 0.85}

    comparison = paired_comparison(policy, baseline)

    differences = [policy[seed] - baseline[seed] for seed in sorted(baseline)]
    low, high = scipy_interval(differences)
    assert comparison.shared_seeds == 4
    assert comparison.difference.mean == pytest.approx(np.mean(differences))
    assert (comparison.difference.low, comparison.difference.high) == (pytest.approx(low), pytest.approx(high))
    assert low > 0 and comparison.verdict == BETTER


def test_the_same_difference_read_the_other_way_is_worse():
    baseline = {0: 0.80, 1: 0.82, 2: 0.78, 3: 0.81}
    policy = {0: 0.85, 1: 0.86, 2: 0.84, 3: 0.85}

    assert paired_comparison(baseline, policy).verdict == WORSE


def test_a_difference_whose_interval_contains_zero_is_within_noise():
    baseline = {0: 0.80, 1: 0.82, 2: 0.78}
    policy = {0: 0.83, 1: 0.79, 2: 0.80}

    comparison = paired_comparison(policy, baseline)

    low, high = scipy_interval([0.03, -0.03, 0.02])
    assert low < 0 < high
    assert comparison.verdict == WITHIN_NOISE


def test_pairing_uses_only_the_shared_seeds():
    baseline = {0: 0.80, 1: 0.82, 2: 0.78}
    policy = {1: 0.92, 2: 0.88, 7: 0.10}

    comparison = paired_comparison(policy, baseline)

    assert comparison.shared_seeds == 2
    assert comparison.difference.mean == pytest.approx(0.10)


@pytest.mark.parametrize("policy", [{0: 0.9}, {5: 0.9, 6: 0.9}, {}])
def test_fewer_than_two_shared_seeds_is_not_applicable(policy):
    comparison = paired_comparison(policy, {0: 0.8, 1: 0.8})

    assert comparison.verdict == NOT_APPLICABLE
    assert comparison.difference.low is None and comparison.difference.high is None


def test_a_constant_difference_is_better_or_worse_not_noise():
    baseline = {0: 0.5, 1: 0.6, 2: 0.7}
    ahead = {0: 0.75, 1: 0.85, 2: 0.95}

    comparison = paired_comparison(ahead, baseline)

    assert comparison.difference.low == pytest.approx(0.25) and comparison.difference.high == pytest.approx(0.25)
    assert comparison.verdict == BETTER
    assert paired_comparison(baseline, ahead).verdict == WORSE
    assert paired_comparison(baseline, baseline).verdict == WITHIN_NOISE


def test_rows_within_noise_of_the_leader_on_shared_seeds_are_tied():
    samples = {
        "rs2": {0: 0.90, 1: 0.92, 2: 0.91},
        "close": {0: 0.91, 1: 0.90, 2: 0.90},
        "behind": {0: 0.80, 1: 0.81, 2: 0.79},
    }

    tied = tied_for_first(samples)

    assert paired_comparison(samples["close"], samples["rs2"]).verdict == WITHIN_NOISE
    assert paired_comparison(samples["behind"], samples["rs2"]).verdict == WORSE
    assert tied == {"rs2", "close"}


def test_without_shared_seeds_overlapping_intervals_tie():
    samples = {
        "leader": {0: 0.90, 1: 0.92, 2: 0.88},
        "overlaps": {10: 0.89, 11: 0.86, 12: 0.88},
        "apart": {20: 0.70, 21: 0.71, 22: 0.69},
        "single": {30: 0.895},
    }

    tied = tied_for_first(samples)

    leader_low, _ = scipy_interval([0.90, 0.92, 0.88])
    _, overlaps_high = scipy_interval([0.89, 0.86, 0.88])
    _, apart_high = scipy_interval([0.70, 0.71, 0.69])
    assert overlaps_high >= leader_low and apart_high < leader_low
    assert tied == {"leader", "overlaps"}


def test_nothing_is_tied_when_nothing_has_results():
    assert tied_for_first({"a": {}, "b": {}}) == set()


def test_the_pareto_front_keeps_points_no_other_beats_on_both_cost_and_accuracy():
    points = [
        (10.0, 0.60),  # cheapest
        (20.0, 0.80),
        (25.0, 0.70),  # dominated by (20, 0.80)
        (40.0, 0.90),
        (40.0, 0.85),  # same cost, lower accuracy
        (100.0, 0.90),  # same accuracy, higher cost
        (None, 0.99),  # no cost yet
    ]

    assert pareto_front(points) == [True, True, False, True, False, False, False]


def test_time_to_target_is_the_seconds_at_the_first_evaluation_reaching_it():
    # (cumulative seconds incl. 30 s of selection, accuracy) per evaluation.
    curve = [(35.0, 0.40), (40.0, 0.71), (45.0, 0.69), (50.0, 0.75)]

    assert time_to_target(curve, 0.70) == 40.0
    assert time_to_target(curve, 0.75) == 50.0
    assert time_to_target(curve, 0.71) == 40.0
    assert time_to_target(curve, 0.80) is None

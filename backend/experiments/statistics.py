"""Statistics of the comparison pages: pure functions over numbers, no database.

Intervals are Student t intervals with n - 1 degrees of freedom, their
quantiles from ``scipy.stats``, as the design asks for seeds that are few.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean, stdev
from typing import TypeVar

from scipy import stats

CONFIDENCE = 0.95

BETTER = "better"
WORSE = "worse"
WITHIN_NOISE = "within noise"
NOT_APPLICABLE = "n/a"
VERDICTS = (BETTER, WORSE, WITHIN_NOISE, NOT_APPLICABLE)

Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` values with its confidence interval (None with fewer than two values)."""

    mean: float | None
    low: float | None
    high: float | None
    n: int

    @property
    def half_width(self) -> float | None:
        if self.low is None or self.high is None:
            return None
        return (self.high - self.low) / 2


def _half_width(values: Sequence[float], confidence: float) -> float:
    spread = stdev(values)
    if spread == 0:
        # Identical values: the interval degenerates to the mean instead of scipy's nan for a zero scale.
        return 0.0
    quantile = stats.t.ppf((1 + confidence) / 2, len(values) - 1)
    return float(quantile * spread / math.sqrt(len(values)))


def mean_ci(values: Iterable[float], *, confidence: float = CONFIDENCE) -> Estimate:
    """The mean of ``values`` and its t interval; one value has a mean but no interval."""
    values = [float(value) for value in values]
    if not values:
        return Estimate(None, None, None, 0)
    mean = fmean(values)
    if len(values) == 1:
        return Estimate(mean, None, None, 1)
    half = _half_width(values, confidence)
    return Estimate(mean, mean - half, mean + half, len(values))


@dataclass(frozen=True)
class PairedComparison:
    """A policy against a baseline on the seeds both have: the per-seed differences' mean and t interval."""

    shared_seeds: int
    difference: Estimate
    verdict: str


def verdict_of(difference: Estimate) -> str:
    """ "better" / "worse" when the interval excludes 0, "within noise" when it contains it, "n/a" below 2 pairs."""
    if difference.n < 2 or difference.low is None or difference.high is None:
        return NOT_APPLICABLE
    if difference.low > 0:
        return BETTER
    if difference.high < 0:
        return WORSE
    return WITHIN_NOISE


def paired_comparison(
    values: Mapping[int, float], baseline: Mapping[int, float], *, confidence: float = CONFIDENCE
) -> PairedComparison:
    """Compare ``values`` with ``baseline``, both keyed by seed, over the seeds they share.

    Differences that are all equal give a zero-width interval at their mean,
    so a constant non-zero difference reads better or worse, and none at all
    reads within noise.
    """
    shared = sorted(set(values) & set(baseline))
    difference = mean_ci([values[seed] - baseline[seed] for seed in shared], confidence=confidence)
    return PairedComparison(shared_seeds=len(shared), difference=difference, verdict=verdict_of(difference))


def leader_of(samples: Mapping[Key, Mapping[int, float]]) -> Key | None:
    """The key with the highest mean (the first listed among equals); None when nothing has a value."""
    leader, best = None, None
    for key, values in samples.items():
        if not values:
            continue
        mean = fmean(values.values())
        if best is None or mean > best:
            leader, best = key, mean
    return leader


def tied_for_first(samples: Mapping[Key, Mapping[int, float]], *, confidence: float = CONFIDENCE) -> set[Key]:
    """The leader (highest mean) and every key whose results cannot be told apart from it.

    ``samples`` maps each key to its values by seed. A key that shares at
    least two seeds with the leader is tied when the paired comparison of the
    two is "within noise". With fewer shared seeds the pairing says nothing,
    so a key is tied when its t interval overlaps the leader's; a key or a
    leader with a single value has no interval and is not tied then.
    """
    leader = leader_of(samples)
    if leader is None:
        return set()
    leader_estimate = mean_ci(samples[leader].values(), confidence=confidence)
    tied = {leader}
    for key, values in samples.items():
        if key == leader or not values:
            continue
        paired = paired_comparison(values, samples[leader], confidence=confidence)
        if paired.shared_seeds >= 2:
            if paired.verdict == WITHIN_NOISE:
                tied.add(key)
            continue
        estimate = mean_ci(values.values(), confidence=confidence)
        if None not in (estimate.high, leader_estimate.low) and estimate.high >= leader_estimate.low:
            tied.add(key)
    return tied


def pareto_front(points: Sequence[tuple[float | None, float | None]]) -> list[bool]:
    """Which (cost, accuracy) points no other point dominates (cost no higher and accuracy no lower, one strictly).

    Lower cost and higher accuracy are better. Points missing a coordinate are never on the front.
    """
    known = [(cost, accuracy) for cost, accuracy in points if cost is not None and accuracy is not None]
    flags = []
    for cost, accuracy in points:
        if cost is None or accuracy is None:
            flags.append(False)
            continue
        dominated = any(
            other_cost <= cost and other_accuracy >= accuracy and (other_cost < cost or other_accuracy > accuracy)
            for other_cost, other_accuracy in known
        )
        flags.append(not dominated)
    return flags


def time_to_target(curve: Iterable[tuple[float, float]], target: float) -> float | None:
    """Seconds at the first evaluation whose accuracy reaches ``target`` (None: never).

    ``curve`` holds (cumulative seconds, accuracy) pairs in evaluation order.
    The stored seconds already include selection and exclude evaluation time.
    """
    for seconds, accuracy in curve:
        if accuracy >= target:
            return seconds
    return None

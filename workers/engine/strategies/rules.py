"""Selection rules over a per-example score: which ``count`` examples a score-based method keeps.

Every rule takes the scores of some examples (higher = harder, by convention
of the caller) and returns the positions it keeps, exactly ``count`` of them.
Ties are broken by position (stable sorts), so a rule is deterministic; only
the stratified rule of CCS draws at random, and only from the ``rng`` it is
handed. ``select`` applies a rule to the whole set or, class-balanced, to each
class with its ``class_quotas`` share.

Plain numpy, so that the rules can be read and tested without torch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workers.engine.strategies.base import class_quotas

# A rule: (scores of the candidates, how many to keep, rng) -> kept positions into ``scores``.
Rule = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _ascending(scores: np.ndarray) -> np.ndarray:
    return np.argsort(scores, kind="stable")


def _descending(scores: np.ndarray) -> np.ndarray:
    # Negating keeps the stable tie order (lower position first), which reversing an ascending sort would not.
    return np.argsort(-scores, kind="stable")


def _drop_count(fraction: float, total: int, count: int) -> int:
    """``fraction`` of ``total`` taken off the top, fewer when otherwise fewer than ``count`` would remain."""
    return min(int(np.floor(fraction * total)), total - count)


def keep_highest(offset: float = 0.0) -> Rule:
    """The highest scores, after dropping the very highest ``offset`` fraction (Paul et al., 2021)."""

    def rule(scores: np.ndarray, count: int, _rng: np.random.Generator) -> np.ndarray:
        skip = _drop_count(offset, len(scores), count)
        return _descending(scores)[skip : skip + count]

    return rule


def keep_lowest() -> Rule:
    """The lowest scores."""

    def rule(scores: np.ndarray, count: int, _rng: np.random.Generator) -> np.ndarray:
        return _ascending(scores)[:count]

    return rule


def keep_middle() -> Rule:
    """The band of ``count`` examples centred on the median rank (the scores nearest the median).

    A band of ranks rather than of absolute distance to the median, as in the
    Moderate-DS authors' code: it stays centred on the median however skewed
    the scores are on either side.
    """

    def rule(scores: np.ndarray, count: int, _rng: np.random.Generator) -> np.ndarray:
        start = (len(scores) - count) // 2
        return _ascending(scores)[start : start + count]

    return rule


def keep_strata(hard_cutoff: float, strata: int) -> Rule:
    """Coverage-centric stratified sampling (Zheng et al., ICLR 2023, Algorithm 1).

    Drop the hardest ``hard_cutoff`` fraction (fewer when too few would
    remain), split the remaining score range into ``strata`` equal-width bins,
    then visit the bins from the smallest to the largest, giving each
    ``min(its size, remaining budget // remaining non-empty bins)`` examples
    drawn at random within it. The allocation always adds up to ``count``:
    a bin that takes less than its share leaves the rest to larger bins.
    """

    def rule(scores: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
        skip = _drop_count(hard_cutoff, len(scores), count)
        kept = _descending(scores)[skip:]
        values = scores[kept]
        low, high = float(values.min()), float(values.max())
        width = (high - low) / strata
        bins = np.zeros(len(kept), dtype=np.int64) if width == 0 else ((values - low) / width).astype(np.int64)
        bins = np.minimum(bins, strata - 1)
        sizes = np.bincount(bins, minlength=strata)
        order = [int(b) for b in np.argsort(sizes, kind="stable") if sizes[b] > 0]
        chosen, remaining = [], count
        for visited, stratum in enumerate(order):
            share = min(int(sizes[stratum]), remaining // (len(order) - visited))
            members = kept[bins == stratum]
            chosen.append(rng.choice(members, size=share, replace=False))
            remaining -= share
        return np.concatenate(chosen)

    return rule


def select(
    rule: Rule,
    scores: np.ndarray,
    labels: np.ndarray,
    count: int,
    rng: np.random.Generator,
    *,
    class_balanced: bool,
) -> np.ndarray:
    """Indices of the ``count`` examples ``rule`` keeps, over all examples or within each class by its quota."""
    scores = np.asarray(scores, dtype=np.float64)
    if not class_balanced:
        return rule(scores, count, rng).astype(np.int64)
    picks = []
    for label, quota in class_quotas(labels, count).items():
        members = np.flatnonzero(labels == label)
        picks.append(members[rule(scores[members], quota, rng)])
    return np.concatenate(picks).astype(np.int64)

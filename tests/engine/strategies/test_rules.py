"""Selection rules over a per-example score, on planted scores whose answer is known."""

from __future__ import annotations

import numpy as np

from workers.engine.strategies import class_quotas
from workers.engine.strategies.rules import keep_highest, keep_lowest, keep_middle, keep_strata, select

RNG = np.random.default_rng(0)


def test_keep_highest_takes_the_top_scores_and_breaks_ties_by_index():
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.2])
    assert keep_highest()(scores, 3, RNG).tolist() == [1, 3, 2]


def test_offset_drops_the_very_hardest_first_and_fewer_when_too_few_would_remain():
    scores = np.arange(10.0)
    assert sorted(keep_highest(offset=0.2)(scores, 3, RNG).tolist()) == [5, 6, 7]
    # Dropping 5 would leave fewer than 8 examples: only 2 come off.
    assert sorted(keep_highest(offset=0.5)(scores, 8, RNG).tolist()) == list(range(8))


def test_keep_lowest_takes_the_bottom_scores():
    scores = np.array([3.0, 1.0, 2.0, 0.0])
    assert keep_lowest()(scores, 2, RNG).tolist() == [3, 1]


def test_keep_middle_keeps_the_band_around_the_median():
    scores = np.array([9.0, 0.0, 5.0, 4.0, 6.0, 100.0, 1.0])
    # Sorted: 0, 1, 4, 5, 6, 9, 100 -> the three around the median 5 are 4, 5, 6.
    assert sorted(keep_middle()(scores, 3, RNG).tolist()) == [2, 3, 4]


def test_strata_cover_every_group_equally_and_never_keep_examples_above_the_cutoff():
    # Four well-separated groups of 60, and 20 outliers far above: the 10% cutoff removes 26 from the top.
    scores = np.concatenate([np.repeat([0.0, 1.0, 2.0, 3.0], 60), np.full(20, 9.0)])
    kept = keep_strata(hard_cutoff=0.1, strata=4)(scores, 52, np.random.default_rng(1))
    assert len(kept) == 52 and len(np.unique(kept)) == 52
    assert np.bincount(scores[kept].astype(int), minlength=10).tolist() == [13, 13, 13, 13, 0, 0, 0, 0, 0, 0]
    cut = np.argsort(-scores, kind="stable")[:26]
    assert not np.isin(kept, cut).any()


def test_strata_smaller_than_their_share_pass_the_rest_to_larger_ones():
    # Bins of 2, 10 and 40 examples, a budget of 30: 2, then 14, then 14.
    scores = np.concatenate([np.zeros(2), np.full(10, 1.0), np.full(40, 2.0)])
    kept = keep_strata(hard_cutoff=0.0, strata=3)(scores, 30, np.random.default_rng(0))
    assert np.bincount(scores[kept].astype(int)).tolist() == [2, 10, 18]


def test_strata_take_less_off_the_top_when_the_budget_needs_it():
    scores = np.arange(20.0)
    kept = keep_strata(hard_cutoff=0.5, strata=5)(scores, 18, np.random.default_rng(0))
    assert sorted(kept.tolist()) == list(range(18))


def test_class_balanced_selection_applies_the_rule_within_each_class_by_its_quota():
    labels = np.array([0] * 7 + [1] * 3 + [2] * 5)
    scores = np.arange(15.0)
    kept = select(keep_highest(), scores, labels, 6, RNG, class_balanced=True)
    counts = np.bincount(labels[kept], minlength=3)
    assert dict(enumerate(counts.tolist())) == class_quotas(labels, 6)
    # Within each class the highest scores: 4..6 of class 0, 9 of class 1, 13..14 of class 2.
    assert sorted(kept.tolist()) == [4, 5, 6, 9, 13, 14]
    assert sorted(select(keep_highest(), scores, labels, 6, RNG, class_balanced=False).tolist()) == list(range(9, 15))

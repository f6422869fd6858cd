from __future__ import annotations

import numpy as np
import pytest

from workers.engine.arrays import ArrayDataset
from workers.engine.data.splits import stratified_split
from workers.engine.datasets import balanced_subset
from workers.engine.errors import DatasetError


def unbalanced() -> ArrayDataset:
    y_train = np.array([0] * 10 + [1] * 30 + [2] * 6)
    rng = np.random.default_rng(0)
    return ArrayDataset(
        # Each row's first feature is its index, to check rows and labels stay together.
        x_train=np.column_stack([np.arange(len(y_train)), rng.normal(size=len(y_train))]).astype(np.float32),
        y_train=y_train,
        x_test=np.zeros((4, 2), dtype=np.float32),
        y_test=np.array([0, 1, 2, 1]),
        class_names=["a", "b", "c"],
        kind="features",
    )


def test_it_takes_exactly_the_asked_number_of_each_class():
    dataset = unbalanced()
    subset = balanced_subset(dataset, train_per_class=5, seed=3)

    assert np.bincount(subset.y_train).tolist() == [5, 5, 5]
    rows = subset.x_train[:, 0].astype(int)
    assert len(set(rows.tolist())) == 15
    np.testing.assert_array_equal(dataset.y_train[rows], subset.y_train)
    np.testing.assert_array_equal(dataset.x_train[rows], subset.x_train)
    assert np.all(np.diff(rows) > 0)
    assert subset.x_test is dataset.x_test and subset.y_test is dataset.y_test
    assert (subset.class_names, subset.kind) == (dataset.class_names, dataset.kind)


def test_the_same_seed_gives_the_same_subset_and_another_seed_another():
    dataset = unbalanced()
    first = balanced_subset(dataset, train_per_class=5, seed=3).x_train[:, 0]
    again = balanced_subset(dataset, train_per_class=5, seed=3).x_train[:, 0]
    other = balanced_subset(dataset, train_per_class=5, seed=4).x_train[:, 0]

    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_class_with_too_few_examples_is_named():
    with pytest.raises(DatasetError, match=r"class 'c' has 6 training examples, fewer than the 7 asked for"):
        balanced_subset(unbalanced(), train_per_class=7, seed=0)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_train_per_class_must_be_a_positive_integer(bad):
    with pytest.raises(DatasetError, match="train_per_class must be a positive integer"):
        balanced_subset(unbalanced(), train_per_class=bad, seed=0)


def test_stratified_split_keeps_class_proportions_and_a_training_row_for_every_class():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 1)
    train, test = stratified_split(labels, test_fraction=0.2, seed=0)

    assert np.bincount(labels[test], minlength=3).tolist() == [2, 1, 0]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(16))
    assert np.array_equal(test, stratified_split(labels, test_fraction=0.2, seed=0)[1])

"""Seeded, class-aware index selection: train/test splits and balanced training subsets."""

from __future__ import annotations

import numpy as np

from workers.engine.arrays import ArrayDataset
from workers.engine.errors import DatasetError


def stratified_split(labels: np.ndarray, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) row indices with ``round(test_fraction · n)`` of each class in test.

    A class keeps at least one row in train, so a class with a single row has none in test.
    """
    rng = np.random.default_rng(seed)
    test_rows = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        test_count = min(int(round(test_fraction * len(rows))), len(rows) - 1)
        test_rows.append(rng.permutation(rows)[:test_count])
    test = np.sort(np.concatenate(test_rows)) if test_rows else np.empty(0, dtype=np.int64)
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, test


def balanced_subset(dataset: ArrayDataset, *, train_per_class: int, seed: int) -> ArrayDataset:
    """Exactly ``train_per_class`` random training examples of every class, in their original order.

    The test set is kept whole. DatasetError if a class has fewer examples than asked for.
    """
    if isinstance(train_per_class, bool) or not isinstance(train_per_class, int) or train_per_class < 1:
        raise DatasetError(f"train_per_class must be a positive integer, got {train_per_class!r}")
    rng = np.random.default_rng(seed)
    chosen = []
    for label, name in enumerate(dataset.class_names):
        rows = np.flatnonzero(dataset.y_train == label)
        if len(rows) < train_per_class:
            raise DatasetError(
                f"class {name!r} has {len(rows)} training examples, fewer than the {train_per_class} asked for"
            )
        chosen.append(rng.choice(rows, size=train_per_class, replace=False))
    rows = np.sort(np.concatenate(chosen))
    return ArrayDataset(
        x_train=dataset.x_train[rows],
        y_train=dataset.y_train[rows],
        x_test=dataset.x_test,
        y_test=dataset.y_test,
        class_names=list(dataset.class_names),
        kind=dataset.kind,
    )

"""A small three-class dataset stored for real, and planted predictions for it, with their known confusion."""

from __future__ import annotations

import numpy as np

from tests.conftest import ready_dataset
from workers.engine.arrays import ArrayDataset
from workers.engine.data.store import save_dataset

CLASS_NAMES = ["cat", "dog", "bird"]
# 12 test examples: 5 cats, 4 dogs, 3 birds.
LABELS = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2], dtype=np.int64)
PREDICTED = np.array([0, 0, 0, 1, 2, 1, 1, 0, 1, 2, 0, 0], dtype=np.uint8)


def store_planted_dataset(data_dir, team, user, name: str = "planted"):
    """Save the arrays in the store under ``data_dir`` and return a ready dataset row pointing at them."""
    arrays = ArrayDataset(
        x_train=np.zeros((6, 4), dtype=np.float32),
        y_train=np.array([0, 1, 2, 0, 1, 2], dtype=np.int64),
        x_test=np.arange(48, dtype=np.float32).reshape(12, 4),
        y_test=LABELS,
        class_names=CLASS_NAMES,
        kind="features",
    )
    info = save_dataset(arrays, data_dir, f"{name}.npz")
    dataset = ready_dataset(team, name, user)
    dataset.sha256 = info.sha256
    dataset.class_names = CLASS_NAMES
    dataset.input_shape = [4]
    dataset.train_size, dataset.test_size = 6, 12
    dataset.save()
    return dataset

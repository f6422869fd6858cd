"""Small datasets of each input kind, stored for real, whose pictures are known in advance."""

from __future__ import annotations

import numpy as np

from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus
from workers.engine.arrays import ArrayDataset
from workers.engine.data.store import save_dataset

CLASS_NAMES = ["cat", "dog", "bird"]
# Every image of a class is one flat colour, so a strip's pixels say which class they came from.
COLOURS = [(200, 30, 30), (30, 160, 60), (40, 60, 220)]
TRAIN_COUNTS = [12, 3, 1]
TEST_COUNTS = [2, 1, 4]
# Each 1-D signal of a class is flat at this level: cats low, dogs high, birds in the middle.
SIGNAL_LEVELS = [-1.0, 1.0, 0.0]


def _labels(counts: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts).astype(np.int64)


def image_arrays(size: int = 4) -> ArrayDataset:
    def images(labels):
        pixels = np.array(COLOURS, dtype=np.uint8)[labels]  # N × 3
        return np.ascontiguousarray(np.broadcast_to(pixels[:, :, None, None], (len(labels), 3, size, size)))

    y_train, y_test = _labels(TRAIN_COUNTS), _labels(TEST_COUNTS)
    return ArrayDataset(images(y_train), y_train, images(y_test), y_test, list(CLASS_NAMES), "image")


def signal_arrays(length: int = 40) -> ArrayDataset:
    def signals(labels):
        levels = np.array(SIGNAL_LEVELS, dtype=np.float32)[labels]
        return np.ascontiguousarray(np.broadcast_to(levels[:, None], (len(labels), length)))

    y_train, y_test = _labels(TRAIN_COUNTS), _labels(TEST_COUNTS)
    return ArrayDataset(signals(y_train), y_train, signals(y_test), y_test, list(CLASS_NAMES), "sequence")


def feature_arrays() -> ArrayDataset:
    """Two features: the first is high for cats and low for dogs, the second never varies."""

    def features(labels):
        first = np.array([3.0, -3.0, 0.0], dtype=np.float32)[labels]
        return np.stack([first, np.ones_like(first)], axis=1)

    y_train, y_test = _labels(TRAIN_COUNTS), _labels(TEST_COUNTS)
    return ArrayDataset(features(y_train), y_train, features(y_test), y_test, list(CLASS_NAMES), "features")


def store_dataset(data_dir, team, user, arrays: ArrayDataset, name: str = "pets") -> Dataset:
    """Save ``arrays`` in the store under ``data_dir`` and return a ready row recording what they hold."""
    info = save_dataset(arrays, data_dir, f"{name}.npz")
    return Dataset.objects.create(
        team=team,
        name=name,
        format=DatasetFormat.NPZ,
        source=f"{name}.npz",
        status=DatasetStatus.READY,
        sha256=info.sha256,
        input_kind=info.kind,
        input_shape=info.input_shape,
        class_names=info.class_names,
        class_counts=info.class_counts,
        train_size=info.train_size,
        test_size=info.test_size,
        created_by=user,
    )

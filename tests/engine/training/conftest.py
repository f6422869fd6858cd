"""Tiny synthetic datasets and run configs, so every training test takes about a second."""

from __future__ import annotations

import numpy as np
import pytest

from workers.engine.arrays import ArrayDataset


def blobs(*, train_size: int = 240, test_size: int = 120, num_classes: int = 4, dims: int = 16, seed: int = 0):
    """Gaussian class clusters: learnable in a few rounds, noisy enough that seeds differ."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.5, size=(num_classes, dims))
    y_train = np.arange(train_size) % num_classes
    y_test = np.arange(test_size) % num_classes
    x_train = centres[y_train] + rng.normal(size=(train_size, dims))
    x_test = centres[y_test] + rng.normal(size=(test_size, dims))
    return ArrayDataset(
        x_train=x_train.astype(np.float32),
        y_train=y_train.astype(np.int64),
        x_test=x_test.astype(np.float32),
        y_test=y_test.astype(np.int64),
        class_names=[f"class{index}" for index in range(num_classes)],
        kind="features",
    )


def tiny_images(*, train_size: int = 96, test_size: int = 48, size: int = 8, seed: int = 0) -> ArrayDataset:
    """uint8 colour images whose class sets the mean brightness of one channel."""
    rng = np.random.default_rng(seed)
    num_classes = 3

    def make(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(count) % num_classes
        images = rng.integers(0, 120, size=(count, 3, size, size))
        images[np.arange(count), labels] += 120
        return images.astype(np.uint8), labels.astype(np.int64)

    x_train, y_train = make(train_size)
    x_test, y_test = make(test_size)
    return ArrayDataset(x_train, y_train, x_test, y_test, ["red", "green", "blue"], "image")


def tiny_sequences(*, train_size: int = 120, test_size: int = 60, length: int = 24, seed: int = 0) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    num_classes = 3

    def make(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(count) % num_classes
        grid = np.linspace(0, 2 * np.pi, length)
        signals = np.sin(grid[None, :] * (labels[:, None] + 1)) + rng.normal(scale=0.3, size=(count, length))
        return signals.astype(np.float32), labels.astype(np.int64)

    x_train, y_train = make(train_size)
    x_test, y_test = make(test_size)
    return ArrayDataset(x_train, y_train, x_test, y_test, ["one", "two", "three"], "sequence")


def run_config(**overrides) -> dict:
    recipe = {"rounds": 6, "batch_size": 32, "lr": 0.05, "eval_every": 2}
    recipe.update(overrides.pop("recipe", {}))
    config = {
        "model": "mlp",
        "recipe": recipe,
        "strategy": "rs2_without_replacement",
        "params": {},
        "budget": 0.3,
        "seed": 0,
    }
    config.update(overrides)
    return config


@pytest.fixture
def features_dataset() -> ArrayDataset:
    return blobs()

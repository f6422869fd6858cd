"""Tiny synthetic datasets and run configs, so every training test takes about a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workers.engine.arrays import ArrayDataset
from workers.engine.training import Callbacks, RunResult, train_run

TIMING_KEYS = ("wall_clock_seconds", "evaluation_seconds")


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


def untimed(metrics: list[dict]) -> list[dict]:
    """Metric rows without their clock readings, which differ between otherwise identical runs."""
    return [{key: value for key, value in metric.items() if key not in TIMING_KEYS} for metric in metrics]


class StopAfterRounds(Callbacks):
    def __init__(self, rounds: int):
        self.rounds = rounds
        self.finished = 0

    def on_round_end(self, round_index: int) -> None:
        self.finished = round_index + 1

    def should_stop(self) -> bool:
        return self.finished >= self.rounds


def assert_resumes_identically(
    config: dict, dataset: ArrayDataset, checkpoint: Path, *, stop_after: int = 3
) -> tuple[RunResult, RunResult, RunResult]:
    """Stop a run after ``stop_after`` rounds, resume it from its checkpoint, and compare with an uninterrupted one.

    Returns the uninterrupted, stopped and resumed results for further checks.
    """
    uninterrupted = train_run(config, dataset)
    stopped = train_run(
        config, dataset, callbacks=StopAfterRounds(stop_after), checkpoint_path=checkpoint, checkpoint_every_seconds=0
    )
    assert stopped.canceled and stopped.rounds_completed == stop_after
    assert stopped.final_accuracy is None and checkpoint.exists()
    resumed = train_run(config, dataset, checkpoint_path=checkpoint, checkpoint_every_seconds=0)
    assert resumed.resumed_from_round == stop_after and not resumed.canceled
    assert untimed(resumed.metrics) == untimed(uninterrupted.metrics)
    assert resumed.final_accuracy == uninterrupted.final_accuracy
    assert resumed.samples_trained == uninterrupted.samples_trained
    assert resumed.optimizer_steps == uninterrupted.optimizer_steps
    return uninterrupted, stopped, resumed


@pytest.fixture
def features_dataset() -> ArrayDataset:
    return blobs()

"""Built-in datasets, generated offline from installed packages with fixed seeds."""

from __future__ import annotations

import random
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np

from workers.engine.arrays import ArrayDataset
from workers.engine.data.splits import stratified_split
from workers.engine.data.store import DatasetInfo, recall_source, remember_source, save_dataset
from workers.engine.errors import DatasetError

BUILTIN_DATASETS: dict[str, str] = {
    "mnist1d": "MNIST-1D (1-D signals of length 40, 10 classes, 4,000 train / 1,000 test)",
    "digits": "scikit-learn digits (8×8 grayscale images, 10 classes, 80/20 split)",
}
MNIST1D_SEED = 42
DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2
# Bump when a generator changes what it produces, so stores stop reusing the old result.
GENERATOR_VERSION = 1


def generate_mnist1d() -> ArrayDataset:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = MNIST1D_SEED
    # make_dataset seeds the global RNGs; restore them so callers' randomness is untouched.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        generated = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return ArrayDataset(
        x_train=generated["x"].astype(np.float32),
        y_train=generated["y"].astype(np.int64),
        x_test=generated["x_test"].astype(np.float32),
        y_test=generated["y_test"].astype(np.int64),
        class_names=[str(digit) for digit in range(10)],
        kind="sequence",
    )


def generate_digits() -> ArrayDataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # Pixel intensities are 0-16; scale to the 0-255 range every image dataset uses.
    images = np.rint(digits.images * (255 / 16)).astype(np.uint8)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    train, test = stratified_split(labels, test_fraction=DIGITS_TEST_FRACTION, seed=DIGITS_SPLIT_SEED)
    return ArrayDataset(
        x_train=images[train],
        y_train=labels[train],
        x_test=images[test],
        y_test=labels[test],
        class_names=[str(name) for name in digits.target_names],
        kind="image",
    )


GENERATORS: dict[str, Callable[[], ArrayDataset]] = {"mnist1d": generate_mnist1d, "digits": generate_digits}
# The packages whose versions could change a generator's output.
GENERATOR_PACKAGES = {"mnist1d": ("mnist1d", "numpy", "scipy"), "digits": ("scikit-learn",)}


def generate_builtin(key: str) -> ArrayDataset:
    _check_key(key)
    return GENERATORS[key]()


def _check_key(key: str) -> None:
    if key not in GENERATORS:
        raise DatasetError(f"unknown built-in dataset {key!r}; choose one of {', '.join(sorted(BUILTIN_DATASETS))}")


def materialize_builtin(key: str, data_dir: Path | str) -> DatasetInfo:
    """Generate a built-in dataset and put it in the store; the same key always gives the same SHA-256.

    Generation runs once per store: later calls find the stored result by the key, the
    generator version and the versions of the packages it uses.
    """
    _check_key(key)
    source_key = {
        "builtin": key,
        "generator_version": GENERATOR_VERSION,
        "packages": {package: version(package) for package in GENERATOR_PACKAGES[key]},
    }
    known = recall_source(source_key, data_dir)
    if known is not None:
        return known
    info = save_dataset(generate_builtin(key), data_dir, f"built-in {key}")
    remember_source(source_key, info, data_dir)
    return info

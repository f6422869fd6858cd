"""The real CIFAR-10 image-folder archive (60,000 JPEGs) decodes into the expected arrays."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from workers.engine.datasets import import_dataset, load_dataset

CIFAR10_ARCHIVE = Path("/work/shared/datasets/cifar10-jpeg.tar.gz")
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.mark.slow
@pytest.mark.skipif(not CIFAR10_ARCHIVE.exists(), reason="the CIFAR-10 archive is not on this machine")
def test_cifar10_archive_imports(data_dir):
    started = time.perf_counter()
    info = import_dataset(CIFAR10_ARCHIVE, data_dir)
    seconds = time.perf_counter() - started
    print(f"CIFAR-10 import: {seconds:.1f} s")

    assert info.kind == "image"
    assert info.input_shape == [3, 32, 32]
    assert info.class_names == CIFAR10_CLASSES
    assert info.class_counts == [5000] * 10
    assert (info.train_size, info.test_size) == (50000, 10000)
    dataset = load_dataset(info.sha256, data_dir)
    assert dataset.x_train.dtype == np.uint8
    assert np.bincount(dataset.y_test).tolist() == [1000] * 10
    # Natural photos: mean intensity near the middle of the range, all three channels used.
    assert 100 < dataset.x_train.mean() < 140
    assert np.all(dataset.x_test.std(axis=(0, 2, 3)) > 40)

from __future__ import annotations

import random

import numpy as np
import pytest

from workers.engine.data import builtin
from workers.engine.data.store import content_sha256
from workers.engine.datasets import BUILTIN_DATASETS, load_dataset, materialize_builtin
from workers.engine.errors import DatasetError


@pytest.fixture(scope="module")
def mnist1d():
    return builtin.generate_mnist1d()


def test_both_builtins_are_listed_with_titles():
    assert sorted(BUILTIN_DATASETS) == ["digits", "mnist1d"]
    assert all(title for title in BUILTIN_DATASETS.values())


def test_digits_are_8x8_uint8_images_split_80_20_by_class(data_dir):
    info = materialize_builtin("digits", data_dir)

    assert info.kind == "image"
    assert info.input_shape == [1, 8, 8]
    assert info.class_names == [str(digit) for digit in range(10)]
    assert info.train_size + info.test_size == 1797
    assert info.test_size == 359
    dataset = load_dataset(info.sha256, data_dir)
    assert dataset.x_train.dtype == np.uint8
    assert dataset.x_train.max() == 255 and dataset.x_train.min() == 0
    test_counts = np.bincount(dataset.y_test)
    assert np.all(np.abs(test_counts / (test_counts + np.array(info.class_counts)) - 0.2) < 0.01)


def test_generating_digits_twice_gives_the_same_sha():
    assert content_sha256(builtin.generate_digits()) == content_sha256(builtin.generate_digits())


def test_mnist1d_is_4000_train_and_1000_test_float32_sequences(mnist1d, data_dir):
    assert mnist1d.kind == "sequence"
    assert mnist1d.x_train.shape == (4000, 40) and mnist1d.x_test.shape == (1000, 40)
    assert mnist1d.x_train.dtype == np.float32
    assert mnist1d.y_train.dtype == np.int64
    assert mnist1d.class_names == [str(digit) for digit in range(10)]
    assert sorted(np.unique(mnist1d.y_train).tolist()) == list(range(10))


@pytest.mark.slow
def test_generating_mnist1d_twice_gives_the_same_sha(mnist1d):
    assert content_sha256(builtin.generate_mnist1d()) == content_sha256(mnist1d)


def test_mnist1d_generation_leaves_the_global_random_state_alone(monkeypatch):
    from mnist1d import data

    def tiny_make_dataset(args):
        # Seeds and draws from the global generators the way the real generator does.
        data.set_seed(args.seed)
        x = np.random.normal(size=(10, 40))
        y = np.arange(10)
        return {"x": x[:8], "y": y[:8], "x_test": x[8:], "y_test": y[8:]}

    monkeypatch.setattr(data, "make_dataset", tiny_make_dataset)
    np.random.seed(7)
    random.seed(7)
    expected = (np.random.random(), random.random())
    np.random.seed(7)
    random.seed(7)

    builtin.generate_mnist1d()

    assert (np.random.random(), random.random()) == expected


def test_a_builtin_is_generated_once_per_store(data_dir, monkeypatch):
    first = materialize_builtin("digits", data_dir)
    monkeypatch.setattr(builtin, "generate_digits", lambda: pytest.fail("generated again"))
    monkeypatch.setitem(builtin.GENERATORS, "digits", lambda: pytest.fail("generated again"))

    assert materialize_builtin("digits", data_dir) == first


def test_a_new_generator_version_generates_again(data_dir, monkeypatch):
    first = materialize_builtin("digits", data_dir)
    calls = []
    monkeypatch.setitem(builtin.GENERATORS, "digits", lambda: calls.append(1) or builtin.generate_digits())
    monkeypatch.setattr(builtin, "GENERATOR_VERSION", builtin.GENERATOR_VERSION + 1)

    assert materialize_builtin("digits", data_dir) == first
    assert calls == [1]


def test_an_unknown_builtin_is_refused():
    with pytest.raises(DatasetError, match=r"unknown built-in dataset 'cifar100'; choose one of digits, mnist1d"):
        materialize_builtin("cifar100", "/nonexistent")

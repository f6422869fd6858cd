from __future__ import annotations

import numpy as np
import pytest

from tests.engine.datasets.builders import stored_files, write_npz
from workers.engine.datasets import import_dataset, load_dataset
from workers.engine.errors import DatasetError


def features(rows: int, columns: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, columns))


def labels(rows: int, classes: int = 3) -> np.ndarray:
    return np.arange(rows) % classes


def valid_arrays() -> dict[str, np.ndarray]:
    return {"x_train": features(12), "y_train": labels(12), "x_test": features(6, seed=1), "y_test": labels(6)}


def test_a_two_dimensional_x_is_a_float32_feature_table(tmp_path, data_dir):
    arrays = valid_arrays()
    info = import_dataset(write_npz(tmp_path / "table.npz", **arrays), data_dir)

    assert info.kind == "features"
    assert info.input_shape == [5]
    assert info.class_names == ["0", "1", "2"]
    assert info.class_counts == [4, 4, 4]
    assert (info.train_size, info.test_size) == (12, 6)
    dataset = load_dataset(info.sha256, data_dir)
    assert dataset.x_train.dtype == np.float32 and dataset.y_train.dtype == np.int64
    np.testing.assert_array_equal(dataset.x_train, arrays["x_train"].astype(np.float32))
    np.testing.assert_array_equal(dataset.y_test, arrays["y_test"])


def test_importing_the_same_npz_twice_gives_one_stored_dataset(tmp_path, data_dir):
    first = import_dataset(write_npz(tmp_path / "a.npz", **valid_arrays()), data_dir)
    reordered = tmp_path / "b.npz"
    np.savez_compressed(reordered, **dict(reversed(valid_arrays().items())))
    second = import_dataset(reordered, data_dir)

    assert first == second
    assert stored_files(data_dir) == [f"{first.sha256}.json", f"{first.sha256}.npz"]


def test_grayscale_images_gain_a_channel_axis(tmp_path, data_dir):
    x_train = np.arange(6 * 2 * 3, dtype=np.uint8).reshape(6, 2, 3)
    path = write_npz(
        tmp_path / "gray.npz", x_train=x_train, y_train=labels(6, 2), x_test=x_train[:2], y_test=labels(2, 2)
    )
    dataset = load_dataset(import_dataset(path, data_dir).sha256, data_dir)

    assert dataset.kind == "image"
    assert dataset.x_train.shape == (6, 1, 2, 3)
    np.testing.assert_array_equal(dataset.x_train[:, 0], x_train)


def test_channels_last_images_are_transposed(tmp_path, data_dir):
    x_train = np.random.default_rng(0).integers(0, 256, size=(4, 5, 6, 3), dtype=np.uint8)
    path = write_npz(tmp_path / "rgb.npz", x_train=x_train, y_train=labels(4, 2), x_test=x_train, y_test=labels(4, 2))
    dataset = load_dataset(import_dataset(path, data_dir).sha256, data_dir)

    assert dataset.x_train.shape == (4, 3, 5, 6)
    np.testing.assert_array_equal(dataset.x_train, x_train.transpose(0, 3, 1, 2))


def test_channels_first_images_are_kept(tmp_path, data_dir):
    x_train = np.random.default_rng(0).integers(0, 256, size=(4, 3, 8, 8), dtype=np.uint8)
    path = write_npz(tmp_path / "rgb.npz", x_train=x_train, y_train=labels(4, 2), x_test=x_train, y_test=labels(4, 2))

    np.testing.assert_array_equal(load_dataset(import_dataset(path, data_dir).sha256, data_dir).x_train, x_train)


def test_integer_images_within_0_255_are_accepted(tmp_path, data_dir):
    x_train = np.full((4, 2, 2), 255, dtype=np.int64)
    path = write_npz(tmp_path / "ints.npz", x_train=x_train, y_train=labels(4, 2), x_test=x_train, y_test=labels(4, 2))

    assert load_dataset(import_dataset(path, data_dir).sha256, data_dir).x_train.dtype == np.uint8


def test_string_labels_become_sorted_class_names(tmp_path, data_dir):
    arrays = valid_arrays()
    names = np.array(["zebra", "ant", "moth"])
    arrays["y_train"], arrays["y_test"] = names[labels(12)], names[labels(6)]
    info = import_dataset(write_npz(tmp_path / "named.npz", **arrays), data_dir)

    assert info.class_names == ["ant", "moth", "zebra"]
    assert load_dataset(info.sha256, data_dir).y_train[:3].tolist() == [2, 0, 1]


def test_an_object_array_is_refused_without_unpickling(tmp_path, data_dir):
    arrays = valid_arrays()
    arrays["y_train"] = np.array([{"label": 1}] * 12, dtype=object)

    with pytest.raises(DatasetError, match=r"objects\.npz: y_train holds Python objects"):
        import_dataset(write_npz(tmp_path / "objects.npz", **arrays), data_dir)
    assert stored_files(data_dir) == []


def test_missing_keys_are_named(tmp_path, data_dir):
    arrays = valid_arrays()
    del arrays["x_test"], arrays["y_test"]

    with pytest.raises(DatasetError, match=r"partial\.npz: missing x_test, y_test \(found x_train, y_train\)"):
        import_dataset(write_npz(tmp_path / "partial.npz", **arrays), data_dir)


def test_mismatched_lengths_are_named(tmp_path, data_dir):
    arrays = valid_arrays()
    arrays["y_train"] = labels(11)

    with pytest.raises(DatasetError, match=r"x_train has 12 rows but y_train has 11"):
        import_dataset(write_npz(tmp_path / "short.npz", **arrays), data_dir)


@pytest.mark.parametrize("shape", [(12,), (12, 1, 2, 3, 4)])
def test_x_with_the_wrong_number_of_dimensions_is_refused(tmp_path, data_dir, shape):
    arrays = valid_arrays()
    arrays["x_train"] = np.zeros(shape, dtype=np.uint8)

    with pytest.raises(DatasetError, match=rf"x_train has {len(shape)} dimensions"):
        import_dataset(write_npz(tmp_path / "dims.npz", **arrays), data_dir)


def test_train_and_test_rows_must_match(tmp_path, data_dir):
    arrays = valid_arrays()
    arrays["x_test"] = features(6, columns=4)

    with pytest.raises(DatasetError, match=r"x_train rows are \[5\] but x_test rows are \[4\]"):
        import_dataset(write_npz(tmp_path / "rows.npz", **arrays), data_dir)


def test_images_need_one_or_three_channels(tmp_path, data_dir):
    x_train = np.zeros((4, 5, 6, 7), dtype=np.uint8)
    path = write_npz(tmp_path / "c.npz", x_train=x_train, y_train=labels(4, 2), x_test=x_train, y_test=labels(4, 2))

    with pytest.raises(DatasetError, match=r"x_train has shape \[4, 5, 6, 7\]; images need 1 or 3 channels"):
        import_dataset(path, data_dir)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e300])
def test_non_finite_features_are_refused(tmp_path, data_dir, bad):
    arrays = valid_arrays()
    arrays["x_test"][2, 3] = bad

    with pytest.raises(DatasetError, match=r"x_test holds NaN or infinite values"):
        import_dataset(write_npz(tmp_path / "nan.npz", **arrays), data_dir)


def test_float_images_are_refused(tmp_path, data_dir):
    x_train = np.zeros((4, 2, 2), dtype=np.float32)
    path = write_npz(tmp_path / "f.npz", x_train=x_train, y_train=labels(4, 2), x_test=x_train, y_test=labels(4, 2))

    with pytest.raises(DatasetError, match=r"x_train is float32; images must be uint8 values 0-255"):
        import_dataset(path, data_dir)


def test_image_values_outside_0_255_are_refused(tmp_path, data_dir):
    x_train = np.full((4, 2, 2), 300, dtype=np.int16)
    path = write_npz(tmp_path / "i.npz", x_train=x_train, y_train=labels(4, 2), x_test=x_train, y_test=labels(4, 2))

    with pytest.raises(DatasetError, match=r"x_train holds values outside 0-255"):
        import_dataset(path, data_dir)


@pytest.mark.parametrize(
    ("y_train", "y_test", "message"),
    [
        (labels(12).astype(np.float64), labels(6), r"y_train has dtype float64; labels must be integers or strings"),
        (labels(12).astype(bool), labels(6), r"y_train has dtype bool"),
        (labels(12), np.array(["a"] * 6), r"y_train and y_test must both hold integers or both hold strings"),
        (labels(12) - 1, labels(6), r"y_train holds negative labels"),
        (labels(12) * 2, labels(6) * 2, r"y_train has no example of class 1"),
        (labels(12), labels(6) + 1, r"y_test holds label 3, which never occurs in y_train"),
        (np.array(list("abcabcabcabc")), np.array(list("abcdab")), r"y_test holds label\(s\) 'd' not found"),
        (labels(12).reshape(3, 4), labels(6), r"y_train has shape \[3, 4\]; labels must be 1-D"),
        (np.full(12, 10**9), labels(6), r"at most 10000 classes"),
    ],
)
def test_label_problems_are_named(tmp_path, data_dir, y_train, y_test, message):
    arrays = valid_arrays()
    arrays["y_train"], arrays["y_test"] = y_train, y_test

    with pytest.raises(DatasetError, match=message):
        import_dataset(write_npz(tmp_path / "labels.npz", **arrays), data_dir)


def test_a_column_of_labels_is_accepted(tmp_path, data_dir):
    arrays = valid_arrays()
    arrays["y_train"] = labels(12)[:, None]

    assert import_dataset(write_npz(tmp_path / "column.npz", **arrays), data_dir).class_counts == [4, 4, 4]


def test_a_file_that_is_not_an_npz_is_named(tmp_path, data_dir):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 this is not a real archive")

    with pytest.raises(DatasetError, match=r"garbage\.npz: not a readable \.npz file"):
        import_dataset(garbage, data_dir)


def test_a_single_npy_array_is_refused(tmp_path, data_dir):
    single = tmp_path / "single.npz"
    with single.open("wb") as stream:
        np.save(stream, features(3))

    with pytest.raises(DatasetError, match=r"single\.npz: holds a single array"):
        import_dataset(single, data_dir)


def test_huge_declared_arrays_are_refused_before_reading(tmp_path, data_dir, monkeypatch):
    from workers.engine.data import npz

    monkeypatch.setattr(npz, "MAX_NPZ_BYTES", 100)

    with pytest.raises(DatasetError, match=r"the arrays hold more than 100 bytes"):
        import_dataset(write_npz(tmp_path / "big.npz", **valid_arrays()), data_dir)

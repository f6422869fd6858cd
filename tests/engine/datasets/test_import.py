from __future__ import annotations

import numpy as np
import pytest

from tests.engine.datasets.builders import image_tree, write_npz, write_zip
from workers.engine import datasets
from workers.engine.datasets import dataset_path, import_dataset
from workers.engine.errors import DatasetError


def small_npz(path, classes: int = 2):
    x = np.arange(24, dtype=np.float64).reshape(8, 3)
    y = np.arange(8) % classes
    return write_npz(path, x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pets.zip", "image_folder"),
        ("pets.TAR.GZ", "image_folder"),
        ("pets.tgz", "image_folder"),
        ("pets.tar", "image_folder"),
        ("arrays.npz", "npz"),
        ("table.csv", "csv"),
    ],
)
def test_the_format_is_detected_from_the_name(tmp_path, name, expected):
    path = tmp_path / name
    path.write_bytes(b"")

    assert datasets.detect_format(path, name) == expected


def test_a_directory_is_an_image_folder(tmp_path):
    assert datasets.detect_format(tmp_path, "anything.csv") == "image_folder"


def test_an_unknown_suffix_is_refused_with_the_name(tmp_path, data_dir):
    path = tmp_path / "tmpa8d9"
    path.write_bytes(b"Rar!")

    with pytest.raises(DatasetError, match=r"pets\.rar: cannot tell the format from the name"):
        import_dataset(path, data_dir, original_name="pets.rar")


def test_the_original_name_picks_the_format_of_a_temporary_file(tmp_path, data_dir):
    temporary = tmp_path / "upload-1234.part"
    temporary.write_bytes(write_zip(tmp_path / "pets.zip", image_tree()).read_bytes())

    assert import_dataset(temporary, data_dir, original_name="pets.zip").class_names == ["cat", "dog"]


def test_errors_name_the_original_file_not_the_temporary_one(tmp_path, data_dir):
    temporary = tmp_path / "upload-1234.part"
    temporary.write_text("a,b\n1,2\n")

    with pytest.raises(DatasetError, match=r"^iris\.csv: no label column 'label'"):
        import_dataset(temporary, data_dir, format="csv", original_name="iris.csv")


def test_an_explicit_format_wins_over_the_name(tmp_path, data_dir):
    path = small_npz(tmp_path / "arrays.bin")

    assert import_dataset(path, data_dir, format="npz").train_size == 8


def test_an_unknown_format_is_refused(tmp_path, data_dir):
    with pytest.raises(DatasetError, match=r"arrays\.npz: unknown format 'hdf5'"):
        import_dataset(small_npz(tmp_path / "arrays.npz"), data_dir, format="hdf5")


def test_a_missing_path_is_named(tmp_path, data_dir):
    with pytest.raises(DatasetError, match=r"gone\.zip: no such file or directory"):
        import_dataset(tmp_path / "gone.zip", data_dir)


def test_only_an_image_folder_may_be_a_directory(tmp_path, data_dir):
    with pytest.raises(DatasetError, match=r"is a directory; only an image folder may be a directory"):
        import_dataset(tmp_path, data_dir, format="csv")


def test_importing_the_same_file_again_skips_decoding(tmp_path, data_dir, monkeypatch):
    path = small_npz(tmp_path / "arrays.npz")
    first = import_dataset(path, data_dir)

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(datasets, "read_npz", no_decoding)
    assert import_dataset(path, data_dir, original_name="renamed.npz") == first


def test_a_changed_file_is_decoded_again(tmp_path, data_dir):
    path = small_npz(tmp_path / "arrays.npz")
    first = import_dataset(path, data_dir)
    small_npz(path, classes=4)

    second = import_dataset(path, data_dir)

    assert second.sha256 != first.sha256
    assert second.class_names == ["0", "1", "2", "3"]


def test_a_remembered_file_whose_dataset_left_the_store_is_decoded_again(tmp_path, data_dir):
    path = small_npz(tmp_path / "arrays.npz")
    first = import_dataset(path, data_dir)
    dataset_path(first.sha256, data_dir).unlink()

    assert import_dataset(path, data_dir) == first
    assert dataset_path(first.sha256, data_dir).is_file()


def test_a_csv_read_with_another_label_column_is_decoded_again(tmp_path, data_dir):
    path = tmp_path / "two_labels.csv"
    path.write_text("x,label,group\n" + "".join(f"{row},{row % 2},{row % 3}\n" for row in range(30)))

    by_label = import_dataset(path, data_dir)
    by_group = import_dataset(path, data_dir, label_column="group")

    assert (by_label.class_names, by_group.class_names) == (["0", "1"], ["0", "1", "2"])
    assert (by_label.input_shape, by_group.input_shape) == ([2], [2])

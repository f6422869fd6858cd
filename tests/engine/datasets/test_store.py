from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.engine.datasets.builders import stored_files, write_npz
from workers.engine.arrays import ArrayDataset
from workers.engine.data.store import STORED_NAMES, content_sha256, load_info, save_dataset
from workers.engine.datasets import DatasetInfo, dataset_path, load_dataset, store_file
from workers.engine.errors import DatasetError


def tiny_images(seed: int = 0) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    return ArrayDataset(
        x_train=rng.integers(0, 256, size=(6, 1, 4, 4), dtype=np.uint8),
        y_train=np.array([0, 1, 2, 0, 1, 1]),
        x_test=rng.integers(0, 256, size=(3, 1, 4, 4), dtype=np.uint8),
        y_test=np.array([2, 1, 0]),
        class_names=["a", "b", "c"],
        kind="image",
    )


def rewrite(path, **changes) -> None:
    """Rewrite a stored file with some arrays replaced, keeping everything else (its recorded hash too)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays.update(changes)
    write_npz(path, **arrays)


def test_a_saved_dataset_loads_back_identical_with_its_metadata(data_dir):
    dataset = tiny_images()
    info = save_dataset(dataset, data_dir, "tiny")

    assert info == DatasetInfo(
        sha256=content_sha256(dataset),
        kind="image",
        input_shape=[1, 4, 4],
        class_names=["a", "b", "c"],
        class_counts=[2, 3, 1],
        train_size=6,
        test_size=3,
    )
    assert dataset_path(info.sha256, data_dir) == data_dir / "datasets" / f"{info.sha256}.npz"
    loaded = load_dataset(info.sha256, data_dir)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(dataset, name))
    assert (loaded.class_names, loaded.kind) == (dataset.class_names, dataset.kind)
    sidecar = json.loads((data_dir / "datasets" / f"{info.sha256}.json").read_text())
    assert sidecar["class_counts"] == [2, 3, 1]
    with np.load(dataset_path(info.sha256, data_dir), allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(STORED_NAMES)


def test_no_temporary_file_is_left_behind(data_dir):
    info = save_dataset(tiny_images(), data_dir, "tiny")

    assert stored_files(data_dir) == [f"{info.sha256}.json", f"{info.sha256}.npz"]


def test_the_hash_ignores_memory_layout_and_byte_order(data_dir):
    dataset = tiny_images()
    shuffled_layout = ArrayDataset(
        x_train=np.asfortranarray(dataset.x_train),
        y_train=dataset.y_train.astype(">i8"),
        x_test=dataset.x_test,
        y_test=dataset.y_test.astype("<i8"),
        class_names=list(dataset.class_names),
        kind="image",
    )

    assert save_dataset(shuffled_layout, data_dir, "tiny").sha256 == save_dataset(dataset, data_dir, "tiny").sha256


@pytest.mark.parametrize(
    "change",
    [
        lambda dataset: dataset.x_train.__setitem__((0, 0, 0, 0), dataset.x_train[0, 0, 0, 0] ^ 1),
        lambda dataset: dataset.y_test.__setitem__(0, 1),
        lambda dataset: dataset.class_names.__setitem__(0, "A"),
        lambda dataset: setattr(dataset, "x_test", dataset.x_test.reshape(3, 1, 2, 8)),
    ],
)
def test_the_hash_changes_with_any_part_of_the_content(change):
    dataset = tiny_images()
    original = content_sha256(dataset)
    change(dataset)

    assert content_sha256(dataset) != original


def test_load_detects_a_tampered_file(data_dir):
    info = save_dataset(tiny_images(), data_dir, "tiny")
    path = dataset_path(info.sha256, data_dir)
    with np.load(path, allow_pickle=False) as archive:
        x_train = archive["x_train"].copy()
    x_train[0, 0, 0, 0] ^= 0xFF
    rewrite(path, x_train=x_train)

    with pytest.raises(
        DatasetError, match=rf"the stored file is corrupt; its content hashes to [0-9a-f]{{64}}, expected {info.sha256}"
    ):
        load_dataset(info.sha256, data_dir)


def test_load_detects_renamed_class_names(data_dir):
    info = save_dataset(tiny_images(), data_dir, "tiny")
    rewrite(dataset_path(info.sha256, data_dir), class_names=np.array(["a", "b", "z"]))

    with pytest.raises(DatasetError, match="the stored file is corrupt"):
        load_dataset(info.sha256, data_dir)


def test_load_names_a_truncated_file(data_dir):
    info = save_dataset(tiny_images(), data_dir, "tiny")
    path = dataset_path(info.sha256, data_dir)
    path.write_bytes(path.read_bytes()[:200])

    with pytest.raises(DatasetError, match=rf"{info.sha256}\.npz: cannot read the dataset file"):
        load_dataset(info.sha256, data_dir)


def test_load_names_a_missing_dataset(data_dir):
    missing = "0" * 64

    with pytest.raises(DatasetError, match=f"dataset {missing} is not in the store"):
        load_dataset(missing, data_dir)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABC", "0" * 63, "g" * 64])
def test_a_malformed_sha_is_refused_before_touching_the_filesystem(data_dir, bad):
    with pytest.raises(DatasetError, match="is not a SHA-256"):
        dataset_path(bad, data_dir)


def test_saving_again_repairs_a_corrupt_copy(data_dir):
    dataset = tiny_images()
    info = save_dataset(dataset, data_dir, "tiny")
    dataset_path(info.sha256, data_dir).write_bytes(b"garbage")

    save_dataset(dataset, data_dir, "tiny")

    np.testing.assert_array_equal(load_dataset(info.sha256, data_dir).x_train, dataset.x_train)


def test_the_sidecar_is_rebuilt_when_lost(data_dir):
    info = save_dataset(tiny_images(), data_dir, "tiny")
    (data_dir / "datasets" / f"{info.sha256}.json").unlink()

    assert load_info(info.sha256, data_dir) == info
    assert (data_dir / "datasets" / f"{info.sha256}.json").exists()


def test_store_file_accepts_a_canonical_file_from_another_store(tmp_path, data_dir):
    info = save_dataset(tiny_images(), tmp_path / "web", "tiny")
    download = tmp_path / "download.npz"
    shutil.copy(dataset_path(info.sha256, tmp_path / "web"), download)

    stored = store_file(download, data_dir, expected_sha256=info.sha256)

    assert stored == info
    np.testing.assert_array_equal(load_dataset(info.sha256, data_dir).x_test, tiny_images().x_test)


def test_store_file_refuses_a_file_whose_content_does_not_match_its_hash(tmp_path, data_dir):
    info = save_dataset(tiny_images(), tmp_path / "web", "tiny")
    download = tmp_path / "download.npz"
    shutil.copy(dataset_path(info.sha256, tmp_path / "web"), download)
    rewrite(download, y_train=np.array([1, 1, 2, 0, 1, 1]))

    with pytest.raises(
        DatasetError, match=rf"download\.npz: content hashes to [0-9a-f]{{64}} but the file records {info.sha256}"
    ):
        store_file(download, data_dir)
    assert stored_files(data_dir) == []


def test_store_file_refuses_a_different_dataset_than_the_one_asked_for(tmp_path, data_dir):
    other = save_dataset(tiny_images(seed=1), tmp_path / "web", "other")
    wanted = content_sha256(tiny_images(seed=0))

    with pytest.raises(DatasetError, match=rf"content hashes to {other.sha256}, expected {wanted}"):
        store_file(dataset_path(other.sha256, tmp_path / "web"), data_dir, expected_sha256=wanted)
    assert stored_files(data_dir) == []


def test_store_file_refuses_a_file_that_is_not_canonical(tmp_path, data_dir):
    upload = write_npz(tmp_path / "upload.npz", x_train=np.zeros((2, 3)), y_train=np.zeros(2))

    with pytest.raises(DatasetError, match=r"upload\.npz: not a canonical dataset file; missing x_test, y_test"):
        store_file(upload, data_dir)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kind", "video", "unknown kind 'video'"),
        (
            "x_train",
            np.zeros((6, 16), dtype=np.uint8),
            "x_train is uint8 with 2 dimensions; image data needs uint8 with 4",
        ),
        ("x_test", np.zeros((3, 2, 4, 4), dtype=np.uint8), "x_test has 2 channels"),
        ("y_train", np.array([0, 1, 2, 0, 1, 3]), r"y_train holds class indices outside 0\.\.2"),
        ("y_test", np.array([0, 1]), "x_test has 3 rows but y_test has 2"),
        ("class_names", ["a", "a", "c"], "class names are not unique"),
    ],
)
def test_non_canonical_arrays_are_never_stored(data_dir, field, value, message):
    dataset = tiny_images()
    setattr(dataset, field, value)

    with pytest.raises(DatasetError, match=rf"tiny: {message}"):
        save_dataset(dataset, data_dir, "tiny")
    assert stored_files(data_dir) == []

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.engine.datasets.builders import (
    image_bytes,
    image_tree,
    stored_files,
    write_directory,
    write_tar,
    write_zip,
)
from workers.engine.data import images
from workers.engine.datasets import import_dataset, load_dataset
from workers.engine.errors import DatasetError


def test_it_decodes_a_zip_into_sorted_nchw_arrays(tmp_path, data_dir):
    info = import_dataset(write_zip(tmp_path / "pets.zip", image_tree()), data_dir)

    assert info.kind == "image"
    assert info.input_shape == [3, 3, 4]
    assert info.class_names == ["cat", "dog"]
    assert info.class_counts == [2, 3]
    assert (info.train_size, info.test_size) == (5, 2)
    dataset = load_dataset(info.sha256, data_dir)
    assert dataset.x_train.dtype == np.uint8 and dataset.x_train.shape == (5, 3, 3, 4)
    assert dataset.y_train.dtype == np.int64
    # Ordered by class, then by path: cat/1, cat/2, dog/a, dog/b, dog/c.
    assert dataset.x_train[:, 0, 0, 0].tolist() == [30, 40, 10, 20, 50]
    assert dataset.y_train.tolist() == [0, 0, 1, 1, 1]
    assert dataset.x_test[:, 2, 2, 3].tolist() == [70, 60]
    assert dataset.y_test.tolist() == [0, 1]


def test_the_same_images_give_the_same_sha_from_zip_tar_and_directory(tmp_path, data_dir):
    members = image_tree()
    from_zip = import_dataset(write_zip(tmp_path / "a.zip", members), data_dir)
    again = import_dataset(write_zip(tmp_path / "b.zip", dict(reversed(members.items()))), data_dir)
    from_tar = import_dataset(write_tar(tmp_path / "c.tar.gz", members), data_dir)
    from_tgz = import_dataset(write_tar(tmp_path / "d.tgz", members), data_dir)
    from_directory = import_dataset(write_directory(tmp_path / "folder", members), data_dir)

    assert len({from_zip.sha256, again.sha256, from_tar.sha256, from_tgz.sha256, from_directory.sha256}) == 1
    assert from_zip == from_directory
    assert stored_files(data_dir) == [f"{from_zip.sha256}.json", f"{from_zip.sha256}.npz"]


def test_grayscale_images_get_one_channel(tmp_path, data_dir):
    info = import_dataset(write_zip(tmp_path / "gray.zip", image_tree(mode="L")), data_dir)

    assert info.input_shape == [1, 3, 4]
    assert load_dataset(info.sha256, data_dir).x_train[:, 0, 0, 0].tolist() == [30, 40, 10, 20, 50]


def test_grayscale_images_are_widened_when_any_image_is_rgb(tmp_path, data_dir):
    members = image_tree(mode="L")
    members["train/dog/c.png"] = image_bytes(50, mode="RGB")
    dataset = load_dataset(import_dataset(write_zip(tmp_path / "mixed.zip", members), data_dir).sha256, data_dir)

    assert dataset.x_train.shape == (5, 3, 3, 4)
    assert dataset.x_train[:, :, 0, 0].tolist() == [[30] * 3, [40] * 3, [10] * 3, [20] * 3, [50] * 3]


def test_jpegs_decode(tmp_path, data_dir):
    members = {name.replace(".png", ".jpg"): image_bytes(100, format="JPEG") for name in image_tree()}
    dataset = load_dataset(import_dataset(write_zip(tmp_path / "jpegs.zip", members), data_dir).sha256, data_dir)

    assert dataset.x_train.shape == (5, 3, 3, 4)
    assert np.abs(dataset.x_train.astype(int) - 100).max() <= 2


def test_one_wrapping_folder_loose_files_and_junk_are_accepted(tmp_path, data_dir):
    members = {f"pets/{name}": data for name, data in image_tree().items()}
    members.update(
        {
            "pets/.DS_Store": b"junk",
            "pets/train/cat/.hidden.png": b"junk",
            "pets/train/cat/._1.png": b"AppleDouble junk",
            "__MACOSX/pets/train/cat/._1.png": b"junk",
            "README.md": b"# Pets",
            "pets/LICENSE": b"CC0",
        }
    )
    wrapped = import_dataset(write_zip(tmp_path / "wrapped.zip", members), data_dir)
    plain = import_dataset(write_zip(tmp_path / "plain.zip", image_tree()), data_dir)

    assert wrapped.sha256 == plain.sha256


def test_it_names_a_truncated_jpeg(tmp_path, data_dir):
    jpeg = image_bytes(90, size=(16, 16), format="JPEG")
    members = {name: jpeg for name in image_tree()}
    members["train/dog/b.png"] = jpeg[: len(jpeg) // 2]

    with pytest.raises(DatasetError, match=r"pets\.zip: train/dog/b\.png: corrupt image"):
        import_dataset(write_zip(tmp_path / "pets.zip", members), data_dir)
    assert stored_files(data_dir) == []


def test_it_names_a_file_that_is_not_an_image(tmp_path, data_dir):
    members = image_tree()
    members["train/cat/notes.txt"] = b"these are my cats"

    with pytest.raises(DatasetError, match=r"pets\.zip: train/cat/notes\.txt: not an image"):
        import_dataset(write_zip(tmp_path / "pets.zip", members), data_dir)


def test_it_refuses_16_bit_images_rather_than_clip_them(tmp_path, data_dir):
    members = image_tree()
    buffer = io.BytesIO()
    Image.fromarray(np.full((3, 4), 1000, dtype=np.uint16)).save(buffer, format="PNG")
    members["train/dog/a.png"] = buffer.getvalue()

    with pytest.raises(DatasetError, match=r"train/dog/a\.png: image mode I;16 is not supported"):
        import_dataset(write_zip(tmp_path / "pets.zip", members), data_dir)


def test_palette_and_transparent_images_become_rgb(tmp_path, data_dir):
    members = image_tree()
    buffer = io.BytesIO()
    Image.new("RGBA", (4, 3), (10, 20, 30, 128)).save(buffer, format="PNG")
    members["train/dog/a.png"] = buffer.getvalue()
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (40, 50, 60)).convert("P", palette=Image.Palette.ADAPTIVE).save(buffer, format="GIF")
    members["train/dog/b.png"] = buffer.getvalue()
    dataset = load_dataset(import_dataset(write_zip(tmp_path / "pets.zip", members), data_dir).sha256, data_dir)

    assert dataset.x_train[2:4, :, 0, 0].tolist() == [[10, 20, 30], [40, 50, 60]]


def test_it_refuses_images_of_different_sizes(tmp_path, data_dir):
    members = image_tree()
    members["train/dog/c.png"] = image_bytes(50, size=(5, 3))

    with pytest.raises(DatasetError, match=r"train/dog/c\.png: image is 5×3 but train/cat/1\.png is 4×3"):
        import_dataset(write_zip(tmp_path / "pets.zip", members), data_dir)


def test_it_requires_a_test_folder(tmp_path, data_dir):
    members = {name: data for name, data in image_tree().items() if name.startswith("train/")}

    with pytest.raises(DatasetError, match=r"pets\.zip: no test/ folder"):
        import_dataset(write_zip(tmp_path / "pets.zip", members), data_dir)


def test_it_refuses_a_test_class_missing_from_train(tmp_path, data_dir):
    members = image_tree()
    members["test/bird/z.png"] = image_bytes(1)

    with pytest.raises(DatasetError, match=r"test class\(es\) bird have no train/ folder"):
        import_dataset(write_zip(tmp_path / "pets.zip", members), data_dir)


def test_it_refuses_files_outside_the_class_folders(tmp_path, data_dir):
    members = image_tree()
    members["train/stray.png"] = image_bytes(1)

    with pytest.raises(DatasetError, match=r"train/stray\.png: expected train/<class>/<image>"):
        import_dataset(write_zip(tmp_path / "pets.zip", members), data_dir)


def test_it_refuses_a_folder_other_than_train_and_test(tmp_path, data_dir):
    members = image_tree()
    members["val/cat/3.png"] = image_bytes(1)

    with pytest.raises(DatasetError, match=r"val/cat/3\.png: expected train/<class>/<image>"):
        import_dataset(write_zip(tmp_path / "pets.zip", members), data_dir)


def test_an_archive_without_folders_is_refused(tmp_path, data_dir):
    with pytest.raises(DatasetError, match=r"pets\.zip: no folders found"):
        import_dataset(write_zip(tmp_path / "pets.zip", {"1.png": image_bytes(1)}), data_dir)


def test_it_needs_two_classes(tmp_path, data_dir):
    members = {name: data for name, data in image_tree().items() if "/cat/" in name}

    with pytest.raises(DatasetError, match="needs 2 to 10000 classes, found 1"):
        import_dataset(write_zip(tmp_path / "pets.zip", members), data_dir)


@pytest.mark.parametrize("evil_name", ["../evil.png", "train/cat/../../../evil.png", "/tmp/evil.png"])
def test_a_member_with_an_unsafe_path_is_refused_and_written_nowhere(tmp_path, data_dir, evil_name):
    work = tmp_path / "work" / "inner"
    work.mkdir(parents=True)
    archive = work / "pets.zip"
    members = image_tree()
    with zipfile.ZipFile(archive, "w") as handle:
        for name, data in members.items():
            handle.writestr(name, data)
        # ZipFile.writestr keeps the name as given, so the archive really holds the unsafe path.
        handle.writestr(zipfile.ZipInfo(evil_name), image_bytes(1))
    before = sorted(path for path in tmp_path.rglob("*"))

    with pytest.raises(DatasetError, match=r"pets\.zip: member .*evil\.png.* has an unsafe path"):
        import_dataset(archive, data_dir)
    assert sorted(path for path in tmp_path.rglob("*")) == before
    assert not Path("/tmp/evil.png").exists()


def test_a_symbolic_link_in_a_tar_is_refused(tmp_path, data_dir):
    archive = write_tar(tmp_path / "pets.tar.gz", image_tree())
    with tarfile.open(tmp_path / "linked.tar.gz", "w:gz") as linked, tarfile.open(archive) as original:
        for member in original.getmembers():
            linked.addfile(member, original.extractfile(member))
        link = tarfile.TarInfo("train/cat/3.png")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        linked.addfile(link)

    with pytest.raises(DatasetError, match=r"train/cat/3\.png: links and special files are not accepted"):
        import_dataset(tmp_path / "linked.tar.gz", data_dir)


def test_a_symbolic_link_in_a_directory_is_refused(tmp_path, data_dir):
    folder = write_directory(tmp_path / "pets", image_tree())
    (folder / "train" / "cat" / "3.png").symlink_to(folder / "train" / "cat" / "1.png")

    with pytest.raises(DatasetError, match=r"train/cat/3\.png: symbolic links are not accepted"):
        import_dataset(folder, data_dir)


def test_a_file_that_is_no_archive_is_named(tmp_path, data_dir):
    bogus = tmp_path / "upload.bin"
    bogus.write_bytes(b"this is not an archive at all" * 40)

    with pytest.raises(DatasetError, match=r"pets\.tar\.gz: cannot read the archive"):
        import_dataset(bogus, data_dir, original_name="pets.tar.gz")


@pytest.mark.parametrize(
    ("limit", "value", "message"),
    [
        ("MAX_ARCHIVE_MEMBERS", 5, "more than 5 members"),
        ("MAX_MEMBER_BYTES", 50, "over the 50 byte limit per file"),
        ("MAX_ENCODED_BYTES", 300, "more than 300 bytes"),
        ("MAX_IMAGE_PIXELS", 11, "4×3 is over the 11 pixel limit"),
        ("MAX_DECODED_BYTES", 7 * 36 - 1, "7 images of 4×3 decode to more than 251 bytes"),
    ],
)
def test_archive_limits_refuse_bombs(tmp_path, data_dir, monkeypatch, limit, value, message):
    monkeypatch.setattr(images, limit, value)

    with pytest.raises(DatasetError, match=message):
        import_dataset(write_zip(tmp_path / "pets.zip", image_tree()), data_dir)
    assert stored_files(data_dir) == []


def test_a_zip_member_larger_than_declared_is_not_read_past_its_size(tmp_path, data_dir, monkeypatch):
    archive = write_zip(tmp_path / "pets.zip", image_tree())
    monkeypatch.setattr(images, "MAX_MEMBER_BYTES", max(len(data) for data in image_tree().values()))

    info = import_dataset(archive, data_dir)

    assert info.train_size == 5


def test_worker_processes_give_the_same_arrays_and_name_bad_members(tmp_path, data_dir, monkeypatch):
    members = image_tree()
    sequential = import_dataset(write_zip(tmp_path / "pets.zip", members), data_dir)
    monkeypatch.setattr(images, "DECODE_CHUNK_SIZE", 2)
    monkeypatch.setattr(images, "_decode_cores", lambda: 2)

    # A directory is decoded afresh every time, so this goes through the worker processes.
    pooled = import_dataset(write_directory(tmp_path / "pets", members), data_dir)
    members["test/dog/x.png"] = b"not an image"
    with pytest.raises(DatasetError, match=r"test/dog/x\.png: not an image"):
        import_dataset(write_zip(tmp_path / "broken.zip", members), data_dir)

    assert pooled.sha256 == sequential.sha256


def test_an_uncompressed_tar_is_read(tmp_path, data_dir):
    members = image_tree()
    info = import_dataset(write_tar(tmp_path / "pets.tar", members, mode="w"), data_dir)

    assert info.sha256 == import_dataset(write_zip(tmp_path / "pets.zip", members), data_dir).sha256

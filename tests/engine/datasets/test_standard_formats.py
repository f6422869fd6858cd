"""The readers of the publishers' formats refuse every malformed file with an error naming it."""

from __future__ import annotations

import io
import struct
import tarfile

import numpy as np
import pytest
import scipy.io

from tests.engine.datasets.standard_files import (
    cifar10_set,
    cifar100_set,
    gz,
    idx_bytes,
    idx_set,
    svhn_mat,
    svhn_set,
    write_files,
)
from workers.engine.data.standard_formats import (
    CIFAR10_LAYOUT,
    CIFAR100_LAYOUT,
    read_cifar_binary,
    read_idx,
    read_idx_dataset,
    read_svhn_mat,
)
from workers.engine.errors import DatasetError

CIFAR10_FOLDER = "cifar-10-batches-bin"
DIGITS = [str(digit) for digit in range(10)]


def cifar10_archive(tmp_path, **members):
    files = cifar10_set(members={f"{CIFAR10_FOLDER}/{name}": data for name, data in members.items()}).files
    return write_files(tmp_path, files)["cifar-10-binary.tar.gz"]


def test_cifar10_records_keep_their_red_green_blue_planes(tmp_path):
    standard_set = cifar10_set()
    archive = write_files(tmp_path, standard_set.files)["cifar-10-binary.tar.gz"]

    dataset = read_cifar_binary(archive, "cifar.tar.gz", CIFAR10_LAYOUT)

    np.testing.assert_array_equal(dataset.x_train, standard_set.expected.x_train)
    assert dataset.x_train.shape == (10, 3, 32, 32)
    assert dataset.y_train.tolist() == list(range(10))


def test_cifar100_keeps_the_fine_labels(tmp_path):
    standard_set = cifar100_set()
    archive = write_files(tmp_path, standard_set.files)["cifar-100-binary.tar.gz"]

    dataset = read_cifar_binary(archive, "cifar100.tar.gz", CIFAR100_LAYOUT)

    assert dataset.y_train.tolist() == [0, 99, 42, 7]
    assert len(dataset.class_names) == 100


def test_a_cifar_batch_cut_mid_record_is_refused(tmp_path):
    archive = cifar10_archive(tmp_path, **{"data_batch_3.bin": b"\x01" * (3073 + 1000)})

    with pytest.raises(DatasetError, match=r"^c\.tgz: data_batch_3\.bin holds 4073 bytes, not a whole number"):
        read_cifar_binary(archive, "c.tgz", CIFAR10_LAYOUT)


def test_a_cifar_label_outside_the_classes_is_refused(tmp_path):
    record = bytes([10]) + bytes(3072)
    archive = cifar10_archive(tmp_path, **{"test_batch.bin": record * 2})

    with pytest.raises(DatasetError, match=r"test_batch\.bin: record 0 has label 10; labels in this position are 0-9"):
        read_cifar_binary(archive, "c.tgz", CIFAR10_LAYOUT)


def test_a_cifar100_coarse_label_outside_its_range_is_refused(tmp_path):
    record = bytes([20, 3]) + bytes(3072)
    files = cifar100_set(members={"cifar-100-binary/test.bin": record}).files
    archive = write_files(tmp_path, files)["cifar-100-binary.tar.gz"]

    with pytest.raises(DatasetError, match=r"record 0 has label 20; labels in this position are 0-19"):
        read_cifar_binary(archive, "c100.tgz", CIFAR100_LAYOUT)


def test_a_cifar_archive_without_a_batch_is_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("data_batch_1.bin", "test_batch.bin", "batches.meta.txt"):
            info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/{name}")
            info.size = 3073
            archive.addfile(info, io.BytesIO(bytes(3073)))
    (tmp_path / "c.tgz").write_bytes(buffer.getvalue())

    with pytest.raises(DatasetError, match=r"missing data_batch_2\.bin, .*data_batch_5\.bin; not a CIFAR-10 binary"):
        read_cifar_binary(tmp_path / "c.tgz", "c.tgz", CIFAR10_LAYOUT)


def test_cifar_class_names_must_match_the_number_of_classes(tmp_path):
    archive = cifar10_archive(tmp_path, **{"batches.meta.txt": b"cat\ndog\n"})

    with pytest.raises(DatasetError, match=r"batches\.meta\.txt names 2 classes; expected 10"):
        read_cifar_binary(archive, "c.tgz", CIFAR10_LAYOUT)


def test_a_cifar_member_that_is_a_link_is_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        link = tarfile.TarInfo(f"{CIFAR10_FOLDER}/data_batch_1.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    (tmp_path / "c.tgz").write_bytes(buffer.getvalue())

    with pytest.raises(DatasetError, match=r"data_batch_1\.bin is not a regular file"):
        read_cifar_binary(tmp_path / "c.tgz", "c.tgz", CIFAR10_LAYOUT)


def test_a_cifar_member_larger_than_the_format_allows_is_refused_before_reading(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(f"{CIFAR10_FOLDER}/data_batch_1.bin")
        info.size = 10_001 * 3073
        archive.addfile(info, io.BytesIO(bytes(info.size)))
    (tmp_path / "c.tgz").write_bytes(buffer.getvalue())

    with pytest.raises(DatasetError, match=r"holds 30733073 bytes; a CIFAR-10 binary file holds at most 30730000"):
        read_cifar_binary(tmp_path / "c.tgz", "c.tgz", CIFAR10_LAYOUT)


def test_a_truncated_cifar_archive_is_refused(tmp_path):
    whole = cifar10_set().files["cifar-10-binary.tar.gz"]
    (tmp_path / "c.tgz").write_bytes(whole[: len(whole) // 2])

    with pytest.raises(DatasetError, match=r"^c\.tgz: cannot read the archive \(unexpected end of data\)"):
        read_cifar_binary(tmp_path / "c.tgz", "c.tgz", CIFAR10_LAYOUT)


def idx_paths(tmp_path, **replaced: bytes):
    files = idx_set(DIGITS).files
    files.update({name: data for name, data in replaced.items()})
    paths = write_files(tmp_path, files)
    return [paths[name] for name in files]


def test_an_idx_file_must_start_with_its_magic_number(tmp_path):
    (tmp_path / "x.gz").write_bytes(gz(b"\x01\x02\x08\x03" + bytes(16)))

    with pytest.raises(DatasetError, match=r"^MNIST: x\.gz: not an IDX file"):
        read_idx(tmp_path / "x.gz", "MNIST", dimensions=3)


def test_an_idx_file_of_other_values_than_unsigned_bytes_is_refused(tmp_path):
    (tmp_path / "x.gz").write_bytes(gz(idx_bytes(np.zeros((2, 4, 4)), type_code=0x0D)))

    with pytest.raises(DatasetError, match=r"holds IDX type 0x0d; expected unsigned bytes \(0x08\)"):
        read_idx(tmp_path / "x.gz", "MNIST", dimensions=3)


def test_labels_given_where_images_are_expected_are_refused(tmp_path):
    (tmp_path / "x.gz").write_bytes(gz(idx_bytes(np.arange(5))))

    with pytest.raises(DatasetError, match=r"has 1 dimensions; expected 3"):
        read_idx(tmp_path / "x.gz", "MNIST", dimensions=3)


def test_an_idx_file_with_fewer_values_than_declared_is_refused(tmp_path):
    (tmp_path / "x.gz").write_bytes(gz(idx_bytes(np.zeros((3, 28, 28)))[:-100]))

    with pytest.raises(DatasetError, match=r"truncated: declares \[3, 28, 28\] values but holds 2252"):
        read_idx(tmp_path / "x.gz", "MNIST", dimensions=3)


def test_an_idx_file_with_more_values_than_declared_is_refused(tmp_path):
    (tmp_path / "x.gz").write_bytes(gz(idx_bytes(np.zeros((3, 28, 28))) + b"\x00"))

    with pytest.raises(DatasetError, match=r"holds more data than its header declares"):
        read_idx(tmp_path / "x.gz", "MNIST", dimensions=3)


def test_an_idx_header_declaring_huge_images_is_refused_before_reading(tmp_path):
    (tmp_path / "x.gz").write_bytes(gz(bytes([0, 0, 8, 3]) + struct.pack(">3I", 60_000, 5000, 28)))

    with pytest.raises(DatasetError, match=r"rows of \[5000, 28\] values; each side must be 1-4096"):
        read_idx(tmp_path / "x.gz", "MNIST", dimensions=3)


def test_a_cut_gzip_stream_is_refused(tmp_path):
    whole = gz(idx_bytes(np.zeros((3, 28, 28))))
    (tmp_path / "x.gz").write_bytes(whole[: len(whole) - 12])

    with pytest.raises(DatasetError, match=r"x\.gz: cannot read the gzip stream"):
        read_idx(tmp_path / "x.gz", "MNIST", dimensions=3)


def test_a_file_that_is_not_gzip_is_refused(tmp_path):
    (tmp_path / "x.gz").write_bytes(idx_bytes(np.zeros((3, 28, 28))))

    with pytest.raises(DatasetError, match=r"x\.gz: cannot read the gzip stream"):
        read_idx(tmp_path / "x.gz", "MNIST", dimensions=3)


def test_images_and_labels_must_be_as_many(tmp_path):
    paths = idx_paths(tmp_path, **{"t10k-labels-idx1-ubyte.gz": gz(idx_bytes(np.arange(4)))})

    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz holds 5 images but t10k-labels-idx1-ubyte\.gz"):
        read_idx_dataset(*paths, source="MNIST", class_names=DIGITS)


def test_an_idx_label_outside_the_classes_is_refused(tmp_path):
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1])
    paths = idx_paths(tmp_path, **{"train-labels-idx1-ubyte.gz": gz(idx_bytes(labels))})

    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte\.gz: entry 10 is 10; labels are 0-9"):
        read_idx_dataset(*paths, source="MNIST", class_names=DIGITS)


def test_svhn_images_are_turned_into_channels_first_and_10_means_0(tmp_path):
    standard_set = svhn_set()
    paths = write_files(tmp_path, standard_set.files)

    images, labels = read_svhn_mat(paths["train_32x32.mat"], "SVHN")

    np.testing.assert_array_equal(images, standard_set.expected.x_train)
    assert labels.tolist() == list(range(10))


def mat_file(tmp_path, **variables) -> object:
    path = tmp_path / "train_32x32.mat"
    scipy.io.savemat(path, variables, format="5")
    return path


def test_a_matlab_v73_file_is_refused(tmp_path):
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116, b" ")
    (tmp_path / "train_32x32.mat").write_bytes(header + bytes(8) + struct.pack("<H", 0x0200) + b"IM" + bytes(512))

    with pytest.raises(DatasetError, match=r"a MATLAB v7\.3 \(HDF5\) file; only MATLAB v5 files are read"):
        read_svhn_mat(tmp_path / "train_32x32.mat", "SVHN")


def test_cells_and_structs_are_refused_as_svhn_variables(tmp_path):
    cells = np.empty((1, 2), dtype=object)
    cells[0, 0], cells[0, 1] = np.zeros((2, 2)), "text"
    path = mat_file(tmp_path, X=cells, y=np.ones((2, 1)))

    with pytest.raises(DatasetError, match=r"train_32x32\.mat: X is a MATLAB cell; only numeric arrays are read"):
        read_svhn_mat(path, "SVHN")


def test_svhn_images_of_another_shape_are_refused(tmp_path):
    path = mat_file(tmp_path, X=np.zeros((28, 28, 1, 2), np.uint8), y=np.ones((2, 1)))

    with pytest.raises(
        DatasetError, match=r"X is a uint8 array of shape \[28, 28, 1, 2\]; SVHN's X is uint8 32×32×3×N"
    ):
        read_svhn_mat(path, "SVHN")


def test_svhn_labels_outside_1_to_10_are_refused(tmp_path):
    (tmp_path / "train_32x32.mat").write_bytes(svhn_mat(np.zeros((2, 3, 32, 32), np.uint8), np.array([3, 11])))

    with pytest.raises(DatasetError, match=r"y: entry 1 is 11; labels are 1-10"):
        read_svhn_mat(tmp_path / "train_32x32.mat", "SVHN")


def test_svhn_needs_as_many_labels_as_images(tmp_path):
    path = mat_file(tmp_path, X=np.zeros((32, 32, 3, 3), np.uint8), y=np.ones((2, 1)))

    with pytest.raises(DatasetError, match=r"y is a double array of shape \[2, 1\]; expected 3×1 numbers"):
        read_svhn_mat(path, "SVHN")


def test_an_svhn_file_without_labels_is_refused(tmp_path):
    path = mat_file(tmp_path, X=np.zeros((32, 32, 3, 3), np.uint8))

    with pytest.raises(DatasetError, match=r"holds no variable y; an SVHN file holds X and y"):
        read_svhn_mat(path, "SVHN")


@pytest.mark.parametrize("cut", [10, 200, -40])
def test_a_broken_matlab_file_is_refused(tmp_path, cut):
    whole = svhn_mat(np.zeros((2, 3, 32, 32), np.uint8), np.array([1, 2]))
    (tmp_path / "train_32x32.mat").write_bytes(whole[:cut])

    with pytest.raises(DatasetError, match=r"^SVHN: train_32x32\.mat: "):
        read_svhn_mat(tmp_path / "train_32x32.mat", "SVHN")

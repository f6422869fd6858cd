"""Standard sets and single files imported from URLs, against a loopback mirror serving small files.

The mirror serves files written in each publisher's layout (a few records each); the
presets keep their real names and formats, and only their checksums are swapped for
those of the small files, so the code that runs is the code that fetches the real sets.
"""

from __future__ import annotations

import dataclasses
import hashlib
from types import SimpleNamespace

import numpy as np
import pytest

from tests.engine.datasets.builders import image_tree, stored_files, write_npz, write_zip
from tests.engine.datasets.local_http import LocalServer
from tests.engine.datasets.standard_files import (
    FASHION_CLASSES,
    cifar10_set,
    cifar100_set,
    idx_set,
    svhn_set,
)
from workers.engine import remote, standard_sets
from workers.engine.datasets import import_dataset, load_dataset
from workers.engine.errors import ConfigError, DatasetError, DatasetFetchError
from workers.engine.remote import Checksum
from workers.engine.standard_sets import PRESETS, STANDARD_FORMATS, import_preset, import_url

SETS = {
    "cifar10": cifar10_set,
    "cifar100": cifar100_set,
    "mnist": lambda: idx_set([str(digit) for digit in range(10)]),
    "fashion_mnist": lambda: idx_set(FASHION_CLASSES, seed=8),
    "svhn": svhn_set,
}


@pytest.fixture
def server():
    with LocalServer() as local:
        yield local


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch):
    monkeypatch.setattr(remote, "time", SimpleNamespace(sleep=lambda seconds: None))


def mirror(server, monkeypatch, key, standard_set, *, path="/mirror/", **route_options):
    """Serve ``standard_set`` under ``path`` and point the preset's checksums at its files."""
    preset = PRESETS[key]
    files = tuple(dataclasses.replace(file, checksum=standard_set.md5(file.name)) for file in preset.files)
    monkeypatch.setitem(PRESETS, key, dataclasses.replace(preset, files=files))
    for name, data in standard_set.files.items():
        server.serve(f"{path}{name}", data, **route_options.get(name, {}))
    return server.url(path)


def scratch_files(data_dir) -> list[str]:
    folder = data_dir / standard_sets.SCRATCH_FOLDER
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("key", list(SETS))
def test_every_preset_imports_with_its_shapes_labels_and_class_names(server, monkeypatch, data_dir, key):
    standard_set = SETS[key]()
    base_url = mirror(server, monkeypatch, key, standard_set)
    expected = standard_set.expected

    info = import_preset(key, data_dir, base_url=base_url)

    assert info.kind == "image"
    assert info.input_shape == list(expected.x_train.shape[1:])
    assert info.class_names == expected.class_names
    assert info.class_counts == np.bincount(expected.y_train, minlength=len(expected.class_names)).tolist()
    assert (info.train_size, info.test_size) == (len(expected.y_train), len(expected.y_test))
    stored = load_dataset(info.sha256, data_dir)
    np.testing.assert_array_equal(stored.x_train, expected.x_train)
    np.testing.assert_array_equal(stored.y_train, expected.y_train)
    np.testing.assert_array_equal(stored.x_test, expected.x_test)
    np.testing.assert_array_equal(stored.y_test, expected.y_test)
    assert scratch_files(data_dir) == []


def test_the_real_input_shapes_are_those_of_the_published_sets(server, monkeypatch, data_dir):
    shapes = {}
    for key, build in SETS.items():
        shapes[key] = import_preset(key, data_dir, base_url=mirror(server, monkeypatch, key, build())).input_shape

    assert shapes == {
        "cifar10": [3, 32, 32],
        "cifar100": [3, 32, 32],
        "mnist": [1, 28, 28],
        "fashion_mnist": [1, 28, 28],
        "svhn": [3, 32, 32],
    }


def test_a_preset_is_stored_under_the_same_hash_as_an_upload_of_the_same_arrays(
    server, monkeypatch, tmp_path, data_dir
):
    standard_set = cifar10_set()
    expected = standard_set.expected
    names = np.array(expected.class_names)
    # The same images as an .npz upload would hold them (N×H×W×C), labelled by class name.
    upload = write_npz(
        tmp_path / "cifar.npz",
        x_train=expected.x_train.transpose(0, 2, 3, 1),
        y_train=names[expected.y_train],
        x_test=expected.x_test.transpose(0, 2, 3, 1),
        y_test=names[expected.y_test],
    )

    from_preset = import_preset("cifar10", data_dir, base_url=mirror(server, monkeypatch, "cifar10", standard_set))

    assert from_preset == import_dataset(upload, tmp_path / "other-store")


def test_a_truncated_download_is_refused_and_nothing_is_kept(server, monkeypatch, data_dir):
    standard_set = idx_set([str(digit) for digit in range(10)])
    cut_short = {"t10k-labels-idx1-ubyte.gz": {"failures": ["truncate"] * 4}}
    base_url = mirror(server, monkeypatch, "mnist", standard_set, **cut_short)

    with pytest.raises(DatasetFetchError, match=r"MNIST: cannot download t10k-labels-idx1-ubyte\.gz: .*cut short"):
        import_preset("mnist", data_dir, base_url=base_url)

    assert server.requests["/mirror/t10k-labels-idx1-ubyte.gz"] == 4
    assert stored_files(data_dir) == []
    assert scratch_files(data_dir) == []


def test_a_download_cut_short_once_is_fetched_again_and_imported(server, monkeypatch, data_dir):
    standard_set = svhn_set()
    base_url = mirror(server, monkeypatch, "svhn", standard_set, **{"train_32x32.mat": {"failures": ["truncate"]}})

    info = import_preset("svhn", data_dir, base_url=base_url)

    assert server.requests["/mirror/train_32x32.mat"] == 2
    assert info.train_size == len(standard_set.expected.y_train)


def test_a_checksum_mismatch_is_refused_and_nothing_is_kept(server, monkeypatch, data_dir):
    base_url = mirror(server, monkeypatch, "cifar10", cifar10_set())
    # The mirror now serves a different archive under the same name.
    server.serve("/mirror/cifar-10-binary.tar.gz", cifar10_set(per_batch=3).files["cifar-10-binary.tar.gz"])

    with pytest.raises(DatasetError, match=r"CIFAR-10: cannot download cifar-10-binary\.tar\.gz: .*md5") as refused:
        import_preset("cifar10", data_dir, base_url=base_url)

    assert not isinstance(refused.value, DatasetFetchError)
    assert server.requests["/mirror/cifar-10-binary.tar.gz"] == 1
    assert stored_files(data_dir) == []
    assert scratch_files(data_dir) == []


def test_a_file_that_fails_to_decode_leaves_nothing_behind(server, monkeypatch, data_dir):
    broken = cifar10_set(members={"cifar-10-batches-bin/test_batch.bin": b"\x03" * 3000})
    base_url = mirror(server, monkeypatch, "cifar10", broken)

    with pytest.raises(DatasetError, match=r"test_batch\.bin holds 3000 bytes, not a whole number of 3073-byte"):
        import_preset("cifar10", data_dir, base_url=base_url)

    assert stored_files(data_dir) == []
    assert scratch_files(data_dir) == []


def test_the_next_mirror_serves_what_the_first_does_not(server, monkeypatch, data_dir):
    standard_set = idx_set(FASHION_CLASSES)
    second = mirror(server, monkeypatch, "fashion_mnist", standard_set, path="/second/")
    server.serve("/first/train-images-idx3-ubyte.gz", standard_set.files["train-images-idx3-ubyte.gz"])
    preset = PRESETS["fashion_mnist"]
    monkeypatch.setitem(PRESETS, "fashion_mnist", dataclasses.replace(preset, mirrors=(server.url("/first"), second)))

    info = import_preset("fashion_mnist", data_dir)

    assert info.class_names == FASHION_CLASSES
    assert server.requests["/first/train-images-idx3-ubyte.gz"] == 1
    assert server.requests["/first/train-labels-idx1-ubyte.gz"] == 1  # a 404, not retried
    assert server.requests["/second/train-images-idx3-ubyte.gz"] == 0


def test_max_bytes_caps_the_whole_download(server, monkeypatch, data_dir):
    standard_set = idx_set([str(digit) for digit in range(10)])
    base_url = mirror(server, monkeypatch, "mnist", standard_set)
    total = sum(len(data) for data in standard_set.files.values())

    with pytest.raises(DatasetError, match="byte limit"):
        import_preset("mnist", data_dir, base_url=base_url, max_bytes=total - 1)

    assert stored_files(data_dir) == []
    assert scratch_files(data_dir) == []
    assert import_preset("mnist", data_dir, base_url=base_url, max_bytes=total).train_size == 12


def test_importing_a_preset_again_reuses_the_stored_arrays_without_decoding(server, monkeypatch, data_dir):
    base_url = mirror(server, monkeypatch, "cifar100", cifar100_set())
    first = import_preset("cifar100", data_dir, base_url=base_url)

    def no_decoding(*paths, source):
        raise AssertionError("decoded again")

    monkeypatch.setitem(
        STANDARD_FORMATS,
        "cifar100_binary",
        dataclasses.replace(STANDARD_FORMATS["cifar100_binary"], decode=no_decoding),
    )

    assert import_preset("cifar100", data_dir, base_url=base_url) == first


def test_progress_runs_through_every_download_then_decoding_and_storing(server, monkeypatch, data_dir):
    base_url = mirror(server, monkeypatch, "mnist", idx_set([str(digit) for digit in range(10)]))
    reports = []

    import_preset(
        "mnist", data_dir, base_url=base_url, progress=lambda fraction, stage: reports.append((fraction, stage))
    )

    fractions = [fraction for fraction, _ in reports]
    stages = list(dict.fromkeys(stage for _, stage in reports))
    assert fractions == sorted(fractions)
    assert reports[0] == (0.0, "downloading train-images-idx3-ubyte.gz")
    assert reports[-1] == (1.0, "ready")
    assert stages == [
        "downloading train-images-idx3-ubyte.gz",
        "downloading train-labels-idx1-ubyte.gz",
        "downloading t10k-images-idx3-ubyte.gz",
        "downloading t10k-labels-idx1-ubyte.gz",
        "decoding",
        "storing",
        "ready",
    ]
    assert (standard_sets.DOWNLOAD_SHARE, "decoding") in reports


def test_an_unknown_preset_is_refused_naming_the_field(data_dir):
    with pytest.raises(ConfigError, match=r"unknown standard dataset 'imagenet'; choose one of cifar10") as refused:
        import_preset("imagenet", data_dir)

    assert refused.value.field == "preset"


@pytest.mark.parametrize("key", list(PRESETS))
def test_every_preset_names_published_files_with_a_checksum_for_each(key):
    preset = PRESETS[key]

    assert [file.role for file in preset.files] == list(STANDARD_FORMATS[preset.format].roles)
    assert all(mirror.startswith(("https://", "http://")) and mirror.endswith("/") for mirror in preset.mirrors)
    assert all(Checksum.parse(file.checksum).algorithm == "md5" for file in preset.files)


def test_a_url_in_an_upload_format_imports_like_that_upload(server, tmp_path, data_dir):
    archive = write_zip(tmp_path / "pets.zip", image_tree()).read_bytes()
    url = server.serve("/shared/pets.zip", archive)

    info = import_url(
        url, data_dir, format="image_folder", max_bytes=len(archive), checksum=hashlib.md5(archive).hexdigest()
    )

    assert info == import_dataset(tmp_path / "pets.zip", tmp_path / "other-store")
    assert info.class_names == ["cat", "dog"]
    assert scratch_files(data_dir) == []


def test_a_url_of_a_cifar_archive_imports_with_a_sha256_checksum(server, data_dir):
    standard_set = cifar10_set()
    archive = standard_set.files["cifar-10-binary.tar.gz"]
    url = server.serve("/cifar-10-binary.tar.gz", archive)

    info = import_url(
        url,
        data_dir,
        format="cifar10_binary",
        max_bytes=len(archive),
        checksum="sha256:" + hashlib.sha256(archive).hexdigest(),
    )

    assert info.class_names == standard_set.expected.class_names
    np.testing.assert_array_equal(load_dataset(info.sha256, data_dir).x_test, standard_set.expected.x_test)


def test_a_url_over_the_size_limit_stores_nothing(server, data_dir):
    archive = cifar10_set().files["cifar-10-binary.tar.gz"]
    url = server.serve("/cifar-10-binary.tar.gz", archive)

    with pytest.raises(DatasetError, match="over the 100 byte limit"):
        import_url(url, data_dir, format="cifar10_binary", max_bytes=100)

    assert stored_files(data_dir) == []
    assert scratch_files(data_dir) == []


def test_a_format_of_several_files_is_refused_for_a_single_url(data_dir):
    with pytest.raises(ConfigError, match=r"mnist_idx.* come as several files: import them as a preset") as refused:
        import_url("http://127.0.0.1:9/train-images-idx3-ubyte.gz", data_dir, format="mnist_idx", max_bytes=100)

    assert refused.value.field == "format"

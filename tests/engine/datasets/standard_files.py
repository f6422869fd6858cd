"""Small files in the standard sets' published layouts, with the arrays they must decode to.

Each writer lays the bytes out as the publisher documents them (CIFAR's record layout,
the IDX header, SVHN's MATLAB variables), not through the readers under test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
IDX_NAMES += ("t10k-labels-idx1-ubyte.gz",)


@dataclass
class Expected:
    """What a set of files must decode to: N×C×H×W images, labels, class names."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]


@dataclass
class StandardSet:
    files: dict[str, bytes]  # published file name -> content
    expected: Expected

    def md5(self, name: str) -> str:
        return "md5:" + hashlib.md5(self.files[name]).hexdigest()


def colour_images(count: int, seed: int, *, height: int = 32, width: int = 32) -> np.ndarray:
    """``count`` RGB images as N×3×H×W, each plane different, so a mixed-up layout shows."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, 3, height, width), dtype=np.uint8)


def cifar_record(labels: tuple[int, ...], image: np.ndarray) -> bytes:
    """One record: the label byte(s), then the red, green and blue 32×32 planes, each row by row."""
    red, green, blue = image
    return bytes(labels) + red.tobytes(order="C") + green.tobytes(order="C") + blue.tobytes(order="C")


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        folder = tarfile.TarInfo(next(iter(members)).split("/")[0])
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def cifar10_set(*, per_batch: int = 2, test: int = 3, members: dict[str, bytes] | None = None) -> StandardSet:
    """cifar-10-binary.tar.gz: five training batches, a test batch and the class names, as published."""
    train_images = colour_images(5 * per_batch, seed=1)
    train_labels = np.arange(5 * per_batch) % 10
    test_images = colour_images(test, seed=2)
    test_labels = (np.arange(test) * 3) % 10
    folder = "cifar-10-batches-bin"
    content = {}
    for batch in range(5):
        rows = range(batch * per_batch, (batch + 1) * per_batch)
        content[f"{folder}/data_batch_{batch + 1}.bin"] = b"".join(
            cifar_record((int(train_labels[row]),), train_images[row]) for row in rows
        )
    content[f"{folder}/test_batch.bin"] = b"".join(
        cifar_record((int(label),), image) for label, image in zip(test_labels, test_images, strict=True)
    )
    content[f"{folder}/batches.meta.txt"] = ("\n".join(CIFAR10_CLASSES) + "\n\n").encode()
    content[f"{folder}/readme.html"] = b"<html>CIFAR-10</html>"
    content.update(members or {})
    expected = Expected(train_images, train_labels, test_images, test_labels, CIFAR10_CLASSES)
    return StandardSet({"cifar-10-binary.tar.gz": tar_gz(content)}, expected)


def cifar100_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}_{index:03d}" for index in range(count)]


def cifar100_set(*, train: int = 4, test: int = 2, members: dict[str, bytes] | None = None) -> StandardSet:
    """cifar-100-binary.tar.gz: records with a coarse then a fine label byte; the fine labels are the classes.

    The coarse label here is fine // 5: any value below 20 is valid.
    """
    train_images, test_images = colour_images(train, seed=3), colour_images(test, seed=4)
    train_fine, test_fine = np.array([0, 99, 42, 7][:train]), np.array([99, 3][:test])
    folder = "cifar-100-binary"
    content = {
        f"{folder}/train.bin": b"".join(
            cifar_record((int(label) // 5, int(label)), image)
            for label, image in zip(train_fine, train_images, strict=True)
        ),
        f"{folder}/test.bin": b"".join(
            cifar_record((int(label) // 5, int(label)), image)
            for label, image in zip(test_fine, test_images, strict=True)
        ),
        f"{folder}/fine_label_names.txt": "\n".join(cifar100_names("fine", 100)).encode(),
        f"{folder}/coarse_label_names.txt": "\n".join(cifar100_names("coarse", 20)).encode(),
    }
    content.update(members or {})
    expected = Expected(train_images, train_fine, test_images, test_fine, cifar100_names("fine", 100))
    return StandardSet({"cifar-100-binary.tar.gz": tar_gz(content)}, expected)


def idx_bytes(values: np.ndarray, *, type_code: int = 0x08) -> bytes:
    """An uncompressed IDX file: 0, 0, the type code, the dimension count, big-endian sizes, the values."""
    header = bytes([0, 0, type_code, values.ndim]) + struct.pack(f">{values.ndim}I", *values.shape)
    return header + values.astype(np.uint8).tobytes(order="C")


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def idx_set(class_names: list[str], *, train: int = 12, test: int = 5, seed: int = 5) -> StandardSet:
    """The four IDX .gz files of an MNIST-layout set: 28×28 grayscale images and their labels."""
    rng = np.random.default_rng(seed)
    train_images = rng.integers(0, 256, size=(train, 28, 28), dtype=np.uint8)
    test_images = rng.integers(0, 256, size=(test, 28, 28), dtype=np.uint8)
    train_labels, test_labels = np.arange(train) % 10, (np.arange(test) * 7) % 10
    files = dict(
        zip(
            IDX_NAMES,
            (gz(idx_bytes(train_images)), gz(idx_bytes(train_labels)), gz(idx_bytes(test_images)))
            + (gz(idx_bytes(test_labels)),),
            strict=True,
        )
    )
    expected = Expected(train_images[:, None], train_labels, test_images[:, None], test_labels, class_names)
    return StandardSet(files, expected)


def svhn_mat(images: np.ndarray, digits: np.ndarray) -> bytes:
    """An SVHN cropped-digits .mat: X is 32×32×3×N uint8 (height, width, channel, image), y is N×1 with 10 for 0."""
    buffer = io.BytesIO()
    x = np.ascontiguousarray(images.transpose(2, 3, 1, 0))
    y = np.where(digits == 0, 10, digits).astype(np.float64)[:, None]
    scipy.io.savemat(buffer, {"X": x, "y": y}, format="5")
    return buffer.getvalue()


def svhn_set(*, train: int = 10, test: int = 3) -> StandardSet:
    train_images, test_images = colour_images(train, seed=6), colour_images(test, seed=7)
    train_digits, test_digits = np.arange(train) % 10, np.array([0, 5, 9][:test])
    files = {
        "train_32x32.mat": svhn_mat(train_images, train_digits),
        "test_32x32.mat": svhn_mat(test_images, test_digits),
    }
    expected = Expected(train_images, train_digits, test_images, test_digits, [str(digit) for digit in range(10)])
    return StandardSet(files, expected)


def write_files(folder: Path, files: dict[str, bytes]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths

"""The publishers' own formats of standard image sets, decoded without unpickling.

- CIFAR-10 and CIFAR-100, binary version: a tar.gz of fixed-size records, each one label
  byte (CIFAR-100: a coarse then a fine label byte) followed by 3,072 pixel bytes, the red,
  green and blue 32×32 planes in row-major order, which is already C×H×W. Class names come
  from the archive's text file beside the records (CIFAR-100 uses the fine labels).
- IDX (MNIST, Fashion-MNIST): gzip files holding two zero bytes, a type code, the number
  of dimensions, each dimension as a big-endian 32-bit count, then the values. The images
  are N×28×28 unsigned bytes and the labels N unsigned bytes; the class names are the
  publisher's (the files carry none).
- SVHN cropped digits: MATLAB v5 ``.mat`` files with ``X`` (32×32×3×N uint8) and ``y``
  (N×1, digits 1-10 where 10 stands for 0), read by ``scipy.io``, which never unpickles.
  Only numeric arrays are accepted; MATLAB v7.3 (HDF5) files are refused.

Every reader checks sizes against what the file declares before reading the values,
so a truncated or inflated file is refused with a DatasetError naming it.
"""

from __future__ import annotations

import gzip
import struct
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from workers.engine.arrays import ArrayDataset
from workers.engine.errors import DatasetError

# The decoded arrays of one dataset may not exceed this (the image-folder loader's limit too).
MAX_DECODED_BYTES = 4 * 1024**3
CIFAR_PIXEL_BYTES = 3 * 32 * 32
CIFAR_IMAGE_SHAPE = (3, 32, 32)
# The real archives hold fewer than ten members; many more means this is not one.
MAX_CIFAR_MEMBERS = 1000
MAX_NAMES_FILE_BYTES = 64 * 1024
CIFAR_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error)
IDX_UNSIGNED_BYTE = 0x08
MAX_IDX_SIDE = 4096
SVHN_IMAGE_SHAPE = (32, 32, 3)
SVHN_ZERO_LABEL = 10
MATLAB_NUMERIC_CLASSES = frozenset(
    {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"}
)


@dataclass(frozen=True)
class CifarLayout:
    title: str
    train_members: tuple[str, ...]
    test_member: str
    names_member: str
    # Classes per label byte of a record, in record order; ``used_label`` picks the one kept.
    label_classes: tuple[int, ...]
    used_label: int
    max_records_per_member: int

    @property
    def record_bytes(self) -> int:
        return len(self.label_classes) + CIFAR_PIXEL_BYTES


CIFAR10_LAYOUT = CifarLayout(
    title="CIFAR-10 binary",
    train_members=tuple(f"data_batch_{index}.bin" for index in range(1, 6)),
    test_member="test_batch.bin",
    names_member="batches.meta.txt",
    label_classes=(10,),
    used_label=0,
    max_records_per_member=10_000,
)
CIFAR100_LAYOUT = CifarLayout(
    title="CIFAR-100 binary",
    train_members=("train.bin",),
    test_member="test.bin",
    names_member="fine_label_names.txt",
    label_classes=(20, 100),
    used_label=1,
    max_records_per_member=50_000,
)


def read_cifar_binary(path: Path, source: str, layout: CifarLayout) -> ArrayDataset:
    """Decode a CIFAR binary archive; only the members the layout names are read, nothing is extracted."""
    members = _cifar_members(path, source, layout)
    class_names = _cifar_class_names(members[layout.names_member], source, layout)
    train = [_cifar_records(members[name], name, source, layout) for name in layout.train_members]
    x_test, y_test = _cifar_records(members[layout.test_member], layout.test_member, source, layout)
    return ArrayDataset(
        x_train=np.concatenate([images for images, _ in train]),
        y_train=np.concatenate([labels for _, labels in train]),
        x_test=x_test,
        y_test=y_test,
        class_names=class_names,
        kind="image",
    )


def _cifar_members(path: Path, source: str, layout: CifarLayout) -> dict[str, bytes]:
    wanted = {*layout.train_members, layout.test_member, layout.names_member}
    found: dict[str, bytes] = {}
    try:
        # Stream mode reads the compressed archive once, front to back.
        with tarfile.open(path, mode="r|*") as archive:
            for count, member in enumerate(archive, start=1):
                if count > MAX_CIFAR_MEMBERS:
                    raise DatasetError(f"{source}: more than {MAX_CIFAR_MEMBERS} members; not a {layout.title} archive")
                name = PurePosixPath(member.name).name
                if name not in wanted:
                    continue
                if not member.isfile():
                    raise DatasetError(f"{source}: {member.name} is not a regular file")
                if name in found:
                    raise DatasetError(f"{source}: holds {name} more than once")
                limit = (
                    MAX_NAMES_FILE_BYTES
                    if name == layout.names_member
                    else layout.max_records_per_member * layout.record_bytes
                )
                if member.size > limit:
                    raise DatasetError(
                        f"{source}: {name} holds {member.size} bytes; a {layout.title} file holds at most {limit}"
                    )
                found[name] = archive.extractfile(member).read()
    except DatasetError:
        raise
    except CIFAR_ERRORS as error:
        raise DatasetError(f"{source}: cannot read the archive ({error})") from None
    missing = sorted(wanted - set(found))
    if missing:
        raise DatasetError(f"{source}: missing {', '.join(missing)}; not a {layout.title} archive")
    return found


def _cifar_class_names(data: bytes, source: str, layout: CifarLayout) -> list[str]:
    try:
        names = [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise DatasetError(f"{source}: {layout.names_member} is not UTF-8 text") from None
    expected = layout.label_classes[layout.used_label]
    if len(names) != expected:
        raise DatasetError(f"{source}: {layout.names_member} names {len(names)} classes; expected {expected}")
    return names


def _cifar_records(data: bytes, member: str, source: str, layout: CifarLayout) -> tuple[np.ndarray, np.ndarray]:
    size = layout.record_bytes
    if not data or len(data) % size:
        raise DatasetError(
            f"{source}: {member} holds {len(data)} bytes, not a whole number of {size}-byte records (truncated?)"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, size)
    for position, classes in enumerate(layout.label_classes):
        labels = records[:, position]
        outside = np.flatnonzero(labels >= classes)
        if outside.size:
            record = int(outside[0])
            raise DatasetError(
                f"{source}: {member}: record {record} has label {int(labels[record])}; "
                f"labels in this position are 0-{classes - 1}"
            )
    images = records[:, len(layout.label_classes) :].reshape(-1, *CIFAR_IMAGE_SHAPE)
    return images, records[:, layout.used_label].astype(np.int64)


def read_idx(path: Path, source: str, *, dimensions: int) -> np.ndarray:
    """Decode one gzip-compressed IDX file of unsigned bytes with ``dimensions`` dimensions."""
    where = f"{source}: {path.name}"
    try:
        with gzip.open(path, "rb") as stream:
            header = stream.read(4)
            if len(header) < 4 or header[:2] != b"\x00\x00":
                raise DatasetError(f"{where}: not an IDX file (it must start with two zero bytes)")
            type_code, declared_dimensions = header[2], header[3]
            if type_code != IDX_UNSIGNED_BYTE:
                raise DatasetError(
                    f"{where}: holds IDX type 0x{type_code:02x}; expected unsigned bytes (0x{IDX_UNSIGNED_BYTE:02x})"
                )
            if declared_dimensions != dimensions:
                raise DatasetError(f"{where}: has {declared_dimensions} dimensions; expected {dimensions}")
            counts = stream.read(4 * dimensions)
            if len(counts) < 4 * dimensions:
                raise DatasetError(f"{where}: the header is truncated")
            shape = struct.unpack(f">{dimensions}I", counts)
            if any(not 1 <= side <= MAX_IDX_SIDE for side in shape[1:]):
                raise DatasetError(f"{where}: rows of {list(shape[1:])} values; each side must be 1-{MAX_IDX_SIDE}")
            total = int(np.prod(shape, dtype=np.int64))
            if total > MAX_DECODED_BYTES:
                raise DatasetError(f"{where}: declares {total} values, over the {MAX_DECODED_BYTES} byte limit")
            values = stream.read(total)
            if len(values) < total:
                raise DatasetError(f"{where}: truncated: declares {list(shape)} values but holds {len(values)}")
            if stream.read(1):
                raise DatasetError(f"{where}: holds more data than its header declares ({list(shape)})")
    except DatasetError:
        raise
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"{where}: cannot read the gzip stream ({error})") from None
    return np.frombuffer(values, dtype=np.uint8).reshape(shape)


def read_idx_dataset(
    train_images: Path,
    train_labels: Path,
    test_images: Path,
    test_labels: Path,
    source: str,
    class_names: Sequence[str],
) -> ArrayDataset:
    """An MNIST-layout image set from its four IDX files; labels index ``class_names``."""
    splits = {}
    for split, images_path, labels_path in (
        ("train", train_images, train_labels),
        ("test", test_images, test_labels),
    ):
        images = read_idx(images_path, source, dimensions=3)
        labels = read_idx(labels_path, source, dimensions=1)
        if len(images) != len(labels):
            raise DatasetError(
                f"{source}: {images_path.name} holds {len(images)} images but {labels_path.name} "
                f"holds {len(labels)} labels"
            )
        _check_labels(labels, 0, len(class_names), f"{source}: {labels_path.name}")
        splits[split] = (images[:, None, :, :], labels.astype(np.int64))
    return ArrayDataset(
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["test"][0],
        y_test=splits["test"][1],
        class_names=list(class_names),
        kind="image",
    )


def read_svhn_mat(path: Path, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Images N×3×32×32 and digit labels 0-9 from one SVHN cropped-digits ``.mat`` file."""
    import scipy.io

    where = f"{source}: {path.name}"
    declared = _matlab_variables(path, where)
    for name in ("X", "y"):
        if name not in declared:
            raise DatasetError(f"{where}: holds no variable {name}; an SVHN file holds X and y")
    x_shape, x_class = declared["X"]
    if x_class != "uint8" or len(x_shape) != 4 or tuple(x_shape[:3]) != SVHN_IMAGE_SHAPE:
        raise DatasetError(f"{where}: X is a {x_class} array of shape {list(x_shape)}; SVHN's X is uint8 32×32×3×N")
    count = x_shape[3]
    y_shape, y_class = declared["y"]
    if y_class not in MATLAB_NUMERIC_CLASSES or tuple(y_shape) not in ((count, 1), (1, count)):
        raise DatasetError(f"{where}: y is a {y_class} array of shape {list(y_shape)}; expected {count}×1 numbers")
    if count * CIFAR_PIXEL_BYTES > MAX_DECODED_BYTES:
        raise DatasetError(f"{where}: {count} images are over the {MAX_DECODED_BYTES} byte limit")
    try:
        arrays = scipy.io.loadmat(path, variable_names=["X", "y"], verify_compressed_data_integrity=True)
    except Exception as error:  # scipy reports a malformed file as any of a dozen exception types
        raise DatasetError(f"{where}: cannot read the MATLAB file ({error})") from None
    images, labels = arrays["X"], arrays["y"]
    # The header said so, but the values are what count.
    if images.dtype != np.uint8 or images.shape != (*SVHN_IMAGE_SHAPE, count) or labels.size != count:
        raise DatasetError(f"{where}: X or y does not hold what its header declares")
    if labels.dtype.kind not in "iuf":
        raise DatasetError(f"{where}: y holds {labels.dtype} values; expected numbers")
    labels = labels.reshape(-1)
    if labels.dtype.kind == "f" and not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
        raise DatasetError(f"{where}: y holds values that are not whole numbers")
    labels = labels.astype(np.int64)
    _check_labels(labels, 1, SVHN_ZERO_LABEL + 1, f"{where}: y")
    labels[labels == SVHN_ZERO_LABEL] = 0
    return np.ascontiguousarray(images.transpose(3, 2, 0, 1)), labels


def read_svhn_dataset(train: Path, test: Path, source: str) -> ArrayDataset:
    x_train, y_train = read_svhn_mat(train, source)
    x_test, y_test = read_svhn_mat(test, source)
    return ArrayDataset(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=[str(digit) for digit in range(10)],
        kind="image",
    )


def _matlab_variables(path: Path, where: str) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each variable's shape and MATLAB class, read from the headers without reading the values."""
    import scipy.io

    try:
        listed = scipy.io.whosmat(path)
    except NotImplementedError:
        raise DatasetError(f"{where}: a MATLAB v7.3 (HDF5) file; only MATLAB v5 files are read") from None
    except Exception as error:  # as in loadmat, a malformed file surfaces as many exception types
        raise DatasetError(f"{where}: not a readable MATLAB file ({error})") from None
    variables = {}
    for name, shape, matlab_class in listed:
        if matlab_class not in MATLAB_NUMERIC_CLASSES:
            # Cells, structs, objects and function handles carry no pixels; nothing but numbers is read.
            if name in ("X", "y"):
                raise DatasetError(f"{where}: {name} is a MATLAB {matlab_class}; only numeric arrays are read")
            continue
        variables[name] = (tuple(int(side) for side in shape), matlab_class)
    return variables


def _check_labels(labels: np.ndarray, low: int, high: int, where: str) -> None:
    """DatasetError unless every label lies in ``low`` .. ``high - 1``."""
    outside = np.flatnonzero((labels < low) | (labels >= high))
    if outside.size:
        position = int(outside[0])
        raise DatasetError(f"{where}: entry {position} is {labels[position]}; labels are {low}-{high - 1}")

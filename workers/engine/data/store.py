"""The content-addressed dataset store: canonical arrays saved under their SHA-256.

Every dataset, whatever it came from, ends up as one ``.npz`` holding its canonical
arrays (``x_train, y_train, x_test, y_test``), its class names, its kind and its
SHA-256, beside a small JSON sidecar with the metadata. The hash covers the arrays'
dtype, shape and bytes plus the class names and kind, in a fixed order, so the
same content always gets the same name however it was packaged. Files are written
to a temporary name and renamed, so a half-written dataset is never visible.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from workers.engine.arrays import INPUT_KINDS, ArrayDataset
from workers.engine.errors import DatasetError

STORE_FOLDER = "datasets"
# Remembers which stored dataset a source (an uploaded file, a built-in generator) decoded to.
SOURCES_FOLDER = "sources"
HASH_DOMAIN = b"samplewise-dataset-v1\n"
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")
# The arrays of a stored file; anything else in it makes the file non-canonical.
STORED_NAMES = (*ARRAY_NAMES, "class_names", "kind", "sha256")
X_DTYPES = {"image": np.dtype(np.uint8), "sequence": np.dtype(np.float32), "features": np.dtype(np.float32)}
X_DIMS = {"image": 4, "sequence": 2, "features": 2}
LABEL_DTYPE = np.dtype(np.int64)
MAX_CLASSES = 10_000
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
HASH_BLOCK_BYTES = 1 << 24


@dataclass(frozen=True)
class DatasetInfo:
    sha256: str
    kind: str
    input_shape: list[int]
    class_names: list[str]
    class_counts: list[int]  # training examples per class
    train_size: int
    test_size: int

    @classmethod
    def of(cls, dataset: ArrayDataset, sha256: str) -> DatasetInfo:
        return cls(
            sha256=sha256,
            kind=dataset.kind,
            input_shape=[int(size) for size in dataset.x_train.shape[1:]],
            class_names=list(dataset.class_names),
            class_counts=np.bincount(dataset.y_train, minlength=dataset.num_classes).tolist(),
            train_size=len(dataset.y_train),
            test_size=len(dataset.y_test),
        )


def validate_canonical(dataset: ArrayDataset, source: str) -> None:
    """Check that ``dataset`` is in canonical form; DatasetError names ``source`` and the problem."""
    kind = dataset.kind
    if kind not in INPUT_KINDS:
        raise DatasetError(f"{source}: unknown kind {kind!r}; expected one of {', '.join(INPUT_KINDS)}")
    names = dataset.class_names
    if not 2 <= len(names) <= MAX_CLASSES:
        raise DatasetError(f"{source}: a dataset needs 2 to {MAX_CLASSES} classes, found {len(names)}")
    # NumPy's fixed-width text drops trailing NULs, so such a name would not survive storage.
    if any(not isinstance(name, str) or not name or "\x00" in name for name in names):
        raise DatasetError(f"{source}: class names must be non-empty strings without NUL characters")
    if len(set(names)) != len(names):
        raise DatasetError(f"{source}: class names are not unique")
    for split in ("train", "test"):
        x, y = getattr(dataset, f"x_{split}"), getattr(dataset, f"y_{split}")
        if x.dtype != X_DTYPES[kind] or x.ndim != X_DIMS[kind]:
            raise DatasetError(
                f"{source}: x_{split} is {x.dtype} with {x.ndim} dimensions; "
                f"{kind} data needs {X_DTYPES[kind]} with {X_DIMS[kind]}"
            )
        if kind == "image" and x.shape[1] not in (1, 3):
            raise DatasetError(f"{source}: x_{split} has {x.shape[1]} channels; expected 1 or 3 (N×C×H×W)")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise DatasetError(f"{source}: x_{split} holds NaN or infinite values")
        if y.dtype != LABEL_DTYPE or y.ndim != 1:
            raise DatasetError(f"{source}: y_{split} must be a 1-D int64 array of class indices")
        if len(x) != len(y):
            raise DatasetError(f"{source}: x_{split} has {len(x)} rows but y_{split} has {len(y)}")
        if len(y) == 0:
            raise DatasetError(f"{source}: the {split} split is empty")
        if y.min() < 0 or y.max() >= len(names):
            raise DatasetError(f"{source}: y_{split} holds class indices outside 0..{len(names) - 1}")
    if dataset.x_train.shape[1:] != dataset.x_test.shape[1:]:
        raise DatasetError(
            f"{source}: x_train rows are {list(dataset.x_train.shape[1:])} "
            f"but x_test rows are {list(dataset.x_test.shape[1:])}"
        )


def content_sha256(dataset: ArrayDataset) -> str:
    """SHA-256 of the canonical content: kind, class names, then each array's dtype, shape and bytes."""
    digest = hashlib.sha256(HASH_DOMAIN)
    header = {"kind": dataset.kind, "class_names": list(dataset.class_names)}
    digest.update(json.dumps(header, sort_keys=True, ensure_ascii=True).encode() + b"\n")
    for name in ARRAY_NAMES:
        array = np.ascontiguousarray(getattr(dataset, name))
        digest.update(f"{name} {array.dtype.str} {list(array.shape)}\n".encode())
        flat = array.reshape(-1).view(np.uint8)
        for start in range(0, flat.size, HASH_BLOCK_BYTES):
            digest.update(flat[start : start + HASH_BLOCK_BYTES])
    return digest.hexdigest()


def store_dir(data_dir: Path | str) -> Path:
    return Path(data_dir) / STORE_FOLDER


def dataset_path(sha256: str, data_dir: Path | str) -> Path:
    """Where the canonical ``.npz`` of ``sha256`` lives (it may not exist yet)."""
    if not isinstance(sha256, str) or not SHA256_PATTERN.fullmatch(sha256):
        raise DatasetError(f"{sha256!r} is not a SHA-256 (64 lowercase hex digits)")
    return store_dir(data_dir) / f"{sha256}.npz"


def info_path(sha256: str, data_dir: Path | str) -> Path:
    return dataset_path(sha256, data_dir).with_suffix(".json")


def save_dataset(dataset: ArrayDataset, data_dir: Path | str, source: str) -> DatasetInfo:
    """Validate, hash and store ``dataset``; storing the same content again writes nothing new."""
    dataset = _canonical_layout(dataset)
    validate_canonical(dataset, source)
    sha256 = content_sha256(dataset)
    info = DatasetInfo.of(dataset, sha256)
    target = dataset_path(sha256, data_dir)
    if not _holds_valid_copy(target, sha256):
        target.parent.mkdir(parents=True, exist_ok=True)
        arrays = {name: getattr(dataset, name) for name in ARRAY_NAMES}
        arrays.update(
            class_names=np.array(dataset.class_names, dtype=str), kind=np.array(dataset.kind), sha256=np.array(sha256)
        )
        _write_atomically(target, lambda handle: np.savez(handle, **arrays))
    _write_info(info, data_dir)
    return info


def load_dataset(sha256: str, data_dir: Path | str) -> ArrayDataset:
    """Load a stored dataset and check that its content still hashes to ``sha256``."""
    path = dataset_path(sha256, data_dir)
    if not path.is_file():
        raise DatasetError(f"dataset {sha256} is not in the store ({path})")
    dataset, recorded = _read_canonical(path, path.name)
    actual = content_sha256(dataset)
    if actual != sha256 or recorded != sha256:
        raise DatasetError(f"{path}: the stored file is corrupt; its content hashes to {actual}, expected {sha256}")
    return dataset


def load_test_labels(sha256: str, data_dir: Path | str) -> np.ndarray:
    """Only the stored ``y_test`` of a dataset, read without unpickling and without loading the inputs.

    The file is not re-hashed (that reads every array); it is trusted as the
    store wrote it, and the labels are checked for shape and dtype.
    """
    path = dataset_path(sha256, data_dir)
    if not path.is_file():
        raise DatasetError(f"dataset {sha256} is not in the store ({path})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "y_test" not in archive.files:
                raise DatasetError(f"{path.name}: not a canonical dataset file; missing y_test")
            labels = archive["y_test"]
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{path.name}: cannot read the dataset file ({error})") from None
    if labels.dtype != LABEL_DTYPE or labels.ndim != 1:
        raise DatasetError(f"{path.name}: y_test must be a 1-D int64 array of class indices")
    return labels


def load_info(sha256: str, data_dir: Path | str) -> DatasetInfo:
    """The metadata of a stored dataset, from its sidecar (rebuilt from the arrays if the sidecar is lost)."""
    sidecar = info_path(sha256, data_dir)
    try:
        return DatasetInfo(**json.loads(sidecar.read_text()))
    except (OSError, ValueError, TypeError):
        info = DatasetInfo.of(load_dataset(sha256, data_dir), sha256)
        _write_info(info, data_dir)
        return info


def store_file(source: Path | str, data_dir: Path | str, *, expected_sha256: str | None = None) -> DatasetInfo:
    """Put a canonical ``.npz`` fetched from elsewhere into the store once its content matches its hash.

    The file's recorded SHA-256 must equal the hash of its content, and ``expected_sha256``
    too when given (the hash that was asked for).
    """
    source = Path(source)
    if expected_sha256 is not None:
        dataset_path(expected_sha256, data_dir)
    dataset, recorded = _read_canonical(source, source.name)
    actual = content_sha256(dataset)
    if recorded != actual:
        raise DatasetError(f"{source.name}: content hashes to {actual} but the file records {recorded}")
    if expected_sha256 is not None and actual != expected_sha256:
        raise DatasetError(f"{source.name}: content hashes to {actual}, expected {expected_sha256}")
    return save_dataset(dataset, data_dir, source.name)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def recall_source(source_key: dict, data_dir: Path | str) -> DatasetInfo | None:
    """The dataset that ``source_key`` was stored as before, if it is still in the store."""
    try:
        sha256 = json.loads(_source_path(source_key, data_dir).read_text())["sha256"]
        if dataset_path(sha256, data_dir).is_file():
            return load_info(sha256, data_dir)
    except (OSError, ValueError, KeyError, TypeError, DatasetError):
        pass
    return None


def remember_source(source_key: dict, info: DatasetInfo, data_dir: Path | str) -> None:
    text = json.dumps({"source": source_key, "sha256": info.sha256}, sort_keys=True) + "\n"
    _write_atomically(_source_path(source_key, data_dir), lambda handle: handle.write(text.encode()))


def _source_path(source_key: dict, data_dir: Path | str) -> Path:
    key = hashlib.sha256(json.dumps(source_key, sort_keys=True).encode()).hexdigest()
    return store_dir(data_dir) / SOURCES_FOLDER / f"{key}.json"


def _canonical_layout(dataset: ArrayDataset) -> ArrayDataset:
    """Same content with C-contiguous little-endian arrays, so equal data hashes and saves equally."""

    def canonical(array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))

    return ArrayDataset(
        x_train=canonical(dataset.x_train),
        y_train=canonical(dataset.y_train),
        x_test=canonical(dataset.x_test),
        y_test=canonical(dataset.y_test),
        class_names=[str(name) for name in dataset.class_names],
        kind=dataset.kind,
    )


def _read_canonical(path: Path, source: str) -> tuple[ArrayDataset, str]:
    """Read a stored-format ``.npz`` without unpickling; returns the dataset and its recorded hash."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in STORED_NAMES if name not in archive.files]
            if missing:
                raise DatasetError(f"{source}: not a canonical dataset file; missing {', '.join(missing)}")
            arrays = {name: archive[name] for name in STORED_NAMES}
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{source}: cannot read the dataset file ({error})") from None
    for name in ("class_names", "kind", "sha256"):
        if arrays[name].dtype.kind != "U":
            raise DatasetError(f"{source}: {name} must be stored as text")
    dataset = ArrayDataset(
        x_train=arrays["x_train"],
        y_train=arrays["y_train"],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        class_names=[str(name) for name in arrays["class_names"].reshape(-1)],
        kind=str(arrays["kind"]),
    )
    validate_canonical(dataset, source)
    return dataset, str(arrays["sha256"])


def _holds_valid_copy(path: Path, sha256: str) -> bool:
    if not path.is_file():
        return False
    try:
        dataset, recorded = _read_canonical(path, path.name)
    except DatasetError:
        return False
    return recorded == sha256 and content_sha256(dataset) == sha256


def _write_info(info: DatasetInfo, data_dir: Path | str) -> None:
    text = json.dumps(asdict(info), indent=2, sort_keys=True) + "\n"
    _write_atomically(info_path(info.sha256, data_dir), lambda handle: handle.write(text.encode()))


def _write_atomically(target: Path, write) -> None:
    """Write through a temporary file in the same folder and rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

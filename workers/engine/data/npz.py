"""``.npz`` datasets holding ``x_train, y_train, x_test, y_test``, read without unpickling.

``x`` with 2 dimensions is a feature table (stored as float32). ``x`` with 3 or 4
dimensions is an image set of uint8 values 0-255: N×H×W gets one channel, N×H×W×C
with C in 1 or 3 is transposed to N×C×H×W, and an array that is already N×C×H×W
(C in 1 or 3, last axis not) is kept. Integer labels are class indices 0..K-1 and
every class must occur in ``y_train``; string labels become the sorted unique names.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from workers.engine.arrays import ArrayDataset
from workers.engine.data.store import MAX_CLASSES
from workers.engine.errors import DatasetError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_NPZ_BYTES = 4 * 1024**3
IMAGE_CHANNELS = (1, 3)


def read_npz(path: Path, source: str) -> ArrayDataset:
    """Decode an uploaded ``.npz`` into canonical arrays; ``source`` names it in errors."""
    arrays = _load_arrays(path, source)
    kind, x_train = _canonical_x(arrays["x_train"], "x_train", source)
    test_kind, x_test = _canonical_x(arrays["x_test"], "x_test", source)
    if kind != test_kind or x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(
            f"{source}: x_train rows are {list(arrays['x_train'].shape[1:])} "
            f"but x_test rows are {list(arrays['x_test'].shape[1:])}; they must match"
        )
    y_train, y_test, class_names = encode_labels(arrays["y_train"], arrays["y_test"], source)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise DatasetError(f"{source}: x_{split} has {len(x)} rows but y_{split} has {len(y)}")
    return ArrayDataset(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, class_names=class_names, kind=kind
    )


def _load_arrays(path: Path, source: str) -> dict[str, np.ndarray]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{source}: not a readable .npz file ({error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(f"{source}: holds a single array; expected an .npz with {', '.join(NPZ_KEYS)}")
    with archive:
        missing = [key for key in NPZ_KEYS if key not in archive.files]
        if missing:
            found = ", ".join(archive.files) or "nothing"
            raise DatasetError(f"{source}: missing {', '.join(missing)} (found {found})")
        total = 0
        for key in NPZ_KEYS:
            dtype, shape = _declared_array(archive, key, source)
            if dtype.hasobject:
                raise DatasetError(
                    f"{source}: {key} holds Python objects (dtype {dtype}); "
                    "save numeric or fixed-width string arrays instead"
                )
            total += dtype.itemsize * int(np.prod(shape, dtype=np.int64))
            if total > MAX_NPZ_BYTES:
                raise DatasetError(f"{source}: the arrays hold more than {MAX_NPZ_BYTES} bytes")
        arrays = {}
        for key in NPZ_KEYS:
            try:
                arrays[key] = archive[key]
            except ValueError as error:
                # numpy refuses object arrays without unpickling them; say so plainly.
                if "pickle" in str(error):
                    raise DatasetError(f"{source}: {key} holds Python objects; save numeric arrays instead") from None
                raise DatasetError(f"{source}: {key} cannot be read ({error})") from None
            except (OSError, EOFError, zipfile.BadZipFile) as error:
                raise DatasetError(f"{source}: {key} cannot be read ({error})") from None
    return arrays


def _declared_array(archive: np.lib.npyio.NpzFile, key: str, source: str) -> tuple[np.dtype, tuple[int, ...]]:
    """dtype and shape from the array's header, read before its data so size limits apply first."""
    try:
        with archive.zip.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{source}: {key} cannot be read ({error})") from None
    return dtype, shape


def _canonical_x(x: np.ndarray, key: str, source: str) -> tuple[str, np.ndarray]:
    if x.dtype.kind not in "iuf":
        raise DatasetError(f"{source}: {key} has dtype {x.dtype}; expected numbers (uint8 images or float features)")
    if x.ndim == 2:
        with np.errstate(over="ignore"):  # overflow shows up as inf, reported just below
            features = x.astype(np.float32)
        if not np.isfinite(features).all():
            raise DatasetError(f"{source}: {key} holds NaN or infinite values (or values too large for float32)")
        return "features", features
    if x.ndim not in (3, 4):
        raise DatasetError(
            f"{source}: {key} has {x.ndim} dimensions {list(x.shape)}; expected 2 (features N×D), "
            "3 (grayscale images N×H×W) or 4 (images N×H×W×C)"
        )
    if x.dtype.kind == "f":
        raise DatasetError(f"{source}: {key} is {x.dtype}; images must be uint8 values 0-255")
    if x.dtype != np.uint8:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DatasetError(f"{source}: {key} holds values outside 0-255; images must be uint8 values 0-255")
        x = x.astype(np.uint8)
    if x.ndim == 3:
        return "image", x[:, None, :, :]
    if x.shape[3] in IMAGE_CHANNELS:
        return "image", np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if x.shape[1] in IMAGE_CHANNELS:
        return "image", x
    raise DatasetError(f"{source}: {key} has shape {list(x.shape)}; images need 1 or 3 channels (N×H×W×C or N×C×H×W)")


def encode_labels(y_train: np.ndarray, y_test: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """int64 class indices and class names from integer or string labels."""
    labels = {}
    for key, y in (("y_train", y_train), ("y_test", y_test)):
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise DatasetError(f"{source}: {key} has shape {list(y.shape)}; labels must be 1-D")
        if y.dtype.kind not in "iuUS":
            raise DatasetError(f"{source}: {key} has dtype {y.dtype}; labels must be integers or strings")
        labels[key] = y
    kinds = {"integers" if y.dtype.kind in "iu" else "strings" for y in labels.values()}
    if len(kinds) > 1:
        raise DatasetError(f"{source}: y_train and y_test must both hold integers or both hold strings")
    if kinds == {"strings"}:
        return _encode_strings(labels["y_train"], labels["y_test"], source)
    return _encode_indices(labels["y_train"], labels["y_test"], source)


def _encode_strings(y_train: np.ndarray, y_test: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    try:
        names_train, names_test = (y.astype(str) for y in (y_train, y_test))
    except UnicodeDecodeError:
        raise DatasetError(f"{source}: byte-string labels must be ASCII") from None
    class_names = sorted(set(names_train.tolist()))
    if len(class_names) > MAX_CLASSES:
        raise DatasetError(f"{source}: y_train holds {len(class_names)} distinct labels; at most {MAX_CLASSES} classes")
    unknown = sorted(set(names_test.tolist()) - set(class_names))
    if unknown:
        raise DatasetError(f"{source}: y_test holds label(s) {', '.join(map(repr, unknown[:5]))} not found in y_train")
    index = {name: position for position, name in enumerate(class_names)}
    encode = np.vectorize(index.__getitem__, otypes=[np.int64])
    return encode(names_train), encode(names_test), class_names


def _encode_indices(y_train: np.ndarray, y_test: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    for key, y in (("y_train", y_train), ("y_test", y_test)):
        if y.size and y.min() < 0:
            raise DatasetError(f"{source}: {key} holds negative labels; integer labels are class indices 0..K-1")
    if y_train.size == 0:
        raise DatasetError(f"{source}: y_train is empty")
    num_classes = int(y_train.max()) + 1
    if num_classes > MAX_CLASSES:
        raise DatasetError(
            f"{source}: y_train holds label {num_classes - 1}; at most {MAX_CLASSES} classes are supported"
        )
    absent = np.flatnonzero(np.bincount(y_train.astype(np.int64), minlength=num_classes) == 0)
    if absent.size:
        raise DatasetError(
            f"{source}: y_train has no example of class {int(absent[0])}; integer labels are class indices "
            f"0..{num_classes - 1} and each must occur in y_train"
        )
    if y_test.size and y_test.max() >= num_classes:
        raise DatasetError(f"{source}: y_test holds label {int(y_test.max())}, which never occurs in y_train")
    class_names = [str(label) for label in range(num_classes)]
    return y_train.astype(np.int64), y_test.astype(np.int64), class_names

"""Datasets: import once into canonical arrays, store under the SHA-256, load by hash.

Canonical arrays: images uint8 N×C×H×W (C = 1 or 3), sequences and features float32
N×L / N×D, labels int64 indices into ``class_names``. The loaders for each format
live in ``workers.engine.data``; this module is the API the rest of the code uses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from workers.engine.data.builtin import BUILTIN_DATASETS, materialize_builtin
from workers.engine.data.images import read_image_folder
from workers.engine.data.npz import read_npz
from workers.engine.data.splits import balanced_subset
from workers.engine.data.store import (
    DatasetInfo,
    dataset_path,
    file_sha256,
    load_dataset,
    load_info,
    load_test_labels,
    recall_source,
    remember_source,
    save_dataset,
    store_file,
)
from workers.engine.data.tabular import read_csv
from workers.engine.errors import DatasetError

__all__ = [
    "BUILTIN_DATASETS",
    "FORMATS",
    "DatasetInfo",
    "ImportProgress",
    "balanced_subset",
    "dataset_path",
    "detect_format",
    "import_dataset",
    "load_dataset",
    "load_info",
    "load_test_labels",
    "materialize_builtin",
    "store_file",
]

FORMATS = ("image_folder", "npz", "csv")
# ``progress(fraction, stage)``: how much of an import is done (0 to 1, never decreasing) and what it is doing.
# It may raise to stop the import; nothing is stored then.
ImportProgress = Callable[[float, str], None]
# Where the loader's share of an import ends; validating, hashing and writing the arrays take the rest.
LOADER_SHARE = 0.9
# Bump when a loader decodes the same file differently, so stores stop reusing old results.
LOADER_VERSION = 1
SUFFIX_FORMATS = {
    ".zip": "image_folder",
    ".tar.gz": "image_folder",
    ".tgz": "image_folder",
    ".tar": "image_folder",
    ".npz": "npz",
    ".csv": "csv",
}


def detect_format(path: Path, name: str) -> str:
    """The format implied by ``name`` (a directory is an image folder); DatasetError if none fits."""
    if path.is_dir():
        return "image_folder"
    lowered = name.lower()
    for suffix, dataset_format in SUFFIX_FORMATS.items():
        if lowered.endswith(suffix):
            return dataset_format
    raise DatasetError(
        f"{name}: cannot tell the format from the name; expected a directory or a file ending in "
        f"{', '.join(SUFFIX_FORMATS)}"
    )


def import_dataset(
    path: Path | str,
    data_dir: Path | str,
    *,
    format: str | None = None,
    label_column: str = "label",
    original_name: str | None = None,
    progress: ImportProgress | None = None,
) -> DatasetInfo:
    """Validate and decode ``path`` once, store its canonical arrays, and describe them.

    ``original_name`` is the uploaded file's name, used for errors and format detection
    when ``path`` is a temporary file. Importing the same content again gives the same
    SHA-256 and stores nothing new; importing the same file again skips decoding.
    ``progress`` hears how far the import has got (see ``ImportProgress``); the image
    folder loader reports as it reads and decodes, the others when they start.
    """
    report = progress or _ignore_progress
    path = Path(path)
    source = original_name or path.name
    if not path.exists():
        raise DatasetError(f"{source}: no such file or directory")
    dataset_format = format if format is not None else detect_format(path, source)
    if dataset_format not in FORMATS:
        raise DatasetError(f"{source}: unknown format {dataset_format!r}; expected one of {', '.join(FORMATS)}")
    if dataset_format != "image_folder" and path.is_dir():
        raise DatasetError(f"{source}: is a directory; only an image folder may be a directory")
    # A file decoded before is not decoded again; a directory may have changed, so it always is.
    source_key = None
    if path.is_file():
        report(0.0, "Checking the file")
        source_key = {"loader_version": LOADER_VERSION, "format": dataset_format, "file_sha256": file_sha256(path)}
        if dataset_format == "csv":
            source_key["label_column"] = label_column
        known = recall_source(source_key, data_dir)
        if known is not None:
            report(1.0, "Imported before")
            return known
    if dataset_format == "image_folder":
        dataset = read_image_folder(path, source, progress=_scaled(report, 0.0, LOADER_SHARE))
    elif dataset_format == "npz":
        report(0.0, "Reading the arrays")
        dataset = read_npz(path, source)
    else:
        report(0.0, "Reading the table")
        dataset = read_csv(path, source, label_column)
    report(LOADER_SHARE, "Storing the arrays")
    info = save_dataset(dataset, data_dir, source)
    if source_key is not None:
        remember_source(source_key, info, data_dir)
    report(1.0, "Imported")
    return info


def _ignore_progress(fraction: float, stage: str) -> None:
    pass


def _scaled(report: ImportProgress, start: float, end: float) -> ImportProgress:
    """``report`` for one step of the import that spans ``start`` to ``end`` of the whole."""

    def scaled(fraction: float, stage: str) -> None:
        report(start + (end - start) * min(max(fraction, 0.0), 1.0), stage)

    return scaled

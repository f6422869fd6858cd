"""CSV datasets: one table with a header row, a label column and numeric feature columns.

Every column other than the label (and ``split``, below) is a float32 feature. Labels
are text: when all of them are integers the class names are those integers in numeric
order, otherwise the sorted distinct labels. A CSV holds one table, so it is split
into train and test here: by a column named ``split`` holding ``train`` or ``test``
when there is one, otherwise stratified by class with ``CSV_TEST_FRACTION`` of every
class (rounded, at least one row kept for training) in test, chosen with the fixed
``CSV_SPLIT_SEED`` so the same file always gives the same split.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from workers.engine.arrays import ArrayDataset
from workers.engine.data.splits import stratified_split
from workers.engine.data.store import MAX_CLASSES
from workers.engine.errors import DatasetError

SPLIT_COLUMN = "split"
CSV_TEST_FRACTION = 0.2
CSV_SPLIT_SEED = 0
MAX_CSV_BYTES = 128 * 1024**2
INTEGER_LABEL = re.compile(r"[+-]?\d+")


def read_csv(path: Path, source: str, label_column: str) -> ArrayDataset:
    """Decode a CSV table into canonical feature arrays; ``source`` names it in errors."""
    if path.stat().st_size > MAX_CSV_BYTES:
        raise DatasetError(f"{source}: larger than the {MAX_CSV_BYTES} byte limit for CSV files")
    header, rows, line_numbers = _read_rows(path, source)
    if label_column not in header:
        raise DatasetError(f"{source}: no label column {label_column!r} (columns: {', '.join(header)})")
    label_at = header.index(label_column)
    split_at = header.index(SPLIT_COLUMN) if SPLIT_COLUMN in header and label_column != SPLIT_COLUMN else None
    feature_at = [column for column in range(len(header)) if column not in (label_at, split_at)]
    if not feature_at:
        raise DatasetError(f"{source}: no feature columns besides {label_column!r}")

    labels = [row[label_at].strip() for row in rows]
    for line, label in zip(line_numbers, labels, strict=True):
        if not label:
            raise DatasetError(f"{source}: line {line}: the label column {label_column!r} is empty")
    features = _parse_features(rows, feature_at, header, line_numbers, source)
    class_names, y = _encode_labels(labels, source)
    if split_at is None:
        train, test = stratified_split(y, test_fraction=CSV_TEST_FRACTION, seed=CSV_SPLIT_SEED)
    else:
        train, test = _split_by_column(rows, split_at, line_numbers, source)
    missing = sorted(set(y[test].tolist()) - set(y[train].tolist()))
    if missing:
        raise DatasetError(
            f"{source}: class(es) {', '.join(class_names[label] for label in missing[:5])} "
            "appear only in test rows; every class needs training rows"
        )
    return ArrayDataset(
        x_train=features[train],
        y_train=y[train],
        x_test=features[test],
        y_test=y[test],
        class_names=class_names,
        kind="features",
    )


def _read_rows(path: Path, source: str) -> tuple[list[str], list[list[str]], list[int]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{source}: the file is empty; expected a header row")
            header = [name.strip() for name in header]
            duplicated = sorted({name for name in header if header.count(name) > 1})
            if duplicated:
                raise DatasetError(f"{source}: column(s) {', '.join(map(repr, duplicated))} appear more than once")
            rows, line_numbers = [], []
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise DatasetError(
                        f"{source}: line {reader.line_num} has {len(row)} fields, the header has {len(header)}"
                    )
                rows.append(row)
                line_numbers.append(reader.line_num)
    except UnicodeDecodeError:
        raise DatasetError(f"{source}: not UTF-8 text") from None
    except csv.Error as error:
        raise DatasetError(f"{source}: not a valid CSV file ({error})") from None
    if not rows:
        raise DatasetError(f"{source}: the header is followed by no data rows")
    return header, rows, line_numbers


def _parse_features(
    rows: list[list[str]], feature_at: list[int], header: list[str], line_numbers: list[int], source: str
) -> np.ndarray:
    cells = np.char.strip(np.array([[row[column] for column in feature_at] for row in rows], dtype=str))
    try:
        values = cells.astype(np.float64)
    except ValueError:
        values = _parse_cell_by_cell(cells, feature_at, header, line_numbers, source)
    with np.errstate(over="ignore"):  # overflow shows up as inf, reported just below
        features = values.astype(np.float32)
    bad = np.argwhere(~np.isfinite(features))
    if bad.size:
        row, position = bad[0]
        raise DatasetError(
            f"{source}: line {line_numbers[row]}, column {header[feature_at[position]]!r}: "
            f"{str(cells[row, position])!r} is not a finite float32 number"
        )
    return features


def _parse_cell_by_cell(
    cells: np.ndarray, feature_at: list[int], header: list[str], line_numbers: list[int], source: str
) -> np.ndarray:
    """Python's float() on every cell, to name the first one that is not a number."""
    values = np.empty(cells.shape, dtype=np.float64)
    for row, line in enumerate(line_numbers):
        for position, column in enumerate(feature_at):
            text = str(cells[row, position])
            try:
                values[row, position] = float(text)
            except ValueError:
                raise DatasetError(
                    f"{source}: line {line}, column {header[column]!r}: {text!r} is not a number"
                ) from None
    return values


def _encode_labels(labels: list[str], source: str) -> tuple[list[str], np.ndarray]:
    distinct = set(labels)
    if len(distinct) > MAX_CLASSES:
        raise DatasetError(f"{source}: {len(distinct)} distinct labels; at most {MAX_CLASSES} classes are supported")
    if all(INTEGER_LABEL.fullmatch(label) for label in distinct):
        # Same integer, same class: "07" and "7" are one class named "7".
        numbers = [int(label) for label in labels]
        class_names = [str(number) for number in sorted(set(numbers))]
        keys = [str(number) for number in numbers]
    else:
        class_names = sorted(distinct)
        keys = labels
    index = {name: position for position, name in enumerate(class_names)}
    return class_names, np.array([index[key] for key in keys], dtype=np.int64)


def _split_by_column(
    rows: list[list[str]], split_at: int, line_numbers: list[int], source: str
) -> tuple[np.ndarray, np.ndarray]:
    values = [row[split_at].strip().lower() for row in rows]
    for line, value in zip(line_numbers, values, strict=True):
        if value not in ("train", "test"):
            raise DatasetError(
                f"{source}: line {line}: column {SPLIT_COLUMN!r} must be 'train' or 'test', got {value!r}"
            )
    flags = np.array(values)
    train, test = np.flatnonzero(flags == "train"), np.flatnonzero(flags == "test")
    for split, rows_in_split in (("train", train), ("test", test)):
        if rows_in_split.size == 0:
            raise DatasetError(f"{source}: column {SPLIT_COLUMN!r} marks no row as {split!r}")
    return train, test

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workers.engine.data.tabular import CSV_TEST_FRACTION
from workers.engine.datasets import import_dataset, load_dataset
from workers.engine.errors import DatasetError


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def flowers(rows_per_class: int = 10) -> str:
    lines = ["petal_length,petal_width,label"]
    for index in range(rows_per_class):
        for label, offset in (("setosa", 0), ("virginica", 10), ("versicolor", 20)):
            lines.append(f"{offset + index}.5,{index},{label}")
    return "\n".join(lines) + "\n"


def test_a_csv_without_split_column_is_split_by_class_with_a_fixed_seed(tmp_path, data_dir):
    info = import_dataset(write_csv(tmp_path / "flowers.csv", flowers()), data_dir)

    assert info.kind == "features"
    assert info.input_shape == [2]
    assert info.class_names == ["setosa", "versicolor", "virginica"]
    # 20 % of each class's 10 rows goes to test.
    assert info.class_counts == [8, 8, 8]
    assert (info.train_size, info.test_size) == (24, 6)
    assert CSV_TEST_FRACTION == 0.2
    dataset = load_dataset(info.sha256, data_dir)
    assert dataset.x_train.dtype == np.float32
    assert np.bincount(dataset.y_test).tolist() == [2, 2, 2]
    # Every row lands in exactly one split.
    all_rows = sorted(map(tuple, np.concatenate([dataset.x_train, dataset.x_test]).tolist()))
    assert all_rows == sorted((offset + index + 0.5, index) for index in range(10) for offset in (0, 10, 20))
    assert import_dataset(write_csv(tmp_path / "again.csv", flowers()), data_dir).sha256 == info.sha256


def test_a_split_column_decides_train_and_test(tmp_path, data_dir):
    text = "a,b,split,label\n1,2,train,x\n3,4,test,y\n5,6,TRAIN,y\n7,8,test,x\n9,10,train,x\n"
    dataset = load_dataset(import_dataset(write_csv(tmp_path / "split.csv", text), data_dir).sha256, data_dir)

    assert dataset.x_train.tolist() == [[1, 2], [5, 6], [9, 10]]
    assert dataset.y_train.tolist() == [0, 1, 0]
    assert dataset.x_test.tolist() == [[3, 4], [7, 8]]
    assert dataset.y_test.tolist() == [1, 0]


def test_integer_labels_are_ordered_as_numbers(tmp_path, data_dir):
    text = "f,label\n" + "".join(f"{row},{grade}\n" for row in range(10) for grade in (10, 2, 7))
    info = import_dataset(write_csv(tmp_path / "grades.csv", text), data_dir)

    assert info.class_names == ["2", "7", "10"]


def test_another_label_column_can_be_named(tmp_path, data_dir):
    text = "species,x\n" + "".join(f"{name},{row}\n" for row in range(5) for name in ("a", "b"))
    info = import_dataset(write_csv(tmp_path / "s.csv", text), data_dir, label_column="species")

    assert info.class_names == ["a", "b"]
    assert info.input_shape == [1]


def test_a_missing_label_column_is_named(tmp_path, data_dir):
    with pytest.raises(DatasetError, match=r"flowers\.csv: no label column 'species' \(columns: petal_length"):
        import_dataset(write_csv(tmp_path / "flowers.csv", flowers()), data_dir, label_column="species")


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("wide", r"line 5, column 'petal_width': 'wide' is not a number"),
        ("", r"line 5, column 'petal_width': '' is not a number"),
        ("nan", r"line 5, column 'petal_width': 'nan' is not a finite float32 number"),
        ("1e60", r"line 5, column 'petal_width': '1e60' is not a finite float32 number"),
    ],
)
def test_a_bad_feature_value_is_named_with_its_line_and_column(tmp_path, data_dir, cell, message):
    lines = flowers().splitlines()
    lines[4] = f"1.5,{cell},setosa"

    with pytest.raises(DatasetError, match=rf"flowers\.csv: {message}"):
        import_dataset(write_csv(tmp_path / "flowers.csv", "\n".join(lines)), data_dir)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"the file is empty"),
        ("a,label\n", r"the header is followed by no data rows"),
        ("a,label\n1,x\n2\n", r"line 3 has 1 fields, the header has 2"),
        ("a,a,label\n1,2,x\n", r"column\(s\) 'a' appear more than once"),
        ("label\nx\ny\n", r"no feature columns besides 'label'"),
        ("a,label\n1,x\n2,\n", r"line 3: the label column 'label' is empty"),
        ("a,split,label\n1,train,x\n2,valid,y\n", r"line 3: column 'split' must be 'train' or 'test', got 'valid'"),
        ("a,split,label\n1,train,x\n2,train,y\n", r"column 'split' marks no row as 'test'"),
        ("a,split,label\n1,train,x\n2,test,x\n3,test,y\n", r"class\(es\) y appear only in test rows"),
    ],
)
def test_malformed_tables_are_refused_with_a_reason(tmp_path, data_dir, text, message):
    with pytest.raises(DatasetError, match=rf"table\.csv: {message}"):
        import_dataset(write_csv(tmp_path / "table.csv", text), data_dir)


def test_text_that_is_not_utf8_is_refused(tmp_path, data_dir):
    path = tmp_path / "latin.csv"
    path.write_bytes("a,label\n1,caf\xe9\n".encode("latin-1"))

    with pytest.raises(DatasetError, match=r"latin\.csv: not UTF-8 text"):
        import_dataset(path, data_dir)


def test_blank_lines_and_a_byte_order_mark_are_tolerated(tmp_path, data_dir):
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + flowers().replace("\n", "\n\n", 3)).encode("utf-8"))

    assert import_dataset(path, data_dir).train_size == 24

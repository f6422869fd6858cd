"""The dataset previews: drawn from the stored arrays, bounded, kept on disk, never half-written."""

import json

import numpy as np
import pytest
from PIL import Image

from backend.datasets import previews
from tests.web.dataset_arrays import (
    CLASS_NAMES,
    TEST_COUNTS,
    TRAIN_COUNTS,
    feature_arrays,
    image_arrays,
    signal_arrays,
)
from workers.engine.arrays import ArrayDataset
from workers.engine.data.store import save_dataset
from workers.engine.errors import DatasetError


def stored(tmp_path, arrays) -> str:
    return save_dataset(arrays, tmp_path, "arrays.npz").sha256


def strip(tmp_path, sha256, class_index) -> Image.Image:
    return Image.open(previews.preview_image(sha256=sha256, data_dir=tmp_path, class_index=class_index)).convert("RGB")


def test_the_preview_records_each_class_with_its_test_count_and_how_many_examples_it_draws(tmp_path):
    sha256 = stored(tmp_path, image_arrays())

    preview = previews.dataset_preview(sha256=sha256, data_dir=tmp_path)

    assert (preview.kind, preview.total_classes) == ("image", 3)
    assert [(c.name, c.test_count, c.examples) for c in preview.classes] == [
        (name, test, min(train, previews.EXAMPLES_PER_CLASS))
        for name, train, test in zip(CLASS_NAMES, TRAIN_COUNTS, TEST_COUNTS, strict=True)
    ]


def test_signals_are_drawn_at_their_level_on_a_shared_scale(tmp_path):
    sha256 = stored(tmp_path, signal_arrays())

    def rows_drawn(class_index):
        pixels = np.asarray(strip(tmp_path, sha256, class_index))
        return np.flatnonzero((pixels == previews.SIGNAL_COLOUR).all(axis=2).any(axis=1))

    height = previews.SIGNAL_CELL[1]
    low, high, middle = rows_drawn(0), rows_drawn(1), rows_drawn(2)
    # Flat signals: one line each, cats at the bottom, dogs at the top, birds between.
    assert low.min() > height * 0.9 and high.max() < height * 0.1
    assert high.max() < middle.min() and middle.max() < low.min()


def test_features_are_summarised_per_class_against_the_training_mean(tmp_path):
    sha256 = stored(tmp_path, feature_arrays())
    cell_width, cell_height = previews.FEATURE_CELL

    def colours(class_index):
        image = strip(tmp_path, sha256, class_index)
        return [image.getpixel((cell * cell_width + cell_width // 2, cell_height // 2)) for cell in range(2)]

    cat, dog, bird = colours(0), colours(1), colours(2)
    # The first feature (mean 1.69 over the training split): cats (3) above it, birds (0) and dogs (-3) below,
    # dogs further; the second never varies.
    assert cat[0][0] > cat[0][1] and cat[0][0] > cat[0][2]
    assert dog[0][2] > dog[0][0] and bird[0][2] > bird[0][0]
    assert dog[0][0] < bird[0][0] < previews.BACKGROUND[0]
    assert cat[1] == dog[1] == bird[1] == previews.BACKGROUND
    assert [c.examples for c in previews.dataset_preview(sha256=sha256, data_dir=tmp_path).classes] == TRAIN_COUNTS


def test_large_images_are_shrunk_into_the_box(tmp_path):
    arrays = ArrayDataset(
        x_train=np.zeros((2, 1, 100, 50), dtype=np.uint8),
        y_train=np.array([0, 1]),
        x_test=np.zeros((2, 1, 100, 50), dtype=np.uint8),
        y_test=np.array([0, 1]),
        class_names=["a", "b"],
        kind="image",
    )

    image = strip(tmp_path, stored(tmp_path, arrays), 0)

    assert image.size == (32, 64)


def test_only_the_first_classes_are_drawn(tmp_path, monkeypatch):
    monkeypatch.setattr(previews, "MAX_PREVIEW_CLASSES", 2)
    sha256 = stored(tmp_path, image_arrays())

    preview = previews.dataset_preview(sha256=sha256, data_dir=tmp_path)

    assert [c.name for c in preview.classes] == CLASS_NAMES[:2] and preview.total_classes == 3
    assert previews.preview_image(sha256=sha256, data_dir=tmp_path, class_index=2) is None
    assert not (previews.preview_dir(sha256, tmp_path) / "class-2.png").exists()


def test_a_drawing_that_fails_leaves_nothing_behind_and_the_next_view_draws_it_whole(tmp_path, monkeypatch):
    sha256 = stored(tmp_path, image_arrays())
    draw = previews._image_strip
    calls = []

    def fail_on_the_second_class(*args):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return draw(*args)

    monkeypatch.setattr(previews, "_image_strip", fail_on_the_second_class)
    with pytest.raises(OSError, match="disk full"):
        previews.dataset_preview(sha256=sha256, data_dir=tmp_path)

    directory = previews.preview_dir(sha256, tmp_path)
    assert list(directory.parent.iterdir()) == []
    monkeypatch.setattr(previews, "_image_strip", draw)
    preview = previews.dataset_preview(sha256=sha256, data_dir=tmp_path)
    assert sorted(path.name for path in directory.iterdir()) == [
        "class-0.png",
        "class-1.png",
        "class-2.png",
        "manifest.json",
    ]
    manifest = json.loads((directory / "manifest.json").read_text())
    assert [entry["examples"] for entry in manifest["classes"]] == [c.examples for c in preview.classes] == [8, 3, 1]


def test_a_view_that_finishes_second_keeps_the_first_preview_and_leaves_no_scraps(tmp_path, monkeypatch):
    sha256 = stored(tmp_path, image_arrays())
    load = previews.load_dataset
    directory = previews.preview_dir(sha256, tmp_path)
    first = {}

    def another_view_finishes_meanwhile(*args):
        arrays = load(*args)
        monkeypatch.setattr(previews, "load_dataset", load)
        previews.dataset_preview(sha256=sha256, data_dir=tmp_path)
        first["manifest"] = (directory / "manifest.json").stat().st_mtime_ns
        return arrays

    monkeypatch.setattr(previews, "load_dataset", another_view_finishes_meanwhile)
    preview = previews.dataset_preview(sha256=sha256, data_dir=tmp_path)

    assert [c.examples for c in preview.classes] == [8, 3, 1]
    assert (directory / "manifest.json").stat().st_mtime_ns == first["manifest"]
    assert [path.name for path in directory.parent.iterdir()] == [sha256]


def test_anything_but_a_sha256_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="is not a SHA-256"):
        previews.dataset_preview(sha256="../../etc", data_dir=tmp_path)


def test_a_dataset_missing_from_the_store_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="is not in the store"):
        previews.dataset_preview(sha256="0" * 64, data_dir=tmp_path)


def test_the_class_counts_chart_is_a_valid_vega_lite_spec():
    spec = previews.class_counts_chart(CLASS_NAMES, TRAIN_COUNTS, validate=True)

    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")

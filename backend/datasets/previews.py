"""What a dataset's page shows of its arrays: a class counts chart and a few examples of each class.

The examples are drawn from the stored arrays once per stored dataset and kept under
``SAMPLEWISE_DATA_DIR/previews/v<version>/<sha256>/`` (one PNG per class and a small
manifest), so later views read files and decode nothing. The work is bounded: at most
``EXAMPLES_PER_CLASS`` examples of each of the first ``MAX_PREVIEW_CLASSES`` classes.
A preview directory is written under a temporary name and renamed into place, so a
half-drawn preview is never read.

Images show as themselves; 1-D signals as small line plots; feature vectors as one
strip per class whose cells colour each feature's class mean against its mean over
the whole training split.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from workers.engine.arrays import ArrayDataset
from workers.engine.datasets import dataset_path, load_dataset
from workers.engine.errors import DatasetError

PREVIEW_FOLDER = "previews"
# Bump when the drawing changes: previews of an older version are no longer read.
PREVIEW_VERSION = 1
MANIFEST_NAME = "manifest.json"
EXAMPLES_PER_CLASS = 8
MAX_PREVIEW_CLASSES = 100
# Examples are fitted into a square of this many pixels (small images are enlarged by a whole factor).
IMAGE_BOX_PIXELS = 64
SIGNAL_CELL = (120, 48)
# Past this many features the strip shows the first ones only.
MAX_FEATURE_CELLS = 128
FEATURE_CELL = (8, 32)
# A class mean this many standard deviations from the overall mean takes the strongest colour.
FEATURE_COLOUR_SPAN = 2.0
GAP_PIXELS = 4
BACKGROUND = (255, 255, 255)
CELL_BACKGROUND = (246, 247, 249)
SIGNAL_COLOUR = (79, 70, 229)
ABOVE_MEAN = np.array([192, 38, 45], dtype=np.float64)
BELOW_MEAN = np.array([29, 79, 216], dtype=np.float64)
LEVEL_LABEL_CLASSES = 12
# The rows are drawn from a fixed seed so that the same dataset always shows the same examples.
SAMPLE_SEED = 0

KIND_NOTES = {
    "image": "Training examples of each class, drawn at random once.",
    "sequence": "Training signals of each class, drawn at random once, all on the scale of the whole training split.",
    "features": (
        "Each cell is one feature: red where the class's mean is above the feature's mean over the training split, "
        f"blue where it is below, full colour at {FEATURE_COLOUR_SPAN:g} standard deviations."
    ),
}


@dataclass(frozen=True)
class ClassPreview:
    index: int
    name: str
    test_count: int
    # How many training examples its strip is drawn from (0: none, and no strip).
    examples: int

    @property
    def image_name(self) -> str | None:
        return f"class-{self.index}.png" if self.examples else None


@dataclass(frozen=True)
class DatasetPreview:
    sha256: str
    kind: str
    total_classes: int
    classes: list[ClassPreview]
    total_features: int = 0

    @property
    def note(self) -> str:
        note = KIND_NOTES[self.kind]
        if self.total_features > MAX_FEATURE_CELLS:
            note += f" The first {MAX_FEATURE_CELLS} of its {self.total_features} features are shown."
        return note


def preview_dir(sha256: str, data_dir: Path | str) -> Path:
    """Where the preview of the stored dataset ``sha256`` lives (it may not exist yet)."""
    dataset_path(sha256, data_dir)  # refuses anything but a SHA-256, so the path stays inside the store
    return Path(data_dir) / PREVIEW_FOLDER / f"v{PREVIEW_VERSION}" / sha256


def dataset_preview(*, sha256: str, data_dir: Path | str) -> DatasetPreview:
    """The preview of a stored dataset, drawn from its arrays the first time; DatasetError if they cannot be read."""
    directory = preview_dir(sha256, data_dir)
    cached = _read_manifest(directory)
    if cached is not None:
        return cached
    arrays = load_dataset(sha256, data_dir)
    directory.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{sha256}-"))
    try:
        preview = _draw(arrays, sha256, partial)
        (partial / MANIFEST_NAME).write_text(json.dumps(asdict(preview)))
        try:
            partial.rename(directory)
        except OSError:
            # Another request drew it meanwhile; theirs is as good as ours.
            if _read_manifest(directory) is None:
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return preview


def preview_image(*, sha256: str, data_dir: Path | str, class_index: int) -> Path | None:
    """The PNG of one class's examples (drawn first if need be), or None if the preview has no strip for it."""
    preview = dataset_preview(sha256=sha256, data_dir=data_dir)
    if not 0 <= class_index < len(preview.classes):
        return None
    name = preview.classes[class_index].image_name
    return preview_dir(sha256, data_dir) / name if name else None


def class_counts_chart(class_names: list[str], class_counts: list[int], *, validate: bool = False) -> dict:
    """A Vega-Lite bar chart of the training examples per class, in the dataset's class order."""
    # Loaded on first use, like the comparison plots: the web app starts without the charting stack.
    import altair as alt

    rows = class_count_rows(class_names, class_counts)
    chart = (
        alt.Chart(alt.Data(values=rows))
        .mark_bar(color="#4f46e5")
        .encode(
            x=alt.X(
                "class:N",
                title="class",
                sort=list(class_names),
                # Few class names read level; many are slanted so that more of them fit.
                axis=alt.Axis(labelOverlap=True, labelAngle=0 if len(class_names) <= LEVEL_LABEL_CLASSES else -45),
            ),
            y=alt.Y("training_examples:Q", title="training examples"),
            tooltip=[alt.Tooltip("class:N"), alt.Tooltip("training_examples:Q", title="training examples")],
        )
        .properties(title="Training examples per class", width="container", height=260)
    )
    return chart.configure_axis(grid=True, gridOpacity=0.5).to_dict(validate=validate)


def class_count_rows(class_names: list[str], class_counts: list[int]) -> list[dict]:
    return [
        {"class_index": index, "class": name, "training_examples": int(count)}
        for index, (name, count) in enumerate(zip(class_names, class_counts, strict=True))
    ]


def _read_manifest(directory: Path) -> DatasetPreview | None:
    try:
        fields = json.loads((directory / MANIFEST_NAME).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise DatasetError(f"the preview in {directory.name} cannot be read ({error})") from None
    classes = [ClassPreview(**entry) for entry in fields.pop("classes")]
    return DatasetPreview(classes=classes, **fields)


def _draw(arrays: ArrayDataset, sha256: str, directory: Path) -> DatasetPreview:
    """Draw the strips into ``directory`` and return the preview they make up."""
    shown = min(arrays.num_classes, MAX_PREVIEW_CLASSES)
    test_counts = np.bincount(arrays.y_test, minlength=arrays.num_classes)
    draw_strip = {"image": _image_strip, "sequence": _signal_strip, "features": _feature_strip}[arrays.kind]
    context = _drawing_context(arrays)
    rng = np.random.default_rng(SAMPLE_SEED)
    classes = []
    for index, members in enumerate(_class_members(arrays.y_train, shown)):
        # A feature summary is cheap over the whole class; pictures are drawn of a few examples.
        if arrays.kind != "features" and len(members) > EXAMPLES_PER_CLASS:
            members = np.sort(rng.choice(members, EXAMPLES_PER_CLASS, replace=False))
        if len(members):
            draw_strip(arrays.x_train, members, context).save(directory / f"class-{index}.png", optimize=True)
        classes.append(
            ClassPreview(
                index=index, name=arrays.class_names[index], test_count=int(test_counts[index]), examples=len(members)
            )
        )
    return DatasetPreview(
        sha256=sha256,
        kind=arrays.kind,
        total_classes=arrays.num_classes,
        classes=classes,
        total_features=int(arrays.x_train.shape[1]) if arrays.kind == "features" else 0,
    )


def _class_members(labels: np.ndarray, shown: int) -> list[np.ndarray]:
    """The training indices of each of the first ``shown`` classes, in stored order."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(shown + 1))
    return [order[bounds[index] : bounds[index + 1]] for index in range(shown)]


def _drawing_context(arrays: ArrayDataset) -> dict:
    """What every strip of one dataset shares, so that the strips are comparable."""
    x = arrays.x_train
    if arrays.kind == "features":
        columns = x[:, :MAX_FEATURE_CELLS].astype(np.float64)
        return {"mean": columns.mean(axis=0), "std": columns.std(axis=0)}
    if arrays.kind == "sequence":
        return {"low": float(x.min()), "high": float(x.max())}
    return {}


def _strip(cells: int, cell_size: tuple[int, int]) -> Image.Image:
    width, height = cell_size
    return Image.new("RGB", (cells * width + (cells - 1) * GAP_PIXELS, height), BACKGROUND)


def _image_cell_size(height: int, width: int) -> tuple[int, int]:
    longest = max(height, width)
    if longest <= IMAGE_BOX_PIXELS:
        factor = IMAGE_BOX_PIXELS // longest
        return width * factor, height * factor
    scale = IMAGE_BOX_PIXELS / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _image_strip(x: np.ndarray, members: np.ndarray, context: dict) -> Image.Image:
    channels, height, width = x.shape[1:]
    cell = _image_cell_size(height, width)
    enlarging = cell[0] >= width
    strip = _strip(len(members), cell)
    for position, index in enumerate(members):
        pixels = x[index, 0] if channels == 1 else x[index].transpose(1, 2, 0)
        image = Image.fromarray(np.ascontiguousarray(pixels)).convert("RGB")
        image = image.resize(cell, Image.Resampling.NEAREST if enlarging else Image.Resampling.LANCZOS)
        strip.paste(image, (position * (cell[0] + GAP_PIXELS), 0))
    return strip


def _signal_strip(x: np.ndarray, members: np.ndarray, context: dict) -> Image.Image:
    width, height = SIGNAL_CELL
    strip = _strip(len(members), SIGNAL_CELL)
    draw = ImageDraw.Draw(strip)
    low, high = context["low"], context["high"]
    span = (high - low) or 1.0
    length = x.shape[1]
    # Two points per pixel column at most, so a long signal costs no more than a short one.
    steps = np.unique(np.linspace(0, length - 1, min(length, 2 * width)).round().astype(int))
    margin = 3
    for position, index in enumerate(members):
        left = position * (width + GAP_PIXELS)
        draw.rectangle((left, 0, left + width - 1, height - 1), fill=CELL_BACKGROUND)
        values = x[index, steps].astype(np.float64)
        xs = left + margin + (steps / max(length - 1, 1)) * (width - 1 - 2 * margin)
        ys = margin + (1 - (values - low) / span) * (height - 1 - 2 * margin)
        points = list(zip(xs.tolist(), ys.tolist(), strict=True))
        if len(points) > 1:
            draw.line(points, fill=SIGNAL_COLOUR, width=1)
        else:
            draw.point(points, fill=SIGNAL_COLOUR)
    return strip


def _feature_strip(x: np.ndarray, members: np.ndarray, context: dict) -> Image.Image:
    mean, std = context["mean"], context["std"]
    class_mean = x[members, : len(mean)].astype(np.float64).mean(axis=0)
    # A feature that never varies is at its mean in every class.
    spread = np.where(std > 0, std, np.inf)
    strength = np.clip((class_mean - mean) / spread / FEATURE_COLOUR_SPAN, -1.0, 1.0)
    white = np.array(BACKGROUND, dtype=np.float64)
    target = np.where(strength[:, None] >= 0, ABOVE_MEAN, BELOW_MEAN)
    colours = (white + np.abs(strength)[:, None] * (target - white)).round().astype(np.uint8)
    cell_width, cell_height = FEATURE_CELL
    row = np.repeat(colours[None, :, :], cell_height, axis=0)
    return Image.fromarray(np.ascontiguousarray(np.repeat(row, cell_width, axis=1)))

"""Uploading in a real browser to a real worker: the bars fill up to ready; a refused file says why beside the field."""

from __future__ import annotations

import io
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from backend.datasets.models import Dataset, DatasetStatus
from tests.datasets.imports import store_contents
from tests.workers import conftest as worker_fixtures

pytestmark = [pytest.mark.browser, pytest.mark.worker]

start_worker = worker_fixtures.start_worker
CLASSES = {"circle": 0, "square": 1, "stripes": 2}
# Record every state the import badge shows, in order.
WATCH_STATUS = """
window.statusesSeen = [];
new MutationObserver(() => {
  const status = document.getElementById("import-status").dataset.status;
  if (status && window.statusesSeen.at(-1) !== status) window.statusesSeen.push(status);
}).observe(document.getElementById("import-status"), { attributes: true });
"""


def png(label: int, index: int) -> bytes:
    rng = np.random.default_rng(label * 1000 + index)
    pixels = rng.integers(0, 64, size=(16, 16, 3), dtype=np.uint8) + np.uint8(80 * label)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def image_folder_tar(path, *, train_per_class: int = 40, test_per_class: int = 10):
    """train/<class>/*.png and test/<class>/*.png, packed as .tar.gz."""
    with tarfile.open(path, "w:gz") as archive:
        for split, count in (("train", train_per_class), ("test", test_per_class)):
            for name, label in CLASSES.items():
                for index in range(count):
                    data = png(label, index if split == "train" else 500 + index)
                    info = tarfile.TarInfo(f"{split}/{name}/{index:03d}.png")
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
    return path


def upload(page, name: str, path) -> None:
    page.fill("input[name=name]", name)
    page.set_input_files("input[name=file]", str(path))
    page.click("button:has-text('Upload')")


def test_an_image_archive_uploads_and_its_import_reaches_ready(
    page, log_in, editor, team, start_worker, tmp_path, screenshot_dir
):
    start_worker()
    archive = image_folder_tar(tmp_path / "shapes.tar.gz")
    log_in(editor)
    page.goto(f"/teams/{team.slug}/datasets/")
    page.click("a[data-action=upload]")
    expect(page.locator("h1")).to_have_text("Upload a dataset")
    page.evaluate(WATCH_STATUS)

    upload(page, "Shapes", archive)

    expect(page.locator("#transfer-progress")).to_have_attribute("value", "100")
    expect(page.locator("#import-status")).to_have_text("Ready", timeout=90_000)
    expect(page.locator("#import-progress")).to_have_attribute("value", "100")
    expect(page.locator(".upload-done")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "dataset-upload.png"), full_page=True)
    seen = page.evaluate("window.statusesSeen")
    order = ["pending", "importing", "ready"]
    assert seen[-1] == "ready" and seen == sorted(seen, key=order.index)
    dataset = Dataset.objects.get(name="Shapes")
    assert (dataset.status, dataset.input_kind, dataset.input_shape) == (DatasetStatus.READY, "image", [3, 16, 16])
    assert (dataset.class_names, dataset.class_counts, dataset.test_size) == (list(CLASSES), [40, 40, 40], 30)
    assert store_contents(tmp_path / "data") == {"uploads": [], "arrays": [f"{dataset.sha256}.npz"]}

    page.click("a:has-text('See it among')")
    expect(page.locator("tr[data-dataset=Shapes] .badge")).to_have_text("Ready")


def test_a_refused_file_says_why_next_to_the_file_field(page, log_in, editor, team, start_worker, tmp_path):
    start_worker()
    log_in(editor)
    page.goto(f"/teams/{team.slug}/datasets/upload/")
    file_errors = page.locator(".field[data-field=file] .error")

    # Refused by the server before any decoding: a type no loader reads.
    notes = tmp_path / "notes.txt"
    notes.write_text("not a dataset")
    upload(page, "Notes", notes)
    expect(file_errors).to_contain_text("Unsupported file type 'notes.txt'")

    # Refused by the loader in the worker: an archive whose member climbs out of its folder.
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("train/cat/1.png", png(0, 1))
        archive.writestr("test/cat/1.png", png(0, 2))
        archive.writestr("../../escaped.png", png(1, 1))
    upload(page, "Hostile", hostile)

    expect(page.locator("#import-status")).to_have_text("Failed", timeout=90_000)
    expect(file_errors).to_have_count(1)
    expect(file_errors).to_contain_text("hostile.zip: member '../../escaped.png' has an unsafe path")
    expect(page.locator(".field[data-field=file]")).to_have_class("field has-error")
    assert Dataset.objects.get(name="Hostile").status == DatasetStatus.FAILED
    assert not Dataset.objects.filter(name="Notes").exists()
    assert store_contents(tmp_path / "data") == {"uploads": [], "arrays": []}

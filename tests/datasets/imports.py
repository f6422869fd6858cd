"""Helpers for tests of uploads and their imports: files to upload, and imports run in the test process."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from workers.celery import app


def npz_bytes(**overrides) -> bytes:
    """Two classes of 3 features: 40 training rows, 10 test rows."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.normal(size=(40, 3)).astype(np.float32),
        "y_train": np.arange(40) % 2,
        "x_test": rng.normal(size=(10, 3)).astype(np.float32),
        "y_test": np.arange(10) % 2,
    }
    arrays.update(overrides)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npz_upload(name: str = "blobs.npz", **overrides) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, npz_bytes(**overrides), content_type="application/octet-stream")


def csv_upload(label_column: str = "species") -> SimpleUploadedFile:
    rows = [f"{index % 3},{index * 0.5},{['a', 'b', 'c'][index % 3]}" for index in range(30)]
    content = "\n".join([f"width,height,{label_column}", *rows]) + "\n"
    return SimpleUploadedFile("plants.csv", content.encode(), content_type="text/csv")


def store_contents(data_dir: Path) -> dict[str, list[str]]:
    """What the store holds: stored uploads (and files being received) and dataset arrays."""

    def names(folder: Path, pattern: str) -> list[str]:
        return sorted(path.name for path in folder.glob(pattern)) if folder.exists() else []

    return {"uploads": names(data_dir / "uploads", "*"), "arrays": names(data_dir / "datasets", "*.npz")}


class Unreadable:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the request body was read")

    readline = read


@pytest.fixture
def imports_inline(settings, monkeypatch, django_capture_on_commit_callbacks):
    """``with imports_inline(): ...`` runs the imports queued inside the block in this process, on commit.

    The heartbeat thread would write through its own connection, which does not see
    the test's transaction; it is kept from beating while such a test runs.
    """
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    settings.SAMPLEWISE_HEARTBEAT_SECONDS = 3600

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run

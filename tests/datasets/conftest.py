"""Fixtures for the import lifecycle: a pending upload whose task was sent nowhere, and the store it lives in."""

from __future__ import annotations

import pytest

from backend.datasets import imports
from backend.datasets.services import dataset_import_upload
from tests.datasets.imports import npz_upload


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.SAMPLEWISE_DATA_DIR = tmp_path / "data"
    # The heartbeat thread writes through its own connection, which cannot see the test's transaction.
    settings.SAMPLEWISE_HEARTBEAT_SECONDS = 3600
    return settings.SAMPLEWISE_DATA_DIR


@pytest.fixture
def sent(monkeypatch):
    """The dataset ids whose import task was sent, in order."""
    ids: list[int] = []
    monkeypatch.setattr(imports, "_send", ids.append)
    return ids


@pytest.fixture
def upload_pending(team, editor, data_dir, sent, django_capture_on_commit_callbacks):
    """``upload_pending(upload)`` stores ``upload`` (an .npz by default) as a pending dataset and returns it."""

    def make(upload=None, *, name: str = "Blobs", **options):
        with django_capture_on_commit_callbacks(execute=True):
            return dataset_import_upload(team=team, user=editor, name=name, upload=upload or npz_upload(), **options)

    return make

"""The worker side of an import: the engine's progress reaches the row, and no way it ends leaves anything behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from backend.datasets import imports, jobs
from backend.datasets.imports import dataset_import_claim
from backend.datasets.jobs import run_import
from backend.datasets.models import Dataset, DatasetStatus
from backend.datasets.services import dataset_delete
from tests.datasets.imports import csv_upload, store_contents
from tests.engine.datasets.builders import image_bytes, image_tree, write_zip
from workers.engine import datasets as engine_datasets


def zip_upload(tmp_path, members: dict[str, bytes], name: str = "pets.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, write_zip(tmp_path / name, members).read_bytes())


def test_an_image_archive_is_imported_ready_and_its_upload_removed(upload_pending, tmp_path, data_dir):
    dataset = upload_pending(zip_upload(tmp_path, image_tree()))

    assert run_import(dataset.pk) == "ready"

    dataset.refresh_from_db()
    assert (dataset.status, dataset.progress, dataset.error) == (DatasetStatus.READY, 1.0, "")
    assert (dataset.input_kind, dataset.input_shape, dataset.class_names) == ("image", [3, 3, 4], ["cat", "dog"])
    assert (dataset.class_counts, dataset.train_size, dataset.test_size) == ([2, 3], 5, 2)
    assert store_contents(data_dir) == {"uploads": [], "arrays": [f"{dataset.sha256}.npz"]}


def test_the_engines_progress_reaches_the_row_stage_by_stage(upload_pending, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL_SECONDS", 0.0)
    written = []
    record = imports.dataset_import_progress

    def spy(*, claim, fraction, stage):
        record(claim=claim, fraction=fraction, stage=stage)
        row = Dataset.objects.get(pk=claim.dataset_id)
        written.append((row.status, row.progress, row.stage))

    monkeypatch.setattr(jobs, "dataset_import_progress", spy)
    dataset = upload_pending(zip_upload(tmp_path, image_tree()))

    run_import(dataset.pk)

    stages = list(dict.fromkeys(stage for _, _, stage in written))
    assert stages == ["Checking the file", "Reading the archive", "Decoding images", "Storing the arrays"]
    assert {status for status, _, _ in written} == {DatasetStatus.IMPORTING}
    fractions = [fraction for _, fraction, _ in written]
    assert fractions == sorted(fractions) and 0.0 == fractions[0] and fractions[-1] == engine_datasets.LOADER_SHARE


def test_a_csv_is_read_with_the_label_column_the_upload_named(upload_pending):
    dataset = upload_pending(csv_upload("species"), label_column="species")

    assert run_import(dataset.pk) == "ready"
    assert Dataset.objects.get(pk=dataset.pk).class_names == ["a", "b", "c"]


@pytest.mark.parametrize(
    "members, message",
    [
        ({**image_tree(), "../evil.png": image_bytes(1)}, "unsafe path"),
        ({**image_tree(), "train/cat/3.png": b"not a png"}, "train/cat/3.png: not an image"),
        ({"train/cat/1.png": image_bytes(1)}, "no test/ folder"),
    ],
    ids=["path-traversal", "not-an-image", "no-test-split"],
)
def test_a_hostile_or_broken_archive_fails_with_the_loaders_message_and_nothing_is_kept(
    members, message, upload_pending, tmp_path, data_dir
):
    dataset = upload_pending(zip_upload(tmp_path, members))

    assert run_import(dataset.pk) == "failed"

    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.FAILED
    assert dataset.error.startswith("pets.zip: ") and message in dataset.error
    assert store_contents(data_dir) == {"uploads": [], "arrays": []}
    assert not (tmp_path / "evil.png").exists() and not (data_dir / "evil.png").exists()


def test_a_second_delivery_after_the_import_finished_changes_nothing(upload_pending, tmp_path):
    dataset = upload_pending(zip_upload(tmp_path, image_tree()))
    run_import(dataset.pk)
    finished = Dataset.objects.get(pk=dataset.pk)

    assert run_import(dataset.pk) == "skipped"

    again = Dataset.objects.get(pk=dataset.pk)
    assert (again.status, again.sha256, again.import_attempt, again.import_finished_at) == (
        finished.status,
        finished.sha256,
        1,
        finished.import_finished_at,
    )


def test_a_delivery_after_its_worker_was_lost_takes_the_import_over_and_finishes(upload_pending, tmp_path):
    dataset = upload_pending(zip_upload(tmp_path, image_tree()))
    # A first worker claimed it and died: its heartbeat went stale.
    dataset_import_claim(dataset_id=dataset.pk)
    Dataset.objects.filter(pk=dataset.pk).update(import_heartbeat_at=timezone.now() - timedelta(hours=1))

    assert run_import(dataset.pk) == "ready"

    dataset.refresh_from_db()
    assert (dataset.status, dataset.import_attempt) == (DatasetStatus.READY, 2)


def test_an_import_deleted_while_it_runs_stops_and_stores_nothing(
    upload_pending, editor, tmp_path, data_dir, monkeypatch
):
    dataset = upload_pending(zip_upload(tmp_path, image_tree()))
    real_import = jobs.import_dataset

    def deleted_meanwhile(*args, **kwargs):
        dataset_delete(dataset=Dataset.objects.get(pk=dataset.pk), user=editor)
        return real_import(*args, **kwargs)

    monkeypatch.setattr(jobs, "import_dataset", deleted_meanwhile)

    assert run_import(dataset.pk) == "lost"
    assert store_contents(data_dir) == {"uploads": [], "arrays": []}


def test_an_unexpected_error_fails_the_import_with_what_went_wrong(upload_pending, tmp_path, data_dir, monkeypatch):
    dataset = upload_pending(zip_upload(tmp_path, image_tree()))

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(jobs, "import_dataset", broken)

    assert run_import(dataset.pk) == "failed"
    dataset.refresh_from_db()
    assert dataset.error == "pets.zip: the import failed (RuntimeError: the disk is on fire)"
    assert store_contents(data_dir) == {"uploads": [], "arrays": []}


def test_arrays_stored_before_an_error_are_removed_with_the_failed_import(
    upload_pending, tmp_path, data_dir, monkeypatch
):
    dataset = upload_pending(zip_upload(tmp_path, image_tree()))

    def finish_fails(*, claim, info):
        raise RuntimeError("the database went away for good")

    monkeypatch.setattr(jobs, "dataset_import_finish", finish_fails)

    assert run_import(dataset.pk) == "failed"
    assert Dataset.objects.get(pk=dataset.pk).status == DatasetStatus.FAILED
    assert store_contents(data_dir) == {"uploads": [], "arrays": []}


def test_arrays_removed_before_the_finish_are_decoded_again(upload_pending, tmp_path, data_dir, monkeypatch):
    dataset = upload_pending(zip_upload(tmp_path, image_tree()))
    finish = imports.dataset_import_finish
    calls = []

    def arrays_removed_the_first_time(*, claim, info):
        calls.append(info.sha256)
        if len(calls) == 1:
            imports.arrays_discard_unused(info.sha256)
        finish(claim=claim, info=info)

    monkeypatch.setattr(jobs, "dataset_import_finish", arrays_removed_the_first_time)

    assert run_import(dataset.pk) == "ready"
    assert len(calls) == 2
    assert store_contents(data_dir)["arrays"] == [f"{calls[0]}.npz"]


def test_an_upload_missing_from_this_workers_store_fails_saying_where_it_looked(upload_pending, tmp_path, data_dir):
    dataset = upload_pending(zip_upload(tmp_path, image_tree()))
    (data_dir / "uploads" / dataset.stored_upload).unlink()

    assert run_import(dataset.pk) == "failed"

    error = Dataset.objects.get(pk=dataset.pk).error
    assert "not in this worker's store" in error and "SAMPLEWISE_DATA_DIR" in error

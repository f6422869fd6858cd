"""The import lifecycle's writes: claims and attempts, progress, finish, failure, deletion and the reaper."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from backend.datasets.imports import (
    ABANDONED_UPLOAD_SECONDS,
    ArraysGone,
    ImportLost,
    arrays_discard_unused,
    dataset_import_claim,
    dataset_import_fail,
    dataset_import_finish,
    dataset_import_heartbeat,
    dataset_import_progress,
    dataset_imports_reap,
)
from backend.datasets.models import Dataset, DatasetStatus
from backend.datasets.services import dataset_delete
from tests.datasets.imports import store_contents
from workers.engine.arrays import ArrayDataset
from workers.engine.datasets import save_dataset


def stored_arrays(data_dir, seed: int = 0):
    rng = np.random.default_rng(seed)
    arrays = ArrayDataset(
        x_train=rng.normal(size=(8, 3)).astype(np.float32),
        y_train=np.arange(8, dtype=np.int64) % 2,
        x_test=rng.normal(size=(4, 3)).astype(np.float32),
        y_test=np.arange(4, dtype=np.int64) % 2,
        class_names=["left", "right"],
        kind="features",
    )
    return save_dataset(arrays, data_dir, "pairs")


def make_stale(dataset: Dataset, seconds: float = 3600) -> None:
    Dataset.objects.filter(pk=dataset.pk).update(import_heartbeat_at=timezone.now() - timedelta(seconds=seconds))


def test_an_upload_waits_pending_with_its_file_stored_and_its_task_sent(upload_pending, sent, data_dir):
    dataset = upload_pending()

    assert (dataset.status, dataset.stage, dataset.import_attempt) == ("pending", "Waiting for a worker", 0)
    assert sent == [dataset.pk]
    assert store_contents(data_dir)["uploads"] == [dataset.stored_upload]
    assert dataset.stored_upload.endswith(".npz")
    assert dataset.import_enqueued_at is not None


def test_a_claim_opens_the_first_attempt(upload_pending, data_dir):
    dataset = upload_pending()

    claim = dataset_import_claim(dataset_id=dataset.pk)

    dataset.refresh_from_db()
    assert (dataset.status, dataset.import_attempt, dataset.stage) == ("importing", 1, "Starting")
    assert (claim.attempt, claim.format, claim.source) == (1, "npz", "blobs.npz")
    assert claim.upload == data_dir / "uploads" / dataset.stored_upload


def test_a_duplicate_delivery_leaves_an_import_whose_worker_is_beating(upload_pending):
    dataset = upload_pending()
    dataset_import_claim(dataset_id=dataset.pk)

    assert dataset_import_claim(dataset_id=dataset.pk) is None
    assert Dataset.objects.get(pk=dataset.pk).import_attempt == 1


def test_finished_and_deleted_imports_are_not_claimed(upload_pending, editor):
    ready, deleted = upload_pending(name="ready"), upload_pending(name="deleted")
    Dataset.objects.filter(pk=ready.pk).update(status=DatasetStatus.READY, sha256="a" * 64)
    dataset_delete(dataset=deleted, user=editor)

    assert dataset_import_claim(dataset_id=ready.pk) is None
    assert dataset_import_claim(dataset_id=deleted.pk) is None


def test_a_stale_import_is_taken_over_and_its_old_attempt_can_write_nothing(upload_pending, data_dir):
    dataset = upload_pending()
    old = dataset_import_claim(dataset_id=dataset.pk)
    make_stale(dataset)

    new = dataset_import_claim(dataset_id=dataset.pk)

    assert new.attempt == 2
    with pytest.raises(ImportLost):
        dataset_import_progress(claim=old, fraction=0.5, stage="Decoding images")
    assert dataset_import_heartbeat(claim=old) is False
    with pytest.raises(ImportLost):
        dataset_import_finish(claim=old, info=stored_arrays(data_dir))
    assert dataset_import_fail(claim=old, message="late") is False
    dataset.refresh_from_db()
    assert (dataset.status, dataset.import_attempt, dataset.error, dataset.stage) == ("importing", 2, "", "Starting")
    # The new attempt still has the upload to read.
    assert new.upload.is_file()


def test_an_import_whose_worker_keeps_dying_fails_after_its_attempts(upload_pending, settings, data_dir):
    settings.SAMPLEWISE_MAX_ATTEMPTS = 2
    dataset = upload_pending()
    for _ in range(2):
        assert dataset_import_claim(dataset_id=dataset.pk) is not None
        make_stale(dataset)

    assert dataset_import_claim(dataset_id=dataset.pk) is None

    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.FAILED
    assert "started 2 times" in dataset.error
    assert store_contents(data_dir)["uploads"] == []


def test_progress_is_recorded_as_a_fraction_with_its_stage(upload_pending):
    dataset = upload_pending()
    claim = dataset_import_claim(dataset_id=dataset.pk)

    dataset_import_progress(claim=claim, fraction=0.42, stage="Decoding images")
    first = Dataset.objects.get(pk=dataset.pk)
    dataset_import_progress(claim=claim, fraction=1.5, stage="x" * 300)
    second = Dataset.objects.get(pk=dataset.pk)

    assert (first.progress, first.stage) == (0.42, "Decoding images")
    assert (second.progress, len(second.stage)) == (1.0, 100)


def test_finishing_records_what_the_engine_found_and_removes_the_upload(upload_pending, data_dir):
    dataset = upload_pending()
    claim = dataset_import_claim(dataset_id=dataset.pk)
    info = stored_arrays(data_dir)

    dataset_import_finish(claim=claim, info=info)

    dataset.refresh_from_db()
    assert (dataset.status, dataset.progress, dataset.stage, dataset.error) == ("ready", 1.0, "", "")
    assert (dataset.sha256, dataset.input_kind, dataset.input_shape) == (info.sha256, "features", [3])
    assert (dataset.class_names, dataset.class_counts, dataset.train_size, dataset.test_size) == (
        ["left", "right"],
        [4, 4],
        8,
        4,
    )
    assert dataset.import_finished_at >= dataset.import_started_at
    assert store_contents(data_dir) == {"uploads": [], "arrays": [f"{info.sha256}.npz"]}


def test_finishing_is_refused_when_the_arrays_are_gone(upload_pending, data_dir):
    dataset = upload_pending()
    claim = dataset_import_claim(dataset_id=dataset.pk)
    info = stored_arrays(data_dir)
    (data_dir / "datasets" / f"{info.sha256}.npz").unlink()

    with pytest.raises(ArraysGone):
        dataset_import_finish(claim=claim, info=info)

    assert Dataset.objects.get(pk=dataset.pk).status == DatasetStatus.IMPORTING


def test_failing_removes_the_upload_and_arrays_only_this_import_stored(upload_pending, data_dir):
    dataset = upload_pending()
    claim = dataset_import_claim(dataset_id=dataset.pk)
    info = stored_arrays(data_dir)

    assert dataset_import_fail(claim=claim, message="blobs.npz: broken", stored_sha256=info.sha256) is True

    dataset.refresh_from_db()
    assert (dataset.status, dataset.error, dataset.stored_upload) == ("failed", "blobs.npz: broken", "")
    assert store_contents(data_dir) == {"uploads": [], "arrays": []}
    assert not (data_dir / "datasets" / f"{info.sha256}.json").exists()


def test_failing_keeps_arrays_another_dataset_uses(upload_pending, data_dir):
    first, second = upload_pending(name="first"), upload_pending(name="second")
    info = stored_arrays(data_dir)
    dataset_import_finish(claim=dataset_import_claim(dataset_id=first.pk), info=info)

    dataset_import_fail(claim=dataset_import_claim(dataset_id=second.pk), message="no", stored_sha256=info.sha256)

    assert store_contents(data_dir)["arrays"] == [f"{info.sha256}.npz"]
    assert arrays_discard_unused(info.sha256) is False


def test_arrays_of_an_import_deleted_before_it_finished_are_removed(upload_pending, editor, data_dir):
    dataset = upload_pending()
    claim = dataset_import_claim(dataset_id=dataset.pk)
    info = stored_arrays(data_dir)
    dataset_delete(dataset=dataset, user=editor)

    with pytest.raises(ImportLost):
        dataset_import_finish(claim=claim, info=info)

    assert store_contents(data_dir) == {"uploads": [], "arrays": []}


def test_deleting_a_pending_dataset_removes_its_upload(upload_pending, editor, data_dir):
    dataset = upload_pending()

    dataset_delete(dataset=dataset, user=editor)

    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert store_contents(data_dir)["uploads"] == []


def test_the_reaper_sends_again_imports_nobody_claimed_or_whose_worker_stopped(
    upload_pending, sent, settings, django_capture_on_commit_callbacks
):
    names = ("unclaimed", "stopped", "beating", "fresh")
    unclaimed, stopped, beating, fresh = (upload_pending(name=name) for name in names)
    long_ago = timezone.now() - timedelta(seconds=settings.SAMPLEWISE_CLAIM_TIMEOUT_SECONDS + 1)
    Dataset.objects.exclude(pk=fresh.pk).update(import_enqueued_at=long_ago)
    dataset_import_claim(dataset_id=stopped.pk)
    dataset_import_claim(dataset_id=beating.pk)
    make_stale(stopped)
    sent.clear()

    with django_capture_on_commit_callbacks(execute=True):
        report = dataset_imports_reap()

    assert sorted(report.resent) == sorted(sent) == sorted([unclaimed.pk, stopped.pk])
    # Each is sent again at most once per claim timeout.
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert dataset_imports_reap().resent == []
    assert sent == []


def test_the_reaper_removes_uploads_left_behind_but_not_those_an_import_waits_for(upload_pending, data_dir):
    waiting = upload_pending()
    uploads = data_dir / "uploads"
    orphan, incoming, recent = uploads / "0123abcd.zip", uploads / ".incoming-x.part", uploads / ".incoming-y.part"
    for path in (orphan, incoming, recent):
        path.write_bytes(b"left over")
    long_ago = time.time() - ABANDONED_UPLOAD_SECONDS - 60
    for path in (orphan, incoming, uploads / waiting.stored_upload):
        os.utime(path, (long_ago, long_ago))

    report = dataset_imports_reap()

    assert report.removed_uploads == sorted([orphan.name, incoming.name])
    assert store_contents(data_dir)["uploads"] == sorted([recent.name, waiting.stored_upload])

"""Per-class test accuracy and the confusion matrix, exact from stored predictions and the stored test labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from backend.experiments.execution import WorkerIdentity, execution_claim, execution_succeed
from backend.experiments.models import RunStatus
from backend.experiments.selectors import (
    NO_PREDICTIONS_STORED,
    confusion_from_predictions,
    execution_test_predictions,
    run_confusion,
)
from backend.experiments.services import experiment_create
from tests.conftest import set_execution
from tests.planted import CLASS_NAMES, LABELS, PREDICTED, store_planted_dataset
from workers.engine.datasets import load_test_labels
from workers.engine.errors import DatasetError
from workers.engine.version import ENGINE_VERSION

WORKER = WorkerIdentity(name="cpu@test", device_kind="cpu", device_name="cpu", engine_version=ENGINE_VERSION)


def test_the_matrix_and_per_class_accuracy_match_sklearn_on_planted_predictions():
    confusion = confusion_from_predictions(predictions=PREDICTED, labels=LABELS, class_names=CLASS_NAMES)

    expected = confusion_matrix(LABELS, PREDICTED, labels=[0, 1, 2])
    assert confusion.matrix == expected.tolist() == [[3, 1, 1], [1, 3, 0], [2, 0, 1]]
    assert [row.accuracy for row in confusion.per_class] == [3 / 5, 3 / 4, 1 / 3]
    assert [(row.name, row.support, row.correct) for row in confusion.per_class] == [
        ("cat", 5, 3),
        ("dog", 4, 3),
        ("bird", 3, 1),
    ]
    assert (confusion.total, confusion.correct, confusion.accuracy) == (12, 7, 7 / 12)


def test_a_class_absent_from_the_test_set_has_no_accuracy_and_a_zero_row():
    labels = np.array([0, 0, 1, 1], dtype=np.int64)
    predicted = np.array([0, 2, 1, 2], dtype=np.uint8)

    confusion = confusion_from_predictions(predictions=predicted, labels=labels, class_names=CLASS_NAMES)

    assert confusion.matrix == confusion_matrix(labels, predicted, labels=[0, 1, 2]).tolist()
    assert confusion.matrix[2] == [0, 0, 0]
    assert [row.accuracy for row in confusion.per_class] == [0.5, 0.5, None]


def test_a_large_random_test_set_matches_sklearn():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 300, size=20_000).astype(np.int64)
    predicted = np.where(rng.random(20_000) < 0.6, labels, rng.integers(0, 300, size=20_000)).astype(np.uint16)
    names = [f"c{index}" for index in range(300)]

    confusion = confusion_from_predictions(predictions=predicted, labels=labels, class_names=names)

    expected = confusion_matrix(labels, predicted, labels=list(range(300)))
    assert np.array_equal(np.array(confusion.matrix), expected)
    per_class = np.diagonal(expected) / expected.sum(axis=1)
    assert [row.accuracy for row in confusion.per_class] == per_class.tolist()


@pytest.mark.parametrize(
    "predictions, labels, message",
    [
        (np.array([0, 1], dtype=np.uint8), np.array([0, 1, 2]), "2 predictions for 3 test examples"),
        (np.array([0, 3], dtype=np.uint8), np.array([0, 1]), "predictions hold class indices outside 0..2"),
        (np.array([0.0, 1.0]), np.array([0, 1]), "predictions must be integers"),
    ],
)
def test_predictions_that_do_not_fit_are_refused_with_the_reason(predictions, labels, message):
    with pytest.raises(ValueError, match=message):
        confusion_from_predictions(predictions=predictions, labels=labels, class_names=CLASS_NAMES)


@pytest.fixture
def stored_dataset(settings, tmp_path, team, owner):
    settings.SAMPLEWISE_DATA_DIR = tmp_path
    return store_planted_dataset(tmp_path, team, owner)


@pytest.fixture
def run(stored_dataset, team, owner, builtin_policies):
    experiment = experiment_create(
        team=team,
        user=owner,
        name="confusion",
        dataset=stored_dataset,
        model="mlp",
        recipe={"rounds": 3},
        policies=[builtin_policies["rs2_without_replacement"]],
        budgets=[0.5],
        seeds=[0],
    )
    return experiment.runs.select_related("execution", "experiment__dataset").get()


def test_the_stored_test_labels_are_read_without_the_inputs(stored_dataset, settings):
    labels = load_test_labels(stored_dataset.sha256, settings.SAMPLEWISE_DATA_DIR)

    assert labels.dtype == np.int64 and labels.tolist() == LABELS.tolist()


def test_labels_that_would_need_unpickling_are_refused(tmp_path):
    sha256 = "a" * 64
    path = tmp_path / "datasets" / f"{sha256}.npz"
    path.parent.mkdir()
    np.savez(path, y_test=np.array([{"not": "labels"}], dtype=object))

    with pytest.raises(DatasetError, match="cannot read the dataset file"):
        load_test_labels(sha256, tmp_path)


def test_a_missing_dataset_file_is_a_dataset_error(settings, tmp_path):
    with pytest.raises(DatasetError, match="is not in the store"):
        load_test_labels("0" * 64, tmp_path)


def test_a_succeeded_run_reads_its_confusion_from_what_the_worker_stored(run):
    claimed = execution_claim(execution_id=run.execution_id, worker=WORKER)
    execution_succeed(
        lease=claimed.lease,
        result={"final_accuracy": 7 / 12, "best_accuracy": 7 / 12, "test_predictions": PREDICTED.tolist()},
    )
    run.execution.refresh_from_db()

    result = run_confusion(run)

    assert result.reason == ""
    assert result.confusion.matrix == confusion_matrix(LABELS, PREDICTED).tolist()
    assert result.confusion.class_names == CLASS_NAMES
    assert [row.accuracy for row in result.confusion.per_class] == [3 / 5, 3 / 4, 1 / 3]
    assert execution_test_predictions(run.execution).dtype == np.uint8


def test_a_run_from_an_older_engine_says_no_predictions_are_stored(run):
    set_execution(run, status=RunStatus.SUCCEEDED, final_accuracy=0.5)
    run.execution.refresh_from_db()

    assert run_confusion(run).confusion is None
    assert run_confusion(run).reason == NO_PREDICTIONS_STORED == "no predictions stored (run from an older engine)"


@pytest.mark.parametrize(
    "status, reason",
    [
        (RunStatus.QUEUED, "available once the run has succeeded"),
        (RunStatus.RUNNING, "available once the run has succeeded"),
        (RunStatus.FAILED, "no predictions: the run failed"),
        (RunStatus.CANCELED, "no predictions: the run was canceled"),
    ],
)
def test_an_unfinished_or_failed_run_says_why_it_has_no_matrix(run, status, reason):
    set_execution(run, status=status)
    run.execution.refresh_from_db()

    assert (run_confusion(run).confusion, run_confusion(run).reason) == (None, reason)


def test_predictions_of_another_length_than_the_test_set_are_reported(run):
    set_execution(run, status=RunStatus.SUCCEEDED, test_predictions=bytes([0, 1, 2]), test_predictions_dtype="|u1")
    run.execution.refresh_from_db()

    result = run_confusion(run)

    assert result.confusion is None
    assert result.reason == (
        "the stored predictions do not fit the dataset's test set: 3 predictions for 12 test examples"
    )


def test_a_dataset_missing_from_the_store_is_reported(run, settings, tmp_path):
    settings.SAMPLEWISE_DATA_DIR = tmp_path / "elsewhere"
    set_execution(run, status=RunStatus.SUCCEEDED, test_predictions=PREDICTED.tobytes(), test_predictions_dtype="|u1")
    run.execution.refresh_from_db()

    assert run_confusion(run).reason == "the dataset's test labels are not in this server's store"

"""The run lifecycle services: claim, heartbeat, metrics, finish, fail, reap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backend.experiments.execution import (
    run_claim,
    run_fail,
    run_heartbeat,
    run_record_metric,
    run_succeed,
    runs_reap_stale,
)
from backend.experiments.models import Run, RunMetric, RunStatus
from backend.experiments.services import experiment_create, run_cancel


@pytest.fixture
def make_experiment(team, editor, dataset, builtin_policies):
    def make(name="sweep"):
        return experiment_create(
            team=team,
            user=editor,
            name=name,
            dataset=dataset,
            model="mlp",
            recipe={"rounds": 3},
            policies=[builtin_policies["rs2_without_replacement"]],
            budgets=[0.1],
            seeds=[0],
        )

    return make


@pytest.fixture
def run(make_experiment):
    return make_experiment().runs.get()


def metric(epoch: int, accuracy: float) -> dict:
    return {
        "epoch": epoch,
        "step": epoch * 4,
        "samples_seen": epoch * 40,
        "wall_clock_seconds": epoch * 0.5,
        "evaluation_seconds": 0.1,
        "train_loss": 1.0 / epoch,
        "test_accuracy": accuracy,
        "test_loss": 1.2,
        "lr": 0.05,
        "data_fraction": 0.1,
    }


RESULT = {
    "selection_seconds": 0.01,
    "training_seconds": 1.5,
    "evaluation_seconds": 0.3,
    "final_accuracy": 0.8,
    "best_accuracy": 0.82,
    "time_to_target_seconds": 1.0,
    "samples_trained": 120,
    "resumed_from_round": None,
}


def test_a_claim_marks_the_run_running_once(run):
    claim = run_claim(run_id=run.pk, worker="cpu@a")

    assert claim is not None and not claim.resumed
    run.refresh_from_db()
    assert (run.status, run.worker, run.attempt) == (RunStatus.RUNNING, "cpu@a", 1)
    assert run.heartbeat_at is not None and run.started_at is not None
    # A duplicate delivery while the heartbeat is fresh is refused.
    assert run_claim(run_id=run.pk, worker="cpu@b") is None


def test_canceled_and_finished_runs_are_not_claimed(run, editor):
    run_cancel(run=run, user=editor)

    assert run_claim(run_id=run.pk, worker="cpu@a") is None
    assert run_claim(run_id=999999, worker="cpu@a") is None


def test_the_heartbeat_tells_a_worker_to_stop_once_the_run_is_canceled(run, editor):
    run_claim(run_id=run.pk, worker="cpu@a")
    assert run_heartbeat(run_id=run.pk) is True

    run_cancel(run=run, user=editor)

    assert run_heartbeat(run_id=run.pk) is False


def test_a_replayed_epoch_overwrites_its_metric_row(run):
    run_record_metric(run_id=run.pk, metric=metric(1, 0.5))
    run_record_metric(run_id=run.pk, metric=metric(2, 0.6))
    run_record_metric(run_id=run.pk, metric=metric(2, 0.65))

    rows = list(RunMetric.objects.filter(run=run).order_by("epoch").values_list("epoch", "test_accuracy"))
    assert rows == [(1, 0.5), (2, 0.65)]


def test_success_records_the_figures_and_reaches_runs_that_reuse_it(run, make_experiment):
    reusing = make_experiment("again").runs.get()
    assert reusing.reused_from_id == run.pk and reusing.status == RunStatus.QUEUED
    run_claim(run_id=run.pk, worker="cpu@a")

    run_succeed(run_id=run.pk, result=RESULT)

    run.refresh_from_db()
    reusing.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.final_accuracy == 0.8 and run.finished_at
    assert (reusing.status, reusing.final_accuracy, reusing.training_seconds) == (RunStatus.SUCCEEDED, 0.8, 1.5)
    assert reusing.worker == "cpu@a"


def test_a_run_canceled_while_training_is_not_marked_succeeded(run, editor):
    run_claim(run_id=run.pk, worker="cpu@a")
    run_cancel(run=run, user=editor)

    assert run_succeed(run_id=run.pk, result=RESULT) is None
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED and run.final_accuracy is None


def test_a_failure_keeps_the_last_lines_of_the_traceback(run):
    run_claim(run_id=run.pk, worker="cpu@a")
    traceback = "\n".join(f'  File "x.py", line {line}, in f' for line in range(40)) + "\nValueError: bad input"

    run_fail(run_id=run.pk, error=traceback)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.splitlines()[-1] == "ValueError: bad input"
    assert len(run.error.splitlines()) == 12


def test_the_reaper_requeues_a_silent_run_then_fails_it_after_the_last_attempt(run, django_capture_on_commit_callbacks):
    run_claim(run_id=run.pk, worker="cpu@a")
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))

    with django_capture_on_commit_callbacks() as callbacks:
        report = runs_reap_stale(timeout_seconds=60, max_attempts=2)

    assert report.requeued == [run.pk] and report.failed == []
    assert len(callbacks) == 1  # the run is sent to the broker again
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and "stopped sending heartbeats" in run.error

    claim = run_claim(run_id=run.pk, worker="cpu@b")
    assert claim is not None and claim.resumed
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    report = runs_reap_stale(timeout_seconds=60, max_attempts=2)

    assert report.failed == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "giving up after 2 attempts" in run.error


def test_the_reaper_leaves_runs_with_a_fresh_heartbeat(run):
    run_claim(run_id=run.pk, worker="cpu@a")

    report = runs_reap_stale(timeout_seconds=60)

    assert report.requeued == [] and report.failed == []
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING

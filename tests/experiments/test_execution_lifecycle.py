"""The execution lifecycle: leases and their fencing, cells withdrawing, the reaper, checkpoint files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from backend.experiments.execution import (
    Lease,
    LeaseLost,
    WorkerIdentity,
    attempt_checkpoint_path,
    checkpoints_clean,
    execution_checkpoint_dir,
    execution_checkpoint_saved,
    execution_claim,
    execution_fail,
    execution_heartbeat,
    execution_record_metrics,
    execution_release,
    execution_started,
    execution_stopped,
    execution_succeed,
    executions_reap,
)
from backend.experiments.models import Attempt, Execution, Queue, Run, RunMetric, RunStatus
from backend.experiments.services import experiment_cancel, experiment_create, run_cancel
from tests.workers.conftest import database_url_for_current_connection
from workers.engine.version import ENGINE_VERSION

CPU_WORKER = WorkerIdentity(name="cpu@a", device_kind="cpu", device_name="cpu", engine_version=ENGINE_VERSION)
OTHER_CPU_WORKER = WorkerIdentity(name="cpu@b", device_kind="cpu", device_name="cpu", engine_version=ENGINE_VERSION)


@pytest.fixture
def make_experiment(team, editor, dataset, builtin_policies):
    def make(name="sweep", **overrides):
        arguments = dict(
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
        arguments.update(overrides)
        return experiment_create(**arguments)

    return make


@pytest.fixture
def run(make_experiment):
    return make_experiment().runs.select_related("execution").get()


@pytest.fixture
def execution(run):
    return run.execution


def claim(execution, worker=CPU_WORKER) -> Lease:
    claimed = execution_claim(execution_id=execution.pk, worker=worker)
    assert claimed is not None
    return claimed.lease


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
    "samples_trained": 120,
    "rounds_completed": 3,
    "rounds_planned": 3,
    "test_predictions": [0, 3, 9, 9, 1],
}


def make_stale(execution) -> None:
    Execution.objects.filter(pk=execution.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))


# ---------------------------------------------------------------------------
# Claims and leases
# ---------------------------------------------------------------------------


def test_a_claim_opens_lease_one_and_records_the_attempt_and_provenance(execution):
    worker = WorkerIdentity(
        name="gpu0@box",
        device_kind="cpu",
        device_name="cpu",
        engine_version=ENGINE_VERSION,
        engine_commit="abc123",
        torch_version="2.13.0",
    )
    claimed = execution_claim(execution_id=execution.pk, worker=worker)

    assert claimed.lease == Lease(execution.pk, 1) and claimed.resume_from == ""
    execution.refresh_from_db()
    assert (execution.status, execution.worker, execution.attempt) == (RunStatus.RUNNING, "gpu0@box", 1)
    assert (execution.engine_commit, execution.torch_version, execution.device_name) == ("abc123", "2.13.0", "cpu")
    assert execution.heartbeat_at is not None and execution.started_at is not None
    attempt = Attempt.objects.get(execution=execution)
    assert (attempt.number, attempt.worker, attempt.outcome) == (1, "gpu0@box", "running")


def test_a_duplicate_delivery_while_the_heartbeat_is_fresh_is_refused(execution):
    claim(execution)

    assert execution_claim(execution_id=execution.pk, worker=OTHER_CPU_WORKER) is None
    assert Execution.objects.get(pk=execution.pk).attempt == 1


def test_a_stale_claim_is_taken_over_with_a_new_lease_and_the_old_attempt_is_marked_lost(execution):
    first = claim(execution)
    make_stale(execution)

    second = claim(execution, OTHER_CPU_WORKER)

    assert second.attempt == first.attempt + 1
    attempts = list(Attempt.objects.filter(execution=execution).values_list("number", "outcome", "worker"))
    assert attempts == [(1, "lost", "cpu@a"), (2, "running", "cpu@b")]
    assert Execution.objects.get(pk=execution.pk).requeues == 1


def test_a_worker_of_another_device_kind_or_engine_never_claims(execution):
    gpu = WorkerIdentity(name="gpu0@x", device_kind="cuda", device_name="cuda:H200", engine_version=ENGINE_VERSION)
    old = WorkerIdentity(name="cpu@old", device_kind="cpu", device_name="cpu", engine_version="0.0.1")

    assert execution_claim(execution_id=execution.pk, worker=gpu) is None
    assert execution_claim(execution_id=execution.pk, worker=old) is None
    assert Execution.objects.get(pk=execution.pk).status == RunStatus.QUEUED


def test_a_gpu_execution_is_claimed_by_a_gpu_worker(make_experiment):
    execution = make_experiment(queue=Queue.GPU).runs.get().execution
    gpu = WorkerIdentity(
        name="gpu0@x", device_kind="cuda", device_name="cuda:NVIDIA H200", engine_version=ENGINE_VERSION
    )

    assert execution_claim(execution_id=execution.pk, worker=CPU_WORKER) is None
    assert execution_claim(execution_id=execution.pk, worker=gpu) is not None
    assert Execution.objects.get(pk=execution.pk).device_name == "cuda:NVIDIA H200"


def test_canceled_finished_and_missing_executions_are_not_claimed(run, editor):
    run_cancel(run=run, user=editor)

    assert execution_claim(execution_id=run.execution_id, worker=CPU_WORKER) is None
    assert execution_claim(execution_id=999999, worker=CPU_WORKER) is None


# ---------------------------------------------------------------------------
# Fencing: every write names the lease
# ---------------------------------------------------------------------------


def test_every_write_of_a_superseded_lease_is_refused(execution, tmp_path):
    stale = claim(execution)
    make_stale(execution)
    current = claim(execution, OTHER_CPU_WORKER)
    execution_record_metrics(lease=current, metrics=[metric(1, 0.5)])

    assert execution_heartbeat(lease=stale) == "lost"
    with pytest.raises(LeaseLost):
        execution_record_metrics(lease=stale, metrics=[metric(1, 0.99), metric(2, 0.99)])
    with pytest.raises(LeaseLost):
        execution_checkpoint_saved(lease=stale, path=str(tmp_path / "stale.pt"), next_round=2)
    with pytest.raises(LeaseLost):
        execution_started(lease=stale, resumed_from_round=0)
    with pytest.raises(LeaseLost):
        execution_succeed(lease=stale, result=RESULT)
    with pytest.raises(LeaseLost):
        execution_fail(lease=stale, error="late")

    execution.refresh_from_db()
    assert (execution.status, execution.attempt, execution.checkpoint) == (RunStatus.RUNNING, 2, "")
    assert list(RunMetric.objects.filter(execution=execution).values_list("epoch", "test_accuracy")) == [(1, 0.5)]
    assert execution_heartbeat(lease=current) == "held"


def test_the_heartbeat_tells_a_worker_its_execution_was_canceled(run, editor):
    lease = claim(run.execution)
    assert execution_heartbeat(lease=lease) == "held"

    run_cancel(run=run, user=editor)

    assert execution_heartbeat(lease=lease) == "canceled"


def test_a_replayed_epoch_overwrites_its_metric_row(execution):
    lease = claim(execution)
    execution_record_metrics(lease=lease, metrics=[metric(1, 0.5), metric(2, 0.6)])
    execution_record_metrics(lease=lease, metrics=[metric(2, 0.65)])

    rows = list(RunMetric.objects.filter(execution=execution).order_by("epoch").values_list("epoch", "test_accuracy"))
    assert rows == [(1, 0.5), (2, 0.65)]


def test_a_resumed_attempt_drops_the_abandoned_attempts_points_past_its_checkpoint(execution, tmp_path):
    first = claim(execution)
    execution_record_metrics(lease=first, metrics=[metric(epoch, epoch / 10) for epoch in range(1, 6)])
    execution_checkpoint_saved(lease=first, path=str(tmp_path / "attempt-1.pt"), next_round=3)
    make_stale(execution)

    # The claim already says where the attempt resumes, before any training.
    claimed = execution_claim(execution_id=execution.pk, worker=OTHER_CPU_WORKER)
    assert (claimed.resumed_from_round, claimed.abandoned_points) == (3, True)
    assert Execution.objects.get(pk=execution.pk).resumed_from_round == 3

    execution_started(lease=claimed.lease, resumed_from_round=3)

    execution.refresh_from_db()
    assert execution.resumed_from_round == 3
    assert list(RunMetric.objects.filter(execution=execution).values_list("epoch", flat=True)) == [1, 2, 3]
    assert Attempt.objects.get(execution=execution, number=2).resumed_from_round == 3


def test_a_checkpoint_newer_than_its_record_keeps_the_points_up_to_the_round_it_holds(execution, tmp_path):
    # The first attempt wrote round 4's file and row, but recording that checkpoint failed.
    first = claim(execution)
    execution_record_metrics(lease=first, metrics=[metric(epoch, epoch / 10) for epoch in range(1, 5)])
    execution_checkpoint_saved(lease=first, path=str(tmp_path / "attempt-1.pt"), next_round=3)
    make_stale(execution)
    claimed = execution_claim(execution_id=execution.pk, worker=OTHER_CPU_WORKER)
    assert claimed.resumed_from_round == 3

    execution_started(lease=claimed.lease, resumed_from_round=4)  # what the file held

    execution.refresh_from_db()
    assert execution.resumed_from_round == 4
    assert list(RunMetric.objects.filter(execution=execution).values_list("epoch", flat=True)) == [1, 2, 3, 4]


def test_a_fresh_claim_knows_there_is_nothing_to_drop(execution):
    claimed = execution_claim(execution_id=execution.pk, worker=CPU_WORKER)

    assert (claimed.resume_from, claimed.resumed_from_round, claimed.abandoned_points) == ("", None, False)


def test_an_attempt_that_cannot_use_its_checkpoint_corrects_the_round_it_resumed_from(execution, tmp_path):
    first = claim(execution)
    execution_record_metrics(lease=first, metrics=[metric(epoch, epoch / 10) for epoch in range(1, 6)])
    execution_checkpoint_saved(lease=first, path=str(tmp_path / "attempt-1.pt"), next_round=3)
    make_stale(execution)
    second = claim(execution, OTHER_CPU_WORKER)

    execution_started(lease=second, resumed_from_round=None)  # the file is not on this machine

    execution.refresh_from_db()
    assert execution.resumed_from_round is None
    assert not RunMetric.objects.filter(execution=execution).exists()
    assert Attempt.objects.get(execution=execution, number=2).resumed_from_round is None


def test_an_attempt_from_scratch_drops_every_earlier_point(execution):
    first = claim(execution)
    execution_record_metrics(lease=first, metrics=[metric(1, 0.1), metric(2, 0.2)])
    make_stale(execution)
    second = claim(execution, OTHER_CPU_WORKER)

    execution_started(lease=second, resumed_from_round=None)

    assert not RunMetric.objects.filter(execution=execution).exists()


def test_success_records_figures_and_predictions_and_removes_the_checkpoints(execution, settings, tmp_path):
    settings.SAMPLEWISE_DATA_DIR = tmp_path
    lease = claim(execution)
    path = attempt_checkpoint_path(lease)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"state")
    execution_checkpoint_saved(lease=lease, path=str(path), next_round=3)

    execution_succeed(lease=lease, result=RESULT)

    execution.refresh_from_db()
    assert execution.status == RunStatus.SUCCEEDED and execution.finished_at is not None
    assert (execution.final_accuracy, execution.training_seconds, execution.rounds_completed) == (0.8, 1.5, 3)
    assert execution.checkpoint == "" and not execution_checkpoint_dir(execution.pk).exists()
    import numpy as np

    predictions = np.frombuffer(bytes(execution.test_predictions), dtype=execution.test_predictions_dtype)
    assert predictions.tolist() == [0, 3, 9, 9, 1]
    assert execution.test_predictions_dtype == "|u1" and len(execution.test_predictions) == 5
    assert Attempt.objects.get(execution=execution).outcome == "succeeded"


def test_a_setting_keeps_checkpoints_after_success(execution, settings, tmp_path):
    settings.SAMPLEWISE_DATA_DIR = tmp_path
    settings.SAMPLEWISE_KEEP_CHECKPOINTS = True
    lease = claim(execution)
    path = attempt_checkpoint_path(lease)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"state")

    execution_succeed(lease=lease, result=RESULT)

    assert path.exists()


def test_a_new_checkpoint_replaces_the_previous_attempts_file(execution, settings, tmp_path):
    settings.SAMPLEWISE_DATA_DIR = tmp_path
    first = claim(execution)
    old = attempt_checkpoint_path(first)
    old.parent.mkdir(parents=True)
    old.write_bytes(b"round 2")
    execution_checkpoint_saved(lease=first, path=str(old), next_round=2)
    make_stale(execution)
    second = claim(execution, OTHER_CPU_WORKER)
    new = attempt_checkpoint_path(second)
    new.write_bytes(b"round 3")

    execution_checkpoint_saved(lease=second, path=str(new), next_round=3)

    execution.refresh_from_db()
    assert (execution.checkpoint, execution.checkpoint_round) == (str(new), 3)
    assert not old.exists() and new.exists()


def test_the_next_claim_resumes_from_the_recorded_checkpoint(execution, tmp_path):
    first = claim(execution)
    execution_checkpoint_saved(lease=first, path=str(tmp_path / "attempt-1.pt"), next_round=2)
    make_stale(execution)

    claimed = execution_claim(execution_id=execution.pk, worker=OTHER_CPU_WORKER)

    assert claimed.resume_from == str(tmp_path / "attempt-1.pt")


def test_a_run_canceled_while_training_is_not_marked_succeeded(run, editor):
    lease = claim(run.execution)
    run_cancel(run=run, user=editor)

    with pytest.raises(LeaseLost):
        execution_succeed(lease=lease, result=RESULT)
    execution_stopped(lease=lease, result=RESULT)

    run.execution.refresh_from_db()
    assert run.execution.status == RunStatus.CANCELED and run.execution.final_accuracy is None
    assert run.execution.training_seconds == 1.5
    assert Attempt.objects.get(execution=run.execution).outcome == "canceled"


def test_a_failure_keeps_the_last_lines_of_the_traceback(execution):
    lease = claim(execution)
    traceback = "\n".join(f'  File "x.py", line {line}, in f' for line in range(40)) + "\nValueError: bad input"

    execution_fail(lease=lease, error=traceback)

    execution.refresh_from_db()
    assert execution.status == RunStatus.FAILED
    assert execution.error.splitlines()[-1] == "ValueError: bad input"
    assert len(execution.error.splitlines()) == 12


def test_a_released_execution_is_queued_again_then_failed_once_its_budget_is_spent(
    execution, settings, django_capture_on_commit_callbacks
):
    settings.SAMPLEWISE_MAX_ATTEMPTS = 2
    with django_capture_on_commit_callbacks() as callbacks:
        execution_release(lease=claim(execution), reason="database unavailable")

    assert len(callbacks) == 1
    execution.refresh_from_db()
    assert execution.status == RunStatus.QUEUED and "database unavailable" in execution.error

    execution_release(lease=claim(execution), reason="database unavailable")

    execution.refresh_from_db()
    assert execution.status == RunStatus.FAILED and "Giving up after 2 attempts" in execution.error
    assert list(Attempt.objects.filter(execution=execution).values_list("outcome", flat=True)) == [
        "released",
        "released",
    ]


# ---------------------------------------------------------------------------
# Cells withdraw; executions are canceled only when nobody needs them
# ---------------------------------------------------------------------------


def test_cancelling_an_experiment_keeps_an_execution_another_experiment_needs(make_experiment, editor):
    first = make_experiment("first")
    second = make_experiment("second")
    execution = second.runs.get().execution
    assert first.runs.get().execution_id == execution.pk

    withdrawal = experiment_cancel(experiment=first, user=editor)

    assert (withdrawal.cells, withdrawal.shared) == (1, 1)
    execution.refresh_from_db()
    assert execution.status == RunStatus.QUEUED
    assert first.runs.select_related("execution").get().status == RunStatus.CANCELED
    assert second.runs.select_related("execution").get().status == RunStatus.QUEUED

    withdrawal = experiment_cancel(experiment=second, user=editor)

    assert (withdrawal.cells, withdrawal.shared) == (1, 0)
    execution.refresh_from_db()
    assert execution.status == RunStatus.CANCELED


def test_a_withdrawn_cell_shows_the_results_once_the_shared_execution_succeeds(make_experiment, editor):
    first = make_experiment("first")
    make_experiment("second")
    lease = claim(first.runs.get().execution)
    experiment_cancel(experiment=first, user=editor)

    execution_succeed(lease=lease, result=RESULT)

    cell = first.runs.select_related("execution").get()
    assert cell.status == RunStatus.SUCCEEDED and cell.execution.final_accuracy == 0.8


def test_cancelling_a_finished_experiment_withdraws_nothing(run, editor):
    Execution.objects.filter(pk=run.execution_id).update(status=RunStatus.SUCCEEDED)

    withdrawal = experiment_cancel(experiment=run.experiment, user=editor)

    assert withdrawal.cells == 0
    assert Run.objects.get(pk=run.pk).canceled_at is None


def test_a_new_experiment_requeues_an_execution_canceled_with_the_last_experiment_that_needed_it(
    make_experiment, editor
):
    first = make_experiment("first")
    experiment_cancel(experiment=first, user=editor)
    execution = first.runs.get().execution
    assert execution.status == RunStatus.CANCELED

    second = make_experiment("second")

    execution.refresh_from_db()
    assert second.runs.get().execution_id == execution.pk and execution.status == RunStatus.QUEUED
    # The first experiment withdrew its cell; it reads canceled while the execution runs for the second.
    assert first.runs.select_related("execution").get().status == RunStatus.CANCELED


# ---------------------------------------------------------------------------
# The reaper
# ---------------------------------------------------------------------------


def test_the_reaper_requeues_a_silent_execution_then_fails_it_after_the_last_attempt(
    execution, settings, django_capture_on_commit_callbacks
):
    settings.SAMPLEWISE_MAX_ATTEMPTS = 2
    claim(execution)
    make_stale(execution)

    with django_capture_on_commit_callbacks() as callbacks:
        report = executions_reap(timeout_seconds=60, broker_depths={"cpu": 1, "gpu": 0})

    assert report.requeued == [execution.pk] and report.failed == []
    assert len(callbacks) == 1  # sent to the broker again
    execution.refresh_from_db()
    assert execution.status == RunStatus.QUEUED and "stopped sending heartbeats" in execution.error

    claim(execution, OTHER_CPU_WORKER)
    make_stale(execution)
    report = executions_reap(timeout_seconds=60, broker_depths={"cpu": 0, "gpu": 0})

    assert report.failed == [execution.pk]
    execution.refresh_from_db()
    assert execution.status == RunStatus.FAILED and "Giving up after 2 attempts" in execution.error
    assert list(Attempt.objects.filter(execution=execution).values_list("outcome", flat=True)) == ["lost", "lost"]


def test_the_reaper_leaves_executions_with_a_fresh_heartbeat(execution):
    claim(execution)

    report = executions_reap(timeout_seconds=60, broker_depths={"cpu": 0, "gpu": 0})

    assert report.requeued == [] and report.failed == []
    assert Execution.objects.get(pk=execution.pk).status == RunStatus.RUNNING


def test_the_reaper_resends_as_many_unclaimed_executions_as_the_broker_lost(
    make_experiment, builtin_policies, django_capture_on_commit_callbacks
):
    experiment = make_experiment(seeds=[0, 1, 2, 3])
    Execution.objects.filter(cells__experiment=experiment).update(enqueued_at=timezone.now() - timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = executions_reap(claim_timeout_seconds=60, broker_depths={"cpu": 1, "gpu": 0})

    assert len(report.resent) == 3 and len(callbacks) == 1
    resent = Execution.objects.filter(pk__in=report.resent)
    assert all(execution.enqueued_at > timezone.now() - timedelta(minutes=1) for execution in resent)


def test_the_reaper_resends_nothing_while_the_broker_holds_every_message(make_experiment):
    experiment = make_experiment(seeds=[0, 1])
    Execution.objects.filter(cells__experiment=experiment).update(enqueued_at=timezone.now() - timedelta(hours=1))

    report = executions_reap(claim_timeout_seconds=60, broker_depths={"cpu": 2, "gpu": 0})

    assert report.resent == []


def test_the_reaper_waits_out_the_claim_timeout_before_resending(make_experiment):
    make_experiment(seeds=[0, 1])

    report = executions_reap(claim_timeout_seconds=60, broker_depths={"cpu": 0, "gpu": 0})

    assert report.resent == []


def test_orphaned_checkpoints_are_cleaned_and_live_ones_kept(make_experiment, settings, tmp_path):
    settings.SAMPLEWISE_DATA_DIR = tmp_path
    running, succeeded, canceled = (
        make_experiment(name, seeds=[seed]).runs.get().execution for name, seed in (("a", 0), ("b", 1), ("c", 2))
    )
    lease = claim(running)
    current = attempt_checkpoint_path(lease)
    superseded = execution_checkpoint_dir(running.pk) / "attempt-0.pt"
    finished = execution_checkpoint_dir(succeeded.pk) / "attempt-1.pt"
    resumable = execution_checkpoint_dir(canceled.pk) / "attempt-1.pt"
    vanished = execution_checkpoint_dir(987654) / "attempt-1.pt"
    legacy = tmp_path / "checkpoints" / ("f" * 64 + ".pt")
    for path in (current, superseded, finished, resumable, vanished, legacy):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"state")
        old = time.time() - 3600
        os.utime(path, (old, old))
        os.utime(path.parent, (old, old))
    Execution.objects.filter(pk=succeeded.pk).update(status=RunStatus.SUCCEEDED)
    Execution.objects.filter(pk=canceled.pk).update(status=RunStatus.CANCELED, checkpoint=str(resumable))

    checkpoints_clean()

    assert current.exists() and resumable.exists()
    assert not superseded.exists() and not finished.exists() and not vanished.exists() and not legacy.exists()


HUNG_IN_A_TRANSACTION = """
import os, sys, time
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "backend.settings"
django.setup()
from django.db import transaction
from backend.experiments.models import Execution
with transaction.atomic():
    Execution.objects.select_for_update().get(pk=int(sys.argv[1]))
    print("locked", flush=True)
    time.sleep(30)  # hung between two statements: the server ends the session first
"""


@pytest.mark.django_db(transaction=True)
def test_a_worker_hung_inside_a_transaction_cannot_keep_the_reaper_away(execution):
    claim(execution)
    make_stale(execution)
    environment = {
        **os.environ,
        "SAMPLEWISE_HEARTBEAT_SECONDS": "1",
        "SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS": "3",
        "DATABASE_URL": database_url_for_current_connection(),
    }
    hung = subprocess.Popen(
        [sys.executable, "-c", HUNG_IN_A_TRANSACTION, str(execution.pk)],
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert hung.stdout.readline().strip() == "locked"
        # While the row is locked the reaper passes over it rather than wait.
        assert executions_reap(timeout_seconds=60, broker_depths={"cpu": 1, "gpu": 0}).requeued == []

        deadline = time.monotonic() + 20
        requeued: list[int] = []
        while not requeued and time.monotonic() < deadline:
            time.sleep(0.5)
            requeued = executions_reap(timeout_seconds=60, broker_depths={"cpu": 1, "gpu": 0}).requeued
        assert requeued == [execution.pk]
    finally:
        hung.kill()
        hung.wait()

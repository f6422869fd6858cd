"""A worker killed mid-run loses nothing: the run is requeued, resumes from its checkpoint, and completes;
a run whose workers keep dying is failed once its attempt budget is spent."""

from __future__ import annotations

import pytest
from django.db.models import Count

from backend.datasets.services import dataset_create_builtin
from backend.experiments.execution import executions_reap
from backend.experiments.models import Attempt, Execution, RunMetric, RunStatus
from backend.experiments.services import experiment_create
from tests.workers.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROUNDS = 24


@pytest.fixture
def long_run(team, editor, owner, builtin_policies, start_worker):
    def make():
        digits = dataset_create_builtin(team=team, user=owner, name="digits", builtin="digits")
        experiment = experiment_create(
            team=team,
            user=editor,
            name="long run",
            dataset=digits,
            model="mlp",
            recipe={"rounds": ROUNDS, "batch_size": 16, "eval_every": 1},
            policies=[builtin_policies["rs2_without_replacement"]],
            budgets=[0.5],
            seeds=[0],
        )
        return experiment.runs.get().execution

    return make


def metric_count(execution) -> int:
    return RunMetric.objects.filter(execution=execution).count()


def reap_until_requeued(execution) -> None:
    wait_for(
        lambda: execution.pk in executions_reap(timeout_seconds=3).requeued,
        timeout=30,
        message="the reaper to requeue the run",
    )


def test_a_killed_worker_run_resumes_from_its_checkpoint_with_one_metric_per_epoch(long_run, start_worker):
    first = start_worker()
    execution = long_run()
    wait_for(
        lambda: metric_count(execution) >= 5, timeout=120, message=f"progress before the kill; log:\n{first.log()}"
    )

    first.kill()
    epochs_before_kill = metric_count(execution)
    execution.refresh_from_db()
    assert execution.status == RunStatus.RUNNING and execution.attempt == 1

    second = start_worker()
    # The heartbeat stops with the worker; once it is stale the reaper requeues the run.
    reap_until_requeued(execution)
    wait_for(
        lambda: Execution.objects.get(pk=execution.pk).status == RunStatus.SUCCEEDED,
        timeout=180,
        message=f"the run to finish on the second worker; log:\n{second.log()}",
    )

    execution.refresh_from_db()
    assert execution.attempt == 2
    # It resumed from a checkpoint no older than the last metric written before the kill,
    # so only the rounds after it were trained again, not all of them.
    assert execution.resumed_from_round is not None and execution.resumed_from_round >= epochs_before_kill - 1 >= 4
    epochs = RunMetric.objects.filter(execution=execution).values("epoch").annotate(rows=Count("id"))
    assert sorted(row["epoch"] for row in epochs) == list(range(1, ROUNDS + 1))
    assert {row["rows"] for row in epochs} == {1}
    attempts = list(Attempt.objects.filter(execution=execution).values_list("number", "outcome", "resumed_from_round"))
    assert attempts == [(1, "lost", None), (2, "succeeded", execution.resumed_from_round)]


def test_a_run_whose_worker_dies_every_time_fails_once_its_attempt_budget_is_spent(long_run, start_worker, settings):
    settings.SAMPLEWISE_MAX_ATTEMPTS = 2
    first = start_worker()
    execution = long_run()
    wait_for(lambda: metric_count(execution) >= 3, timeout=120, message=f"progress; log:\n{first.log()}")
    first.kill()

    second = start_worker()
    reap_until_requeued(execution)
    wait_for(
        lambda: Execution.objects.get(pk=execution.pk).attempt == 2 and metric_count(execution) >= 5,
        timeout=120,
        message=f"the second attempt to make progress; log:\n{second.log()}",
    )
    second.kill()

    report = wait_for(
        lambda: executions_reap(timeout_seconds=3).failed, timeout=30, message="the reaper to give up on the run"
    )

    assert report == [execution.pk]
    execution.refresh_from_db()
    assert execution.status == RunStatus.FAILED
    assert "stopped sending heartbeats" in execution.error and "Giving up after 2 attempts" in execution.error
    assert list(Attempt.objects.filter(execution=execution).values_list("outcome", flat=True)) == ["lost", "lost"]

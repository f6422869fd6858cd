"""Retrying failed runs: only failed executions are queued again, through the run lifecycle."""

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from backend.errors import ApplicationError
from backend.experiments.models import Attempt, Execution, RunStatus
from backend.experiments.services import experiment_create, experiment_retry_failed, run_cancel, run_retry
from tests.conftest import finish_run, set_execution


@pytest.fixture
def make_experiment(team, editor, dataset, builtin_policies):
    def make(name="sweep", seeds=(0, 1, 2, 3)):
        return experiment_create(
            team=team,
            user=editor,
            name=name,
            dataset=dataset,
            model="mlp",
            recipe={"rounds": 5},
            policies=[builtin_policies["rs2_without_replacement"]],
            budgets=[0.1],
            seeds=list(seeds),
        )

    return make


@pytest.fixture
def experiment(make_experiment):
    """Seed 0 succeeded, seed 1 failed after two attempts, seed 2 running, seed 3 canceled."""
    experiment = make_experiment()
    runs = {run.seed: run for run in experiment.runs.all()}
    finish_run(runs[0], 0.8, selection=0.0, training=10.0)
    set_execution(
        runs[1], status=RunStatus.FAILED, error="Traceback: boom", finished_at=timezone.now(), requeues=2, attempt=2
    )
    Attempt.objects.create(execution_id=runs[1].execution_id, number=2, outcome="failed", note="boom")
    set_execution(runs[2], status=RunStatus.RUNNING, attempt=1)
    set_execution(runs[3], status=RunStatus.CANCELED)
    return experiment


@pytest.fixture
def sent(monkeypatch):
    from workers.tasks import execute_run

    ids: list[int] = []
    monkeypatch.setattr(execute_run, "apply_async", lambda args, queue: ids.append(args[0]))
    return ids


def statuses(experiment) -> dict[int, str]:
    return {run.seed: run.status for run in experiment.runs.select_related("execution")}


def test_it_queues_only_the_failed_run_again(experiment, editor, sent, django_capture_on_commit_callbacks):
    failed = experiment.runs.get(seed=1)

    with django_capture_on_commit_callbacks(execute=True):
        retry = experiment_retry_failed(experiment=experiment, user=editor)

    assert (retry.cells, retry.executions) == (1, 1)
    assert statuses(experiment) == {
        0: RunStatus.SUCCEEDED,
        1: RunStatus.QUEUED,
        2: RunStatus.RUNNING,
        3: RunStatus.CANCELED,
    }
    assert sent == [failed.execution_id]
    execution = Execution.objects.get(pk=failed.execution_id)
    # A fresh attempt budget; the lease number goes on, and the failed attempt stays on record.
    assert (execution.error, execution.requeues, execution.finished_at, execution.attempt) == ("", 0, None, 2)
    assert execution.attempts.get(number=2).outcome == "failed"


def test_with_nothing_failed_it_retries_nothing(make_experiment, editor, sent, django_capture_on_commit_callbacks):
    experiment = make_experiment(seeds=[0])

    with django_capture_on_commit_callbacks(execute=True):
        retry = experiment_retry_failed(experiment=experiment, user=editor)

    assert (retry.cells, retry.executions) == (0, 0)
    assert sent == []


def test_a_retried_execution_is_queued_for_every_experiment_that_shares_it(make_experiment, editor):
    first = make_experiment("first", seeds=[0])
    second = make_experiment("second", seeds=[0])
    set_execution(first.runs.get(), status=RunStatus.FAILED, error="boom")

    retry = experiment_retry_failed(experiment=second, user=editor)

    assert retry.cells == 1
    assert second.runs.get().status == RunStatus.QUEUED
    assert first.runs.get().status == RunStatus.QUEUED


def test_a_withdrawn_cell_whose_shared_execution_failed_asks_for_it_again(make_experiment, editor):
    first = make_experiment("first", seeds=[0])
    # The second experiment still needs the execution, so it keeps running after the first withdraws, then fails.
    make_experiment("second", seeds=[0])
    run_cancel(run=first.runs.get(), user=editor)
    set_execution(first.runs.get(), status=RunStatus.FAILED, error="boom")

    experiment_retry_failed(experiment=first, user=editor)

    run = first.runs.select_related("execution").get()
    assert run.canceled_at is None and run.status == RunStatus.QUEUED


def test_one_run_is_retried_from_its_page(experiment, editor):
    run = run_retry(run=experiment.runs.get(seed=1), user=editor)

    assert run.status == RunStatus.QUEUED


@pytest.mark.parametrize("seed, status", [(0, "succeeded"), (2, "running"), (3, "canceled")])
def test_a_run_that_has_not_failed_cannot_be_retried(experiment, editor, seed, status):
    run = experiment.runs.get(seed=seed)

    with pytest.raises(ApplicationError) as raised:
        run_retry(run=run, user=editor)

    assert raised.value.status_code == 409 and raised.value.field == "status"
    assert status in raised.value.message
    assert statuses(experiment)[seed] == status


def test_a_viewer_cannot_retry(experiment, viewer):
    with pytest.raises(PermissionDenied):
        experiment_retry_failed(experiment=experiment, user=viewer)
    with pytest.raises(PermissionDenied):
        run_retry(run=experiment.runs.get(seed=1), user=viewer)
    assert statuses(experiment)[1] == RunStatus.FAILED

"""A worker killed mid-run loses nothing: the run is requeued, resumes from its checkpoint, and completes."""

from __future__ import annotations

import pytest
from django.db.models import Count

from backend.datasets.services import dataset_create_builtin
from backend.experiments.execution import runs_reap_stale
from backend.experiments.models import Run, RunMetric, RunStatus
from backend.experiments.services import experiment_create
from tests.workers.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROUNDS = 24


def test_a_killed_worker_run_resumes_from_its_checkpoint_with_one_metric_per_epoch(
    team, editor, owner, builtin_policies, start_worker
):
    first = start_worker()
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
    run = experiment.runs.get()
    wait_for(
        lambda: RunMetric.objects.filter(run=run).count() >= 5,
        timeout=120,
        message=f"progress before the kill; log:\n{first.log()}",
    )

    first.kill()
    epochs_before_kill = RunMetric.objects.filter(run=run).count()
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.attempt == 1

    second = start_worker()
    # The heartbeat stops with the worker; once it is stale the reaper requeues the run.
    report = wait_for(
        lambda: runs_reap_stale(timeout_seconds=3).requeued, timeout=30, message="the reaper to requeue the run"
    )
    assert report == [run.pk]
    wait_for(
        lambda: Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED,
        timeout=180,
        message=f"the run to finish on the second worker; log:\n{second.log()}",
    )

    run.refresh_from_db()
    assert run.attempt == 2
    # It resumed from a checkpoint no older than the last metric written before the kill,
    # so only the rounds after it were trained again, not all of them.
    assert run.resumed_from_round is not None and run.resumed_from_round >= epochs_before_kill - 1 >= 4
    epochs = RunMetric.objects.filter(run=run).values("epoch").annotate(rows=Count("id"))
    assert sorted(row["epoch"] for row in epochs) == list(range(1, ROUNDS + 1))
    assert {row["rows"] for row in epochs} == {1}

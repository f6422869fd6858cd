"""Deleting an experiment: its runs go, executions other experiments share stay with their results."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from backend.experiments.execution import (
    LeaseLost,
    WorkerIdentity,
    execution_checkpoint_dir,
    execution_claim,
    execution_heartbeat,
    execution_succeed,
)
from backend.experiments.models import Attempt, Execution, Experiment, Run, RunMetric, RunStatus, ShareLink
from backend.experiments.services import (
    experiment_create,
    experiment_delete,
    experiment_deletion,
    share_link_create,
)
from tests.conftest import finish_run
from workers.engine.version import ENGINE_VERSION


@pytest.fixture
def make_experiment(team, editor, dataset, builtin_policies):
    def make(name, seeds):
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
def doomed(make_experiment, owner):
    """Seeds 0-2, all succeeded, with a share link."""
    experiment = make_experiment("doomed", [0, 1, 2])
    for run in experiment.runs.all():
        finish_run(run, 0.8, selection=0.0, training=10.0)
    share_link_create(experiment=experiment, user=owner)
    return experiment


@pytest.fixture
def survivor(make_experiment, doomed):
    """Seeds 2 and 3: seed 2 shares the doomed experiment's execution."""
    return make_experiment("survivor", [2, 3])


def test_it_deletes_the_runs_and_keeps_executions_another_experiment_shares(doomed, survivor, editor, settings):
    shared = survivor.runs.get(seed=2).execution
    only_doomed = list(doomed.runs.exclude(seed=2).values_list("execution_id", flat=True))

    deletion = experiment_delete(experiment=doomed, user=editor)

    assert (deletion.runs, deletion.executions_deleted, deletion.executions_kept) == (3, 2, 1)
    assert not Experiment.objects.filter(pk=doomed.pk).exists()
    assert not Run.objects.filter(experiment_id=doomed.pk).exists()
    assert not ShareLink.objects.exists()
    assert not Execution.objects.filter(pk__in=only_doomed).exists()
    assert not RunMetric.objects.filter(execution_id__in=only_doomed).exists()
    kept = Execution.objects.get(pk=shared.pk)
    assert kept.status == RunStatus.SUCCEEDED and kept.final_accuracy == 0.8
    assert RunMetric.objects.filter(execution=kept).count() == 2
    assert survivor.runs.select_related("execution").get(seed=2).status == RunStatus.SUCCEEDED


def test_the_confirmation_says_what_goes_and_what_stays(doomed, survivor):
    deletion = experiment_deletion(doomed)

    assert (deletion.runs, deletion.executions_deleted, deletion.executions_kept) == (3, 2, 1)
    assert Run.objects.filter(experiment=doomed).count() == 3


def test_a_worker_training_a_deleted_execution_loses_its_lease_and_its_checkpoints_go(
    make_experiment, editor, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.SAMPLEWISE_DATA_DIR = tmp_path
    experiment = make_experiment("training", [0])
    execution = experiment.runs.get().execution
    worker = WorkerIdentity(name="cpu@a", device_kind="cpu", device_name="cpu", engine_version=ENGINE_VERSION)
    lease = execution_claim(execution_id=execution.pk, worker=worker).lease
    checkpoints = execution_checkpoint_dir(execution.pk)
    checkpoints.mkdir(parents=True)
    (checkpoints / "attempt-1.pt").write_bytes(b"state")

    with django_capture_on_commit_callbacks(execute=True):
        experiment_delete(experiment=experiment, user=editor)

    assert not Attempt.objects.filter(execution_id=execution.pk).exists()
    assert execution_heartbeat(lease=lease) == "lost"
    with pytest.raises(LeaseLost):
        execution_succeed(lease=lease, result={})
    assert not checkpoints.exists()


def test_viewers_cannot_delete_and_outsiders_are_told_nothing(doomed, viewer, outsider, other_team):
    with pytest.raises(PermissionDenied):
        experiment_delete(experiment=doomed, user=viewer)
    with pytest.raises(Http404):
        experiment_delete(experiment=doomed, user=outsider)
    assert Run.objects.filter(experiment=doomed).count() == 3

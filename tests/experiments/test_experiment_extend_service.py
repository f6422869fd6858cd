"""Extending an experiment with seeds, budgets or policies: only the new cells are created, and shared."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from backend.errors import ApplicationError
from backend.experiments.models import Execution, Experiment, Run, RunStatus
from backend.experiments.services import experiment_create, experiment_extend
from tests.conftest import finish_run, set_execution


@pytest.fixture
def rs2(builtin_policies):
    return builtin_policies["rs2_without_replacement"]


@pytest.fixture
def static(builtin_policies):
    return builtin_policies["random_static"]


@pytest.fixture
def experiment(team, editor, dataset, rs2, static):
    """Two policies × one budget × two seeds; one run succeeded, one failed."""
    experiment = experiment_create(
        team=team,
        user=editor,
        name="RS2 vs static",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 5},
        policies=[rs2, static],
        budgets=[0.1],
        seeds=[0, 1],
    )
    finish_run(experiment.runs.get(policy=rs2, seed=0), 0.8, selection=0.0, training=10.0)
    set_execution(experiment.runs.get(policy=static, seed=1), status=RunStatus.FAILED, error="boom")
    return experiment


def snapshot(experiment):
    """Every cell of the experiment with its execution and what that execution holds."""
    return {
        (run.policy_id, run.budget, run.seed): (
            run.pk,
            run.execution_id,
            run.execution.status,
            run.execution.final_accuracy,
            run.execution.error,
        )
        for run in experiment.runs.select_related("execution")
    }


def test_a_new_seed_adds_one_cell_per_policy_and_budget_and_leaves_the_others_alone(experiment, editor, rs2, static):
    before = snapshot(experiment)

    extension = experiment_extend(experiment=experiment, user=editor, seeds=[2])

    after = snapshot(experiment)
    assert (extension.created, extension.reused) == (2, 0)
    assert set(after) - set(before) == {(rs2.pk, 0.1, 2), (static.pk, 0.1, 2)}
    assert {key: after[key] for key in before} == before
    new = experiment.runs.filter(seed=2).select_related("execution")
    assert {run.status for run in new} == {RunStatus.QUEUED}
    experiment.refresh_from_db()
    assert experiment.seeds == [0, 1, 2]


def test_a_new_budget_and_policy_fill_the_whole_grid_they_open(experiment, editor, builtin_policies, rs2, static):
    extra = builtin_policies["rs2_with_replacement"]

    extension = experiment_extend(experiment=experiment, user=editor, policies=[extra], budgets=[0.3])

    # The new policy at both budgets and the old policies at the new budget, for both seeds.
    assert extension.created == 2 * 2 + 2 * 2
    assert experiment.runs.count() == 4 + 8
    assert set(experiment.runs.filter(policy=extra).values_list("budget", "seed")) == {
        (0.1, 0),
        (0.1, 1),
        (0.3, 0),
        (0.3, 1),
    }
    experiment.refresh_from_db()
    assert experiment.budgets == [0.1, 0.3]
    assert set(experiment.policies.all()) == {rs2, static, extra}


def test_a_new_cell_reuses_an_execution_another_experiment_already_trained(team, editor, dataset, experiment, rs2):
    other = experiment_create(
        team=team,
        user=editor,
        name="More seeds",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 5},
        policies=[rs2],
        budgets=[0.1],
        seeds=[2],
    )
    trained = other.runs.get()
    finish_run(trained, 0.83, selection=0.0, training=9.0)

    extension = experiment_extend(experiment=experiment, user=editor, seeds=[2])

    reused = experiment.runs.get(policy=rs2, seed=2)
    assert (extension.created, extension.reused) == (2, 1)
    assert reused.reused and reused.execution_id == trained.execution_id
    assert reused.execution.status == RunStatus.SUCCEEDED
    assert Execution.objects.filter(team=team).count() == 4 + 1 + 1


def test_the_failed_run_stays_failed_when_the_grid_grows(experiment, editor, static):
    experiment_extend(experiment=experiment, user=editor, seeds=[2])

    failed = experiment.runs.select_related("execution").get(policy=static, seed=1)
    assert failed.status == RunStatus.FAILED and failed.execution.error == "boom"


def test_a_budget_free_strategy_gets_no_cell_for_a_new_budget(team, editor, dataset, builtin_policies):
    experiment = experiment_create(
        team=team,
        user=editor,
        name="Full data",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 5},
        policies=[builtin_policies["full"], builtin_policies["random_static"]],
        budgets=[0.1],
        seeds=[0],
    )

    extension = experiment_extend(experiment=experiment, user=editor, budgets=[0.5])

    assert extension.created == 1
    assert experiment.runs.get(budget=0.5).policy == builtin_policies["random_static"]


@pytest.mark.parametrize(
    "additions, field",
    [
        ({}, "seeds"),
        ({"seeds": [1]}, "seeds"),
        ({"seeds": [-1]}, "seeds"),
        ({"budgets": [0.1]}, "budgets"),
        ({"budgets": [1.5]}, "budgets"),
        ({"seeds": [2, 2]}, "seeds"),
    ],
)
def test_bad_additions_name_the_field_and_change_nothing(experiment, editor, additions, field):
    before = snapshot(experiment)

    with pytest.raises(ApplicationError) as raised:
        experiment_extend(experiment=experiment, user=editor, **additions)

    assert raised.value.field == field
    assert snapshot(experiment) == before
    experiment.refresh_from_db()
    assert (experiment.budgets, experiment.seeds) == ([0.1], [0, 1])


def test_a_policy_already_in_the_experiment_is_refused(experiment, editor, rs2):
    with pytest.raises(ApplicationError) as raised:
        experiment_extend(experiment=experiment, user=editor, policies=[rs2])

    assert raised.value.field == "policies"
    assert Run.objects.count() == 4


def test_a_policy_that_repeats_one_of_the_experiment_is_refused(experiment, editor, team, rs2):
    from backend.policies.models import SamplingPolicy

    twin = SamplingPolicy.objects.create(team=team, name="RS2 again", strategy=rs2.strategy, params=rs2.params)

    with pytest.raises(ApplicationError) as raised:
        experiment_extend(experiment=experiment, user=editor, policies=[twin])

    assert raised.value.field == "policies" and "same strategy" in raised.value.message
    assert not experiment.policies.filter(pk=twin.pk).exists()


def test_viewers_and_outsiders_cannot_extend(experiment, viewer, outsider, other_team):
    with pytest.raises(PermissionDenied):
        experiment_extend(experiment=experiment, user=viewer, seeds=[2])
    with pytest.raises(Http404):
        experiment_extend(experiment=experiment, user=outsider, seeds=[2])
    assert Run.objects.count() == 4


def test_extending_a_deleted_experiment_is_404(experiment, editor):
    Experiment.objects.filter(pk=experiment.pk).delete()

    with pytest.raises(Http404):
        experiment_extend(experiment=experiment, user=editor, seeds=[2])


@pytest.fixture
def sent(monkeypatch):
    """The execution ids sent to the broker, in order."""
    from workers.tasks import execute_run

    ids: list[int] = []
    monkeypatch.setattr(execute_run, "apply_async", lambda args, queue: ids.append(args[0]))
    return ids


def test_only_the_new_cells_are_sent_to_the_workers(experiment, editor, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        experiment_extend(experiment=experiment, user=editor, seeds=[2])

    assert sorted(sent) == sorted(experiment.runs.filter(seed=2).values_list("execution_id", flat=True))

import pytest
from django.utils import timezone

from backend.datasets.models import Dataset
from backend.errors import ApplicationError
from backend.experiments.models import Execution, Queue, Run, RunStatus
from backend.experiments.services import experiment_create
from backend.policies.models import SamplingPolicy
from workers.engine.errors import ConfigError
from workers.engine.version import ENGINE_VERSION


def create(team, user, dataset, default_policies, **overrides):
    arguments = dict(
        policies=default_policies,
        team=team,
        user=user,
        name="RS2 vs static",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 20},
        budgets=[0.1, 0.3],
        seeds=[0, 1],
    )
    arguments.update(overrides)
    return experiment_create(**arguments)


@pytest.fixture
def three_budgeted(builtin_policies):
    return [
        builtin_policies["random_static"],
        builtin_policies["rs2_without_replacement"],
        builtin_policies["rs2_with_replacement"],
    ]


def test_it_expands_policies_budgets_and_seeds_into_cells_with_one_execution_each(
    team, editor, dataset, three_budgeted
):
    experiment = create(team, editor, dataset, three_budgeted)

    runs = experiment.runs.select_related("execution")
    assert runs.count() == 12
    assert {(run.policy.strategy, run.budget, run.seed) for run in runs} == {
        (policy.strategy, budget, seed) for policy in three_budgeted for budget in (0.1, 0.3) for seed in (0, 1)
    }
    assert all(run.status == RunStatus.QUEUED and not run.reused for run in runs)
    assert len({run.execution_id for run in runs}) == 12
    assert Execution.objects.filter(team=team).count() == 12


def test_the_execution_holds_the_training_configuration_and_its_provenance(team, editor, dataset, three_budgeted):
    experiment = create(team, editor, dataset, three_budgeted, recipe={"rounds": 20, "target_accuracy": 0.7})

    execution = experiment.runs.first().execution
    assert experiment.recipe["rounds"] == 20 and experiment.recipe["batch_size"] == 128
    assert experiment.recipe["target_accuracy"] == 0.7
    # The target reads the curve; it does not change how the run trains, so it is not part of the execution.
    assert execution.config["recipe"] == {k: v for k, v in experiment.recipe.items() if k != "target_accuracy"}
    assert execution.config["dataset_sha256"] == dataset.sha256
    assert (execution.device_kind, execution.engine_version) == ("cpu", ENGINE_VERSION)


def test_it_runs_a_budget_free_strategy_once_per_seed(team, editor, dataset, builtin_policies):
    experiment = create(team, editor, dataset, [builtin_policies["full"], builtin_policies["random_static"]])

    full_runs = experiment.runs.filter(policy=builtin_policies["full"])
    assert sorted((run.budget, run.seed) for run in full_runs) == [(1.0, 0), (1.0, 1)]
    assert experiment.runs.count() == 2 + 4


def test_reposting_the_same_experiment_points_at_the_same_executions(team, editor, dataset, three_budgeted):
    first = create(team, editor, dataset, three_budgeted)
    second = create(team, editor, dataset, three_budgeted, budgets=[0.1, 0.3, 0.5])

    originals = {(run.policy_id, run.budget, run.seed): run.execution_id for run in first.runs.all()}
    reused = second.runs.filter(reused=True)
    fresh = second.runs.filter(reused=False)
    assert reused.count() == 12
    assert all(originals[(run.policy_id, run.budget, run.seed)] == run.execution_id for run in reused)
    assert fresh.count() == 6 and {run.budget for run in fresh} == {0.5}
    assert Execution.objects.filter(team=team).count() == 18


def test_a_different_target_trains_nothing_again(team, editor, dataset, three_budgeted):
    first = create(team, editor, dataset, three_budgeted, recipe={"rounds": 20, "target_accuracy": 0.5})
    second = create(team, editor, dataset, three_budgeted, recipe={"rounds": 20, "target_accuracy": 0.9})

    assert set(second.runs.values_list("execution", flat=True)) == set(first.runs.values_list("execution", flat=True))
    assert first.recipe_hash == second.recipe_hash


def test_the_gpu_queue_never_shares_a_cpu_execution(team, editor, dataset, three_budgeted):
    cpu = create(team, editor, dataset, three_budgeted)
    gpu = create(team, editor, dataset, three_budgeted, queue=Queue.GPU)

    assert not set(gpu.runs.values_list("execution", flat=True)) & set(cpu.runs.values_list("execution", flat=True))
    assert set(Execution.objects.filter(cells__experiment=gpu).values_list("device_kind", flat=True)) == {"cuda"}


def test_another_engine_version_never_shares_an_execution(team, editor, dataset, three_budgeted, monkeypatch):
    old = create(team, editor, dataset, three_budgeted)
    monkeypatch.setattr("backend.experiments.services.ENGINE_VERSION", "99.0.0")

    new = create(team, editor, dataset, three_budgeted)

    assert not set(new.runs.values_list("execution", flat=True)) & set(old.runs.values_list("execution", flat=True))
    assert not new.runs.filter(reused=True).exists()


def test_identical_configurations_in_two_teams_get_two_executions(
    team, other_team, editor, outsider, dataset, three_budgeted
):
    from tests.conftest import ready_dataset

    theirs = ready_dataset(other_team, dataset.name, outsider)
    Dataset.objects.filter(pk=theirs.pk).update(sha256=dataset.sha256)
    theirs.refresh_from_db()
    mine = create(team, editor, dataset, three_budgeted)
    other = create(other_team, outsider, theirs, three_budgeted)

    assert not set(other.runs.values_list("execution", flat=True)) & set(mine.runs.values_list("execution", flat=True))
    assert not other.runs.filter(reused=True).exists()


@pytest.mark.parametrize("stopped", [RunStatus.CANCELED, RunStatus.FAILED])
def test_a_stopped_execution_is_queued_again_for_new_cells(
    team, editor, dataset, three_budgeted, stopped, django_capture_on_commit_callbacks
):
    first = create(team, editor, dataset, three_budgeted)
    Execution.objects.filter(cells__experiment=first).update(
        status=stopped, error="boom", final_accuracy=0.5, finished_at=timezone.now(), requeues=2
    )

    with django_capture_on_commit_callbacks() as callbacks:
        second = create(team, editor, dataset, three_budgeted)

    assert len(callbacks) == 1  # one send of the twelve requeued executions
    executions = Execution.objects.filter(cells__experiment=second)
    assert executions.count() == 12 and set(executions.values_list("status", flat=True)) == {RunStatus.QUEUED}
    assert set(executions.values_list("requeues", "error", "final_accuracy", "finished_at")) == {(0, "", None, None)}
    # The first experiment's cells show the same execution, live.
    assert {run.status for run in first.runs.select_related("execution")} == {RunStatus.QUEUED}


def test_two_policies_with_the_same_strategy_and_parameters_are_refused(team, editor, dataset, builtin_policies):
    twin = SamplingPolicy.objects.create(team=team, name="RS2 again", strategy="rs2_without_replacement", params={})

    with pytest.raises(ApplicationError) as raised:
        create(team, editor, dataset, [builtin_policies["rs2_without_replacement"], twin])

    assert raised.value.field == "policies"
    assert "RS2 again" in raised.value.message
    assert not Run.objects.exists() and not Execution.objects.exists()


def test_policies_that_differ_only_in_defaults_spelled_out_are_the_same(team, editor, dataset, builtin_policies):
    spelled = SamplingPolicy.objects.create(
        team=team, name="Static, unbalanced", strategy="random_static", params={"class_balanced": False}
    )

    with pytest.raises(ApplicationError) as raised:
        create(team, editor, dataset, [builtin_policies["random_static"], spelled])

    assert raised.value.field == "policies"


@pytest.mark.parametrize(("model", "kind"), [("cnn1d", "image"), ("resnet18", "features"), ("small_cnn", "sequence")])
def test_a_model_that_cannot_read_the_dataset_is_refused(team, editor, dataset, three_budgeted, model, kind):
    Dataset.objects.filter(pk=dataset.pk).update(input_kind=kind)
    dataset.refresh_from_db()

    with pytest.raises(ApplicationError) as raised:
        create(team, editor, dataset, three_budgeted, model=model)

    assert raised.value.field == "model"
    assert kind in raised.value.message
    assert not Run.objects.exists() and not Execution.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"budgets": [0]}, "budgets"),
        ({"budgets": [1.5]}, "budgets"),
        ({"budgets": []}, "budgets"),
        ({"budgets": ["0.1"]}, "budgets"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [1.5]}, "seeds"),
        ({"seeds": [3, 3]}, "seeds"),
        ({"policies": []}, "policies"),
        ({"name": "  "}, "name"),
        ({"queue": "tpu"}, "queue"),
    ],
)
def test_it_rejects_bad_grids_and_writes_nothing(team, editor, dataset, three_budgeted, overrides, field):
    with pytest.raises(ApplicationError) as raised:
        create(team, editor, dataset, three_budgeted, **overrides)

    assert raised.value.field == field
    assert not Run.objects.exists() and not Execution.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"model": "transformer-xl"}, "model"),
        ({"recipe": {"lr": -1}}, "recipe.lr"),
        ({"recipe": {"rounds": "many"}}, "recipe.rounds"),
        ({"recipe": {"learning_rate": 0.1}}, "recipe.learning_rate"),
    ],
)
def test_it_rejects_bad_models_and_recipes_naming_the_field(team, editor, dataset, three_budgeted, overrides, field):
    with pytest.raises(ConfigError) as raised:
        create(team, editor, dataset, three_budgeted, **overrides)

    assert raised.value.field == field
    assert not Run.objects.exists() and not Execution.objects.exists()

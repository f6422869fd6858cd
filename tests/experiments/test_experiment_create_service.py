import pytest

from backend.api_errors import ApplicationError
from backend.experiments.models import Run, RunStatus
from backend.experiments.services import experiment_create
from workers.engine.errors import ConfigError


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


def test_it_expands_policies_budgets_and_seeds_into_runs(team, editor, dataset, three_budgeted):
    experiment = create(team, editor, dataset, three_budgeted)

    runs = experiment.runs.all()
    assert runs.count() == 12
    assert {(run.policy.strategy, run.budget, run.seed) for run in runs} == {
        (policy.strategy, budget, seed) for policy in three_budgeted for budget in (0.1, 0.3) for seed in (0, 1)
    }
    assert all(run.status == RunStatus.QUEUED and run.reused_from is None for run in runs)
    assert len({run.config_hash for run in runs}) == 12


def test_it_resolves_the_recipe_and_records_it_in_each_run(team, editor, dataset, three_budgeted):
    experiment = create(team, editor, dataset, three_budgeted)

    run = experiment.runs.first()
    assert experiment.recipe["rounds"] == 20
    assert experiment.recipe["batch_size"] == 128
    assert run.config["recipe"] == experiment.recipe
    assert run.config["dataset_sha256"] == dataset.sha256


def test_it_runs_a_budget_free_strategy_once_per_seed(team, editor, dataset, builtin_policies):
    experiment = create(team, editor, dataset, [builtin_policies["full"], builtin_policies["random_static"]])

    full_runs = experiment.runs.filter(policy=builtin_policies["full"])
    assert sorted((run.budget, run.seed) for run in full_runs) == [(1.0, 0), (1.0, 1)]
    assert experiment.runs.count() == 2 + 4


def test_reposting_the_same_experiment_reuses_runs_with_the_same_config_hash(team, editor, dataset, three_budgeted):
    first = create(team, editor, dataset, three_budgeted)
    second = create(team, editor, dataset, three_budgeted, budgets=[0.1, 0.3, 0.5])

    originals = {run.config_hash: run for run in first.runs.all()}
    reused = second.runs.filter(reused_from__isnull=False)
    fresh = second.runs.filter(reused_from__isnull=True)
    assert reused.count() == 12
    assert all(originals[run.config_hash].pk == run.reused_from_id for run in reused)
    assert fresh.count() == 6 and {run.budget for run in fresh} == {0.5}


def test_canceled_runs_are_not_reused(team, editor, dataset, three_budgeted):
    first = create(team, editor, dataset, three_budgeted)
    first.runs.update(status=RunStatus.CANCELED)

    second = create(team, editor, dataset, three_budgeted)

    assert not second.runs.filter(reused_from__isnull=False).exists()


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
    assert not Run.objects.exists()


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
    assert not Run.objects.exists()

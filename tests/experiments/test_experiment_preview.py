"""The preview of a grid: how many runs, how many reuse an execution, and their estimated cost."""

import pytest

from backend.errors import ApplicationError
from backend.experiments.models import RunStatus
from backend.experiments.selectors import (
    CostSample,
    cell_cost_estimate,
    experiment_clone_preview,
    experiment_extend_preview,
    experiment_preview,
)
from backend.experiments.services import experiment_create
from tests.conftest import finish_run, set_execution


@pytest.fixture
def rs2(builtin_policies):
    return builtin_policies["rs2_without_replacement"]


@pytest.fixture
def static(builtin_policies):
    return builtin_policies["random_static"]


@pytest.fixture
def grid(team, dataset, rs2, static):
    def make(**changes):
        arguments = dict(
            team=team,
            dataset=dataset,
            model="mlp",
            recipe={"rounds": 5},
            policies=[rs2, static],
            budgets=[0.1],
            seeds=[0, 1],
        )
        arguments.update(changes)
        return arguments

    return make


@pytest.fixture
def earlier(team, editor, grid):
    """The same grid run before: rs2 seeds took 10 s and 14 s of selection + training, static 4 s + 20 s."""
    experiment = experiment_create(user=editor, name="earlier", **grid())
    for run in experiment.runs.select_related("policy"):
        if run.policy.strategy == "random_static":
            finish_run(run, 0.7, selection=4.0, training=20.0)
        else:
            finish_run(run, 0.8, selection=0.0, training=10.0 + 4.0 * run.seed)
    return experiment


def test_a_grid_nobody_ran_has_no_estimate_yet(grid):
    preview = experiment_preview(**grid())

    assert (preview.runs, preview.reused, preview.to_train) == (4, 0, 4)
    assert preview.estimated_seconds is None and preview.unestimated_runs == 4 and preview.basis == 0


def test_rerunning_a_finished_grid_reuses_every_run_and_costs_nothing(grid, earlier):
    preview = experiment_preview(**grid())

    assert (preview.runs, preview.reused, preview.finished, preview.to_train) == (4, 4, 4, 0)
    assert preview.estimated_seconds is None and preview.basis == 4


def test_new_seeds_are_estimated_from_the_mean_of_the_same_strategy_and_budget(grid, earlier):
    preview = experiment_preview(**grid(seeds=[2, 3]))

    assert (preview.runs, preview.reused, preview.to_train, preview.estimated_runs) == (4, 0, 4, 4)
    # Two rs2 runs at the mean 12 s and two static runs at 24 s.
    assert preview.estimated_seconds == pytest.approx(2 * 12.0 + 2 * 24.0)


def test_another_budget_scales_training_and_keeps_selection(grid, earlier, static):
    preview = experiment_preview(**grid(policies=[static], budgets=[0.3], seeds=[0]))

    # 4 s of selection, and 20 s of training at r = 0.1 becomes 60 s at r = 0.3.
    assert preview.estimated_seconds == pytest.approx(4.0 + 60.0)


def test_a_failed_execution_to_be_queued_again_counts_as_work(grid, earlier, rs2):
    set_execution(earlier.runs.get(policy=rs2, seed=0), status=RunStatus.FAILED)

    preview = experiment_preview(**grid(policies=[rs2]))

    assert (preview.runs, preview.reused, preview.finished, preview.to_train) == (2, 2, 1, 1)
    assert preview.estimated_seconds == pytest.approx(14.0)


def test_a_strategy_without_history_is_counted_apart(grid, earlier, builtin_policies):
    preview = experiment_preview(
        **grid(policies=[builtin_policies["rs2_with_replacement"], builtin_policies["random_static"]], seeds=[5])
    )

    assert (preview.to_train, preview.estimated_runs, preview.unestimated_runs) == (2, 1, 1)
    assert preview.estimated_seconds == pytest.approx(24.0)


def test_another_recipe_is_not_comparable(grid, earlier):
    preview = experiment_preview(**grid(recipe={"rounds": 50}))

    assert preview.estimated_seconds is None and preview.basis == 0


def test_the_extend_preview_counts_only_the_cells_it_adds(earlier, rs2):
    preview = experiment_extend_preview(experiment=earlier, seeds=[2])

    assert (preview.runs, preview.reused, preview.to_train) == (2, 0, 2)
    assert preview.estimated_seconds == pytest.approx(12.0 + 24.0)


def test_the_clone_preview_applies_the_changes(earlier):
    preview = experiment_clone_preview(experiment=earlier, seeds=[1, 2])

    assert (preview.runs, preview.reused, preview.to_train) == (4, 2, 2)


def test_a_bad_grid_names_the_field(grid):
    with pytest.raises(ApplicationError) as raised:
        experiment_preview(**grid(budgets=[0]))

    assert raised.value.field == "budgets"


def test_the_estimate_prefers_the_same_parameters():
    samples = [
        CostSample(params='{"a":1}', budget=0.1, selection_seconds=1.0, training_seconds=9.0),
        CostSample(params='{"a":2}', budget=0.1, selection_seconds=50.0, training_seconds=50.0),
    ]

    assert cell_cost_estimate(samples, params={"a": 1}, budget=0.1) == pytest.approx(10.0)
    assert cell_cost_estimate(samples, params={"a": 3}, budget=0.1) == pytest.approx(55.0)
    assert cell_cost_estimate([], params={"a": 1}, budget=0.1) is None

"""The comparison selectors on stored runs: leaderboards, the budget table, the plots' data, version stamps."""

from __future__ import annotations

import numpy as np
import pytest
from django.utils import timezone
from scipy import stats

from backend.datasets.models import Dataset
from backend.errors import ApplicationError
from backend.experiments.comparison import (
    experiment_budget_points,
    experiment_budget_table,
    experiment_cost_points,
    experiment_leaderboard,
    experiment_time_rows,
    experiment_version,
    run_curve_rows,
    team_comparison_sets,
    team_leaderboard,
)
from backend.experiments.models import Experiment, RunMetric, RunStatus
from backend.experiments.services import experiment_create
from tests.conftest import finish_run, set_execution

STRATEGIES = ("full", "random_static", "rs2_without_replacement")
# Final accuracy by (strategy, budget) for seeds 0, 1, 2; full data runs once, at r = 1.
FINALS = {
    ("rs2_without_replacement", 0.1): [0.80, 0.82, 0.81],
    ("random_static", 0.1): [0.70, 0.74, 0.69],
    ("rs2_without_replacement", 0.3): [0.86, 0.88, 0.87],
    ("random_static", 0.3): [0.85, 0.89, 0.86],
    ("full", 1.0): [0.90, 0.91, 0.92],
}
# Selection and training seconds by strategy and budget.
SELECTION = {"full": 0.0, "random_static": 2.0, "rs2_without_replacement": 0.0}
TRAINING = {0.1: 10.0, 0.3: 30.0, 1.0: 100.0}


def interval(values):
    values = np.asarray(values, dtype=float)
    return stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))


def plant(experiment: Experiment, finals=FINALS) -> None:
    for run in experiment.runs.select_related("policy"):
        values = finals.get((run.policy.strategy, run.budget))
        if values is not None and run.seed < len(values):
            finish_run(
                run,
                values[run.seed],
                selection=SELECTION[run.policy.strategy],
                training=TRAINING[run.budget],
            )


@pytest.fixture
def make_experiment(team, editor, dataset, builtin_policies):
    def make(*, strategies=STRATEGIES, seeds=(0, 1, 2), budgets=(0.1, 0.3), name="RS2 against the controls", rounds=2):
        return experiment_create(
            team=team,
            user=editor,
            name=name,
            dataset=dataset,
            model="mlp",
            recipe={"rounds": rounds, "target_accuracy": 0.7},
            policies=[builtin_policies[strategy] for strategy in strategies],
            budgets=list(budgets),
            seeds=list(seeds),
        )

    return make


@pytest.fixture
def experiment(make_experiment):
    experiment = make_experiment()
    plant(experiment)
    return experiment


def rows_by_strategy(leaderboard):
    return {row.policy.strategy: row for row in leaderboard.rows}


def test_the_leaderboard_ranks_policies_by_mean_final_accuracy_with_t_intervals(experiment):
    leaderboard = experiment_leaderboard(experiment, 0.1)

    assert [row.policy.strategy for row in leaderboard.rows] == ["rs2_without_replacement", "random_static", "full"]
    rs2, static, full = leaderboard.rows
    assert (rs2.rank, static.rank, full.rank) == (1, 2, None)
    assert full.reference and not rs2.reference
    low, high = interval(FINALS["random_static", 0.1])
    assert static.final_accuracy.mean == pytest.approx(np.mean(FINALS["random_static", 0.1]))
    assert (static.final_accuracy.low, static.final_accuracy.high) == (pytest.approx(low), pytest.approx(high))
    assert static.final_accuracy.half_width == pytest.approx((high - low) / 2)
    assert (static.seeds_finished, static.seeds_planned, static.partial) == (3, 3, False)
    assert static.best_accuracy_mean == pytest.approx(np.mean(FINALS["random_static", 0.1]))


def test_the_leaderboard_counts_selection_in_the_cost_and_the_speed_up_against_full_data(experiment):
    rows = rows_by_strategy(experiment_leaderboard(experiment, 0.1))

    static = rows["random_static"]
    assert (static.selection_seconds_mean, static.training_seconds_mean, static.total_seconds_mean) == (2.0, 10.0, 12.0)
    assert static.speedup_vs_full == pytest.approx(100.0 / 12.0)
    assert rows["rs2_without_replacement"].speedup_vs_full == pytest.approx(10.0)
    assert rows["full"].speedup_vs_full == pytest.approx(1.0)


def test_without_a_full_data_policy_there_is_no_speed_up(make_experiment):
    experiment = make_experiment(strategies=("random_static", "rs2_without_replacement"))
    plant(experiment)

    leaderboard = experiment_leaderboard(experiment, 0.1)

    assert not leaderboard.has_full_data
    assert all(row.speedup_vs_full is None for row in leaderboard.rows)


def test_each_policy_is_paired_with_rs2_without_replacement_by_default(experiment):
    leaderboard = experiment_leaderboard(experiment, 0.1)

    rows = rows_by_strategy(leaderboard)
    assert leaderboard.baseline.strategy == "rs2_without_replacement"
    assert rows["rs2_without_replacement"].verdict == "baseline"
    differences = np.subtract(FINALS["random_static", 0.1], FINALS["rs2_without_replacement", 0.1])
    low, high = interval(differences)
    paired = rows["random_static"].paired
    assert paired.shared_seeds == 3
    assert paired.difference.mean == pytest.approx(differences.mean())
    assert (paired.difference.low, paired.difference.high) == (pytest.approx(low), pytest.approx(high))
    assert high < 0 and rows["random_static"].verdict == "worse"
    # Full data's seeds are the same seeds, trained at r = 1.
    assert rows["full"].verdict == "better"


def test_another_baseline_can_be_chosen(experiment, builtin_policies):
    leaderboard = experiment_leaderboard(experiment, 0.1, baseline_policy=builtin_policies["random_static"].pk)

    rows = rows_by_strategy(leaderboard)
    assert rows["random_static"].verdict == "baseline"
    assert rows["rs2_without_replacement"].verdict == "better"


def test_without_rs2_there_is_no_default_baseline(make_experiment):
    experiment = make_experiment(strategies=("full", "random_static"))
    plant(experiment)

    leaderboard = experiment_leaderboard(experiment, 0.1)

    assert leaderboard.baseline is None
    assert all(row.verdict is None for row in leaderboard.rows)


def test_rows_within_noise_of_the_leader_are_tied_for_first(experiment):
    rows = rows_by_strategy(experiment_leaderboard(experiment, 0.3))

    assert rows["rs2_without_replacement"].rank == 1 and rows["rs2_without_replacement"].tied_for_first
    assert rows["random_static"].verdict == "within noise" and rows["random_static"].tied_for_first
    assert not rows["full"].tied_for_first
    at_low_budget = rows_by_strategy(experiment_leaderboard(experiment, 0.1))
    assert not at_low_budget["random_static"].tied_for_first


def test_time_to_target_is_read_from_the_curves_for_the_experiments_target(experiment):
    rows = rows_by_strategy(experiment_leaderboard(experiment, 0.1))

    # Curves are [0.6, final] at selection + 5 s and selection + 10 s; the target is 0.7.
    static = rows["random_static"]
    assert static.target_reached == 2  # seed 2 ends at 0.69
    assert static.time_to_target_mean == pytest.approx(12.0)
    assert rows["rs2_without_replacement"].time_to_target_mean == pytest.approx(10.0)


def test_a_chosen_target_replaces_the_experiments(experiment):
    rows = rows_by_strategy(experiment_leaderboard(experiment, 0.1, target=0.55))

    assert rows["random_static"].target_reached == 3
    assert rows["random_static"].time_to_target_mean == pytest.approx(7.0)  # 2 s of selection + 5 s
    assert rows["rs2_without_replacement"].time_to_target_mean == pytest.approx(5.0)
    assert experiment_leaderboard(experiment, 0.1, target=0.99).rows[0].target_reached == 0


def test_partial_results_are_marked_and_counted(make_experiment):
    experiment = make_experiment()
    plant(experiment)
    running = experiment.runs.get(policy__strategy="rs2_without_replacement", budget=0.1, seed=2)
    set_execution(running, status=RunStatus.RUNNING, final_accuracy=None)

    rs2 = rows_by_strategy(experiment_leaderboard(experiment, 0.1))["rs2_without_replacement"]

    assert (rs2.seeds_finished, rs2.seeds_planned, rs2.partial) == (2, 3, True)
    assert rs2.final_accuracy.mean == pytest.approx(0.81)


def test_a_policy_without_finished_runs_is_listed_unranked(make_experiment):
    experiment = make_experiment()
    plant(experiment, {key: value for key, value in FINALS.items() if key[0] != "random_static"})

    static = rows_by_strategy(experiment_leaderboard(experiment, 0.1))["random_static"]

    assert (static.rank, static.seeds_finished, static.final_accuracy.mean, static.verdict) == (None, 0, None, "n/a")


@pytest.mark.parametrize(
    ("arguments", "field"),
    [({"budget": 0.2}, "budget"), ({"baseline_policy": 999999}, "baseline"), ({"target": 1.5}, "target")],
)
def test_bad_choices_name_their_field(experiment, arguments, field):
    with pytest.raises(ApplicationError) as raised:
        experiment_leaderboard(experiment, **arguments)

    assert raised.value.field == field


def test_the_leaderboard_takes_two_queries_however_many_runs(make_experiment, django_assert_num_queries):
    small = make_experiment(seeds=(0, 1))
    large = make_experiment(seeds=tuple(range(8)), budgets=(0.1, 0.3, 0.5), name="larger", rounds=3)
    for experiment in (small, large):
        plant(experiment, {key: [0.7 + 0.01 * seed for seed in range(8)] for key in FINALS})

    for experiment in (small, large):
        with django_assert_num_queries(2):
            leaderboard = experiment_leaderboard(experiment, 0.1)
        assert len(leaderboard.rows) == 3


def test_the_budget_table_marks_each_columns_best_and_those_within_noise(experiment, django_assert_num_queries):
    with django_assert_num_queries(1):
        table = experiment_budget_table(experiment)

    assert table.budgets == [0.1, 0.3]
    rows = {row.policy.strategy: row for row in table.rows}
    assert [row.policy.strategy for row in table.rows][-1] == "full"
    low, high = interval(FINALS["random_static", 0.3])
    static_at_30 = rows["random_static"].cells[1]
    assert static_at_30.estimate.mean == pytest.approx(np.mean(FINALS["random_static", 0.3]))
    assert static_at_30.estimate.half_width == pytest.approx((high - low) / 2)
    assert [(cell.best, cell.within_noise_of_best) for cell in rows["rs2_without_replacement"].cells] == [
        (True, True),
        (True, True),
    ]
    assert [(cell.best, cell.within_noise_of_best) for cell in rows["random_static"].cells] == [
        (False, False),
        (False, True),
    ]
    full = rows["full"]
    assert full.reference and [cell.estimate.mean for cell in full.cells] == [pytest.approx(0.91)] * 2
    assert not any(cell.best or cell.within_noise_of_best for cell in full.cells)


def test_budget_points_give_a_point_per_policy_and_budget_and_full_data_apart(experiment):
    points, full = experiment_budget_points(experiment)

    assert {(point["policy"], point["budget"]) for point in points} == {
        (policy, budget) for policy in ("Random static subset", "RS2 without replacement") for budget in (0.1, 0.3)
    }
    rs2 = next(point for point in points if point["policy"] == "RS2 without replacement" and point["budget"] == 0.1)
    low, high = interval(FINALS["rs2_without_replacement", 0.1])
    assert rs2 == {
        "policy": "RS2 without replacement",
        "budget": 0.1,
        "mean": pytest.approx(0.81),
        "low": pytest.approx(low),
        "high": pytest.approx(high),
        "n": 3,
    }
    full_low, full_high = interval(FINALS["full", 1.0])
    assert full == {"mean": pytest.approx(0.91), "low": pytest.approx(full_low), "high": pytest.approx(full_high)}


def test_time_rows_start_late_by_the_selection_seconds(experiment, django_assert_num_queries):
    with django_assert_num_queries(2):
        rows = experiment_time_rows(experiment, 0.1)

    static = [row for row in rows if row["policy"] == "Random static subset"]
    assert [(row["round"], row["seconds"]) for row in static] == [(1, 7.0), (2, 12.0)]
    assert static[0]["seconds"] >= 2.0
    low, high = interval(FINALS["random_static", 0.1])
    assert static[1] == {
        "policy": "Random static subset",
        "round": 2,
        "seconds": 12.0,
        "mean": pytest.approx(np.mean(FINALS["random_static", 0.1])),
        "low": pytest.approx(low),
        "high": pytest.approx(high),
        "n": 3,
    }
    assert {row["policy"] for row in rows} == {"Random static subset", "RS2 without replacement", "Full data"}


def test_time_rows_include_running_executions_as_their_curves_arrive(make_experiment):
    experiment = make_experiment(strategies=("rs2_without_replacement",), seeds=(0,))
    run = experiment.runs.get(budget=0.1)
    finish_run(run, 0.8, selection=0.0, training=10.0)
    set_execution(run, status=RunStatus.RUNNING, final_accuracy=None)

    rows = experiment_time_rows(experiment, 0.1)

    assert [(row["round"], row["mean"], row["low"], row["n"]) for row in rows] == [(1, 0.6, None, 1), (2, 0.8, None, 1)]


def test_cost_points_mark_the_pareto_front(experiment):
    points = experiment_cost_points(experiment)

    by_key = {(point["policy"], point["budget"]): point for point in points}
    assert set(by_key) == {
        ("Full data", 1.0),
        ("Random static subset", 0.1),
        ("Random static subset", 0.3),
        ("RS2 without replacement", 0.1),
        ("RS2 without replacement", 0.3),
    }
    assert by_key["Random static subset", 0.1]["cost_seconds"] == 12.0
    # RS2 is cheaper and more accurate than the static subset at each budget; full data is the most accurate.
    assert {key for key, point in by_key.items() if point["pareto"]} == {
        ("RS2 without replacement", 0.1),
        ("RS2 without replacement", 0.3),
        ("Full data", 1.0),
    }


def test_a_runs_curve_rows_hold_every_recorded_metric_by_round_and_time(experiment, django_assert_num_queries):
    run = experiment.runs.select_related("execution").get(policy__strategy="random_static", budget=0.1, seed=0)

    with django_assert_num_queries(1):
        rows = run_curve_rows(run.execution)

    assert {row["metric"] for row in rows} == {"test_accuracy", "test_loss", "lr"}  # no train loss was recorded
    accuracy = [row for row in rows if row["metric"] == "test_accuracy"]
    assert accuracy == [
        {"round": 1, "seconds": 7.0, "metric": "test_accuracy", "value": 0.6},
        {"round": 2, "seconds": 12.0, "metric": "test_accuracy", "value": 0.7},
    ]


def test_the_team_leaderboard_pools_experiments_and_counts_a_reused_execution_once(
    make_experiment, builtin_policies, team, django_assert_num_queries
):
    first = make_experiment(seeds=(0, 1, 2))
    plant(first)
    # Seeds 0-2 reuse the first experiment's executions; seeds 3 and 4 are new.
    second = make_experiment(seeds=(0, 1, 2, 3, 4), name="more seeds")
    assert second.runs.filter(reused=True).count() == 15
    finals = {key: [*values, values[0] - 0.01, values[1] + 0.01] for key, values in FINALS.items()}
    for run in second.runs.filter(seed__gte=3).select_related("policy"):
        finish_run(
            run,
            finals[run.policy.strategy, run.budget][run.seed],
            selection=SELECTION[run.policy.strategy],
            training=TRAINING[run.budget],
        )

    with django_assert_num_queries(2):
        leaderboard = team_leaderboard(
            team, dataset_id=first.dataset_id, model="mlp", recipe_hash=first.recipe_hash, budget=0.1
        )

    rows = rows_by_strategy(leaderboard)
    static = rows["random_static"]
    assert (static.seeds_finished, static.seeds_planned) == (5, 5)
    pooled = finals["random_static", 0.1]
    low, high = interval(pooled)
    assert static.final_accuracy.mean == pytest.approx(np.mean(pooled))
    assert (static.final_accuracy.low, static.final_accuracy.high) == (pytest.approx(low), pytest.approx(high))
    assert static.paired.shared_seeds == 5 and static.verdict == "worse"
    assert rows["full"].seeds_finished == 5 and rows["full"].reference
    assert leaderboard.target == 0.7


def test_the_team_lists_what_it_can_compare(experiment, make_experiment, team, dataset):
    make_experiment(seeds=(5,), budgets=(0.5,), name="another budget")

    sets = team_comparison_sets(team)

    assert [(item.dataset_name, item.model, item.budget, item.experiments, item.executions) for item in sets] == [
        ("tiny-digits", "mlp", 0.1, 1, 6),
        ("tiny-digits", "mlp", 0.3, 1, 6),
        ("tiny-digits", "mlp", 0.5, 1, 2),
    ]
    assert {item.recipe_hash for item in sets} == {experiment.recipe_hash}


def test_a_team_leaderboard_of_nothing_run_is_a_bad_budget(experiment, team):
    with pytest.raises(ApplicationError) as raised:
        team_leaderboard(
            team, dataset_id=experiment.dataset_id, model="mlp", recipe_hash=experiment.recipe_hash, budget=0.7
        )

    assert raised.value.field == "budget"


def test_the_version_stamp_changes_with_results_but_not_with_heartbeats(make_experiment, django_assert_num_queries):
    experiment = make_experiment()
    with django_assert_num_queries(1):
        initial = experiment_version(experiment)
    run = experiment.runs.get(policy__strategy="random_static", budget=0.1, seed=0)

    set_execution(run, status=RunStatus.RUNNING, started_at=timezone.now(), attempt=1)
    running = experiment_version(experiment)
    set_execution(run, heartbeat_at=timezone.now())
    after_heartbeat = experiment_version(experiment)
    finish_run(run, 0.7, selection=1.0, training=10.0)
    finished = experiment_version(experiment)

    assert len({initial, running, finished}) == 3
    assert after_heartbeat == running
    assert experiment_version(experiment) == finished


def finish_trained(run, final: float, *, samples_trained: int, rounds: int) -> None:
    """A succeeded execution that trained on ``samples_trained`` examples over ``rounds`` rounds."""
    finish_run(run, final, selection=0.0, training=10.0)
    set_execution(run, samples_trained=samples_trained, rounds_completed=rounds, rounds_planned=rounds)


def test_the_leaderboard_reports_the_data_each_policy_really_used(make_experiment, django_assert_num_queries):
    experiment = make_experiment(strategies=("rs2_without_replacement", "random_static"), seeds=(0, 1), budgets=(0.1,))
    runs = {(run.policy.strategy, run.seed): run for run in experiment.runs.select_related("policy")}
    # 100 training examples × 2 rounds: RS2 trains on 10 a round; the static run on 46 and 48 a round.
    finish_trained(runs["rs2_without_replacement", 0], 0.80, samples_trained=20, rounds=2)
    finish_trained(runs["rs2_without_replacement", 1], 0.82, samples_trained=20, rounds=2)
    finish_trained(runs["random_static", 0], 0.70, samples_trained=92, rounds=2)
    finish_trained(runs["random_static", 1], 0.72, samples_trained=96, rounds=2)

    with django_assert_num_queries(2):
        rows = rows_by_strategy(experiment_leaderboard(experiment, 0.1))

    assert rows["rs2_without_replacement"].data_fraction_mean == pytest.approx(0.1)
    assert rows["random_static"].data_fraction_mean == pytest.approx(0.47)
    assert rows["random_static"].budget == 0.1


def test_the_data_used_counts_finished_seeds_only(make_experiment):
    experiment = make_experiment(strategies=("random_static",), seeds=(0, 1), budgets=(0.1,))
    finished, running = experiment.runs.order_by("seed")
    finish_trained(finished, 0.70, samples_trained=94, rounds=2)
    finish_trained(running, 0.72, samples_trained=20, rounds=2)
    set_execution(running, status=RunStatus.RUNNING, final_accuracy=None)

    row = experiment_leaderboard(experiment, 0.1).rows[0]

    assert (row.seeds_finished, row.data_fraction_mean) == (1, pytest.approx(0.47))


def test_without_a_recorded_training_set_size_the_data_used_is_read_from_the_last_evaluation(make_experiment, dataset):
    experiment = make_experiment(strategies=("random_static",), seeds=(0,), budgets=(0.1,))
    run = experiment.runs.get()
    finish_run(run, 0.7, selection=0.0, training=10.0)
    # The engine's running mean per round at the last of the 2 rounds, and a total that no longer applies.
    RunMetric.objects.filter(execution_id=run.execution_id, epoch=2).update(data_fraction=0.47)
    set_execution(run, samples_trained=20)
    Dataset.objects.filter(pk=dataset.pk).update(train_size=0)

    row = experiment_leaderboard(experiment, 0.1).rows[0]

    assert row.data_fraction_mean == pytest.approx(0.47)


def test_full_data_for_fewer_rounds_uses_its_budget_of_the_recipes_rounds(make_experiment):
    experiment = make_experiment(strategies=("full_short", "full"), seeds=(0,), budgets=(0.1,), rounds=10)
    runs = {run.policy.strategy: run for run in experiment.runs.select_related("policy")}
    # All 100 examples for 0.1 × 10 = 1 round; full data trains on all 100 for all 10 rounds.
    finish_trained(runs["full_short"], 0.6, samples_trained=100, rounds=1)
    finish_trained(runs["full"], 0.9, samples_trained=1000, rounds=10)

    rows = rows_by_strategy(experiment_leaderboard(experiment, 0.1))

    assert rows["full_short"].data_fraction_mean == pytest.approx(0.1)
    assert (rows["full"].data_fraction_mean, rows["full"].budget) == (pytest.approx(1.0), 1.0)


def test_the_team_leaderboard_reports_the_data_used_over_pooled_executions(make_experiment, team):
    first = make_experiment(strategies=("random_static",), seeds=(0,), budgets=(0.1,))
    second = make_experiment(strategies=("random_static",), seeds=(0, 1), budgets=(0.1,), name="another seed")
    finish_trained(first.runs.get(), 0.70, samples_trained=92, rounds=2)
    finish_trained(second.runs.get(seed=1), 0.72, samples_trained=96, rounds=2)

    leaderboard = team_leaderboard(
        team, dataset_id=first.dataset_id, model="mlp", recipe_hash=first.recipe_hash, budget=0.1
    )

    row = leaderboard.rows[0]
    assert (row.seeds_finished, row.data_fraction_mean) == (2, pytest.approx(0.47))


def test_each_budget_table_cell_reports_the_data_its_seeds_used(make_experiment, django_assert_num_queries):
    experiment = make_experiment(strategies=("random_static", "full"), seeds=(0,))
    runs = {(run.policy.strategy, run.budget): run for run in experiment.runs.select_related("policy")}
    finish_trained(runs["random_static", 0.1], 0.70, samples_trained=94, rounds=2)
    finish_trained(runs["random_static", 0.3], 0.80, samples_trained=60, rounds=2)
    finish_trained(runs["full", 1.0], 0.90, samples_trained=200, rounds=2)

    with django_assert_num_queries(1):
        table = experiment_budget_table(experiment)

    rows = {row.policy.strategy: row for row in table.rows}
    assert [cell.data_fraction_mean for cell in rows["random_static"].cells] == [
        pytest.approx(0.47),
        pytest.approx(0.3),
    ]
    assert [cell.data_fraction_mean for cell in rows["full"].cells] == [pytest.approx(1.0)] * 2

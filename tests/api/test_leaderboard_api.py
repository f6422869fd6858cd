"""The comparison endpoints: leaderboards, the budget table, curves, team leaderboards and CSV/JSON exports."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from django.urls import reverse
from scipy import stats

from backend.experiments.models import RunStatus
from backend.experiments.services import experiment_create
from tests.conftest import FINALS, finish_run, set_execution


@pytest.fixture
def experiment(team, editor, dataset, builtin_policies):
    experiment = experiment_create(
        team=team,
        user=editor,
        name="RS2 against the controls",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 2, "target_accuracy": 0.7},
        policies=[builtin_policies[key] for key in ("full", "random_static", "rs2_without_replacement")],
        budgets=[0.1, 0.3],
        seeds=[0, 1, 2],
    )
    for run in experiment.runs.select_related("policy"):
        selection = 2.0 if run.policy.strategy == "random_static" else 0.0
        finish_run(run, FINALS[run.policy.strategy, run.budget][run.seed], selection=selection, training=10.0)
    return experiment


def url(name, experiment, **query):
    path = reverse(name, args=[experiment.pk])
    return path + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def leaderboard_url(experiment, **query):
    return url("api-experiment-leaderboard", experiment, **query)


def by_strategy(body):
    return {row["policy"]["strategy"]: row for row in body["rows"]}


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_members_read_the_leaderboard(as_role, role, experiment):
    response = as_role(role).get(leaderboard_url(experiment))

    assert response.status_code == 200
    body = response.json()
    assert body["budget"] == 0.1 and body["target"] == 0.7
    assert body["baseline"]["strategy"] == "rs2_without_replacement"
    assert [row["policy"]["strategy"] for row in body["rows"]] == ["rs2_without_replacement", "random_static", "full"]


def test_the_leaderboard_reports_intervals_verdicts_and_costs(as_role, experiment):
    body = as_role("viewer").get(leaderboard_url(experiment, budget=0.1)).json()

    static = by_strategy(body)["random_static"]
    values = np.array(FINALS["random_static", 0.1])
    low, high = stats.t.interval(0.95, 2, loc=values.mean(), scale=stats.sem(values))
    assert static["final_accuracy"]["mean"] == pytest.approx(values.mean())
    assert (static["final_accuracy"]["low"], static["final_accuracy"]["high"]) == (
        pytest.approx(low),
        pytest.approx(high),
    )
    assert static["final_accuracy"]["n"] == 3 and static["seeds_finished"] == static["seeds_planned"] == 3
    assert static["verdict"] == "worse" and static["paired"]["shared_seeds"] == 3
    assert static["total_seconds_mean"] == 12.0 and static["speedup_vs_full"] == pytest.approx(10 / 12)
    assert static["target_reached"] == 2 and static["time_to_target_seconds_mean"] == pytest.approx(12.0)
    rs2 = by_strategy(body)["rs2_without_replacement"]
    assert (rs2["rank"], rs2["verdict"], rs2["tied_for_first"]) == (1, "baseline", True)
    assert by_strategy(body)["full"]["reference"] and by_strategy(body)["full"]["rank"] is None


def test_the_baseline_and_target_can_be_chosen(as_role, experiment, builtin_policies):
    static_id = builtin_policies["random_static"].pk

    body = as_role("viewer").get(leaderboard_url(experiment, budget=0.3, baseline=static_id, target=0.55)).json()

    rows = by_strategy(body)
    assert body["baseline"]["id"] == static_id and body["target"] == 0.55
    assert rows["random_static"]["verdict"] == "baseline"
    assert rows["rs2_without_replacement"]["verdict"] == "within noise"
    assert rows["random_static"]["tied_for_first"]
    assert rows["rs2_without_replacement"]["time_to_target_seconds_mean"] == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"budget": 0.2}, "budget"),
        ({"budget": "ten"}, "budget"),
        ({"baseline": 999999}, "baseline"),
        ({"baseline": "rs2"}, "baseline"),
        ({"target": 1.5}, "target"),
        ({"target": 0}, "target"),
        ({"target": "high"}, "target"),
    ],
)
def test_bad_query_values_are_400_naming_the_field(as_role, experiment, query, field):
    response = as_role("viewer").get(leaderboard_url(experiment, **query))

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_a_foreign_policy_is_no_baseline(as_role, experiment, foreign_policy):
    response = as_role("viewer").get(leaderboard_url(experiment, baseline=foreign_policy.pk))

    assert response.status_code == 400 and "baseline" in response.json()


@pytest.mark.parametrize(
    "name",
    [
        "api-experiment-leaderboard",
        "api-experiment-leaderboard-csv",
        "api-experiment-budget-table",
        "api-experiment-curves",
        "api-experiment-runs-json",
        "api-experiment-runs-csv",
    ],
)
def test_outsiders_get_404_everywhere(as_role, experiment, name):
    assert as_role("outsider").get(url(name, experiment)).status_code == 404


def test_anonymous_requests_are_refused(client_for, experiment):
    assert client_for(None).get(leaderboard_url(experiment)).status_code in (401, 403)


def test_an_unchanged_leaderboard_is_304_until_a_result_arrives(as_role, experiment, django_assert_max_num_queries):
    client = as_role("viewer")
    first = client.get(leaderboard_url(experiment))
    etag = first["ETag"]

    with django_assert_max_num_queries(4):
        again = client.get(leaderboard_url(experiment), HTTP_IF_NONE_MATCH=etag)
    other_budget = client.get(leaderboard_url(experiment, budget=0.3), HTTP_IF_NONE_MATCH=etag)
    run = experiment.runs.get(policy__strategy="random_static", budget=0.1, seed=0)
    set_execution(run, status=RunStatus.FAILED, final_accuracy=None)
    changed = client.get(leaderboard_url(experiment), HTTP_IF_NONE_MATCH=etag)

    assert etag and first["Cache-Control"] == "private, no-cache"
    assert again.status_code == 304 and again["ETag"] == etag and not again.content
    assert other_budget.status_code == 200
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert by_strategy(changed.json())["random_static"]["partial"]


def test_the_budget_table_marks_best_and_within_noise(as_role, experiment):
    response = as_role("viewer").get(url("api-experiment-budget-table", experiment))

    body = response.json()
    assert body["budgets"] == [0.1, 0.3]
    rows = {row["policy"]["strategy"]: row for row in body["rows"]}
    static = {cell["budget"]: cell for cell in rows["random_static"]["cells"]}
    assert (static[0.1]["best"], static[0.1]["within_noise_of_best"]) == (False, False)
    assert (static[0.3]["best"], static[0.3]["within_noise_of_best"]) == (False, True)
    assert rows["full"]["reference"]
    assert response["ETag"]
    assert (
        as_role("viewer")
        .get(url("api-experiment-budget-table", experiment), HTTP_IF_NONE_MATCH=response["ETag"])
        .status_code
        == 304
    )


def test_curves_give_the_time_rows_of_a_budget(as_role, experiment):
    body = as_role("viewer").get(url("api-experiment-curves", experiment, budget=0.1)).json()

    static = [row for row in body["rows"] if row["policy"] == "Random static subset"]
    assert body["budget"] == 0.1 and body["target"] == 0.7
    assert [(row["round"], row["seconds"], row["n"]) for row in static] == [(1, 7.0, 3), (2, 12.0, 3)]


def test_curves_reject_a_budget_the_experiment_lacks(as_role, experiment):
    response = as_role("viewer").get(url("api-experiment-curves", experiment, budget=0.5))

    assert response.status_code == 400 and list(response.json()) == ["budget"]


def test_the_leaderboard_csv_parses_with_one_row_per_policy(as_role, experiment):
    response = as_role("viewer").get(url("api-experiment-leaderboard-csv", experiment, budget=0.1))

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["strategy"] for row in rows] == ["rs2_without_replacement", "random_static", "full"]
    static = rows[1]
    assert float(static["final_accuracy_mean"]) == pytest.approx(np.mean(FINALS["random_static", 0.1]))
    assert static["verdict"] == "worse" and static["rank"] == "2" and rows[2]["rank"] == ""


def test_the_runs_csv_holds_every_evaluation_of_every_run(as_role, experiment):
    response = as_role("viewer").get(url("api-experiment-runs-csv", experiment))

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 15 * 2
    first = next(row for row in rows if row["strategy"] == "random_static" and row["seed"] == "0")
    assert first["budget"] == "0.1" and first["epoch"] == "1" and float(first["wall_clock_seconds"]) == 7.0
    assert float(first["final_accuracy"]) == 0.70


def test_the_runs_json_holds_each_run_with_its_curve(as_role, experiment):
    response = as_role("viewer").get(url("api-experiment-runs-json", experiment))

    runs = response.json()
    assert len(runs) == 15
    run = next(run for run in runs if run["strategy"] == "full" and run["seed"] == 1)
    assert run["budget"] == 1.0 and run["final_accuracy"] == 0.91 and run["status"] == "succeeded"
    assert [point["test_accuracy"] for point in run["curve"]] == [0.6, 0.91]


def trained_off_budget(experiment):
    """The static subset at 10 % trains on 47 of the 100 examples a round over its 2 rounds, for every seed."""
    for run in experiment.runs.filter(policy__strategy="random_static", budget=0.1):
        set_execution(run, samples_trained=94, rounds_completed=2, rounds_planned=2)


def test_the_leaderboard_reports_the_data_each_policy_used(as_role, experiment, django_assert_num_queries):
    trained_off_budget(experiment)
    client = as_role("viewer")

    # Experiment, membership, version stamp, cells (the data used among them) and the curves at the target.
    with django_assert_num_queries(5):
        body = client.get(leaderboard_url(experiment, budget=0.1)).json()
    rows = list(csv.DictReader(io.StringIO(client.get(url("api-experiment-leaderboard-csv", experiment)).text)))

    fractions = {strategy: row["data_fraction"] for strategy, row in by_strategy(body).items()}
    assert fractions == {
        "rs2_without_replacement": pytest.approx(0.1),
        "random_static": pytest.approx(0.47),
        "full": pytest.approx(1.0),
    }
    assert [(row["strategy"], float(row["data_fraction"])) for row in rows] == [
        ("rs2_without_replacement", pytest.approx(0.1)),
        ("random_static", pytest.approx(0.47)),
        ("full", pytest.approx(1.0)),
    ]


def test_the_budget_table_reports_the_data_each_cell_used(as_role, experiment):
    trained_off_budget(experiment)

    body = as_role("viewer").get(url("api-experiment-budget-table", experiment)).json()

    rows = {row["policy"]["strategy"]: row for row in body["rows"]}
    assert [(cell["budget"], cell["data_fraction"]) for cell in rows["random_static"]["cells"]] == [
        (0.1, pytest.approx(0.47)),
        (0.3, pytest.approx(0.3)),
    ]


def test_the_run_exports_give_each_run_the_data_it_used(as_role, experiment):
    trained_off_budget(experiment)
    running = experiment.runs.get(policy__strategy="rs2_without_replacement", budget=0.3, seed=0)
    set_execution(running, status=RunStatus.RUNNING, final_accuracy=None)
    client = as_role("viewer")

    runs = client.get(url("api-experiment-runs-json", experiment)).json()
    rows = list(csv.DictReader(io.StringIO(client.get(url("api-experiment-runs-csv", experiment)).text)))

    by_cell = {(run["strategy"], run["budget"], run["seed"]): run for run in runs}
    static = by_cell["random_static", 0.1, 0]
    assert static["data_fraction"] == pytest.approx(0.47)
    # Each evaluation keeps the engine's own running mean; the run's figure has a column of its own.
    assert [point["data_fraction"] for point in static["curve"]] == [0.1, 0.1]
    assert by_cell["rs2_without_replacement", 0.1, 0]["data_fraction"] == pytest.approx(0.1)
    assert by_cell["rs2_without_replacement", 0.3, 0]["data_fraction"] is None
    static_rows = [row for row in rows if row["strategy"] == "random_static" and row["budget"] == "0.1"]
    assert [(float(row["run_data_fraction"]), float(row["data_fraction"])) for row in static_rows] == [
        (pytest.approx(0.47), 0.1)
    ] * 6
    running_rows = [row for row in rows if row["run_id"] == str(running.pk)]
    assert [row["run_data_fraction"] for row in running_rows] == ["", ""]


def team_url(name, team, **query):
    path = reverse(name, args=[team.pk])
    return path + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def test_the_team_lists_its_comparisons(as_role, team, experiment):
    body = as_role("viewer").get(team_url("api-team-comparisons", team)).json()

    assert [(item["dataset_name"], item["model"], item["budget"], item["executions"]) for item in body] == [
        ("tiny-digits", "mlp", 0.1, 6),
        ("tiny-digits", "mlp", 0.3, 6),
    ]
    assert {item["recipe_hash"] for item in body} == {experiment.recipe_hash}
    assert as_role("outsider").get(team_url("api-team-comparisons", team)).status_code == 404


def test_the_team_leaderboard_pools_experiments_once_per_execution(as_role, team, editor, dataset, experiment):
    again = experiment_create(
        team=team,
        user=editor,
        name="The same grid again",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 2, "target_accuracy": 0.7},
        policies=list(experiment.policies.all()),
        budgets=[0.1],
        seeds=[0, 1, 2],
    )
    assert again.runs.filter(reused=False).count() == 0

    query = {"dataset": dataset.pk, "model": "mlp", "budget": 0.1}
    by_hash = as_role("viewer").get(team_url("api-team-leaderboard", team, recipe=experiment.recipe_hash, **query))
    by_index = as_role("viewer").get(team_url("api-team-leaderboard", team, recipe=0, **query))
    implied = as_role("viewer").get(team_url("api-team-leaderboard", team, **query))

    assert by_hash.status_code == 200
    assert by_hash.json() == by_index.json() == implied.json()
    static = by_strategy(by_hash.json())["random_static"]
    assert static["seeds_planned"] == 3 and static["final_accuracy"]["n"] == 3
    assert static["data_fraction"] == pytest.approx(0.1)
    assert static["final_accuracy"]["mean"] == pytest.approx(np.mean(FINALS["random_static", 0.1]))
    unchanged = as_role("viewer").get(
        team_url("api-team-leaderboard", team, **query), HTTP_IF_NONE_MATCH=implied["ETag"]
    )
    assert unchanged.status_code == 304


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"model": "mlp", "budget": 0.1}, "dataset"),
        ({"dataset": 999999, "model": "mlp", "budget": 0.1}, "dataset"),
        ({"dataset": "DATASET", "model": "cnn1d", "budget": 0.1}, "dataset"),
        ({"dataset": "DATASET", "model": "mlp", "budget": 0.7}, "budget"),
        ({"dataset": "DATASET", "model": "mlp", "budget": 0.1, "recipe": "f" * 64}, "recipe"),
        ({"dataset": "DATASET", "model": "mlp", "budget": 0.1, "recipe": 3}, "recipe"),
        ({"dataset": "DATASET", "model": "mlp", "budget": 0.1, "target": 2}, "target"),
    ],
)
def test_bad_team_leaderboard_queries_name_the_field(as_role, team, dataset, experiment, query, field):
    query = {key: dataset.pk if value == "DATASET" else value for key, value in query.items()}

    response = as_role("viewer").get(team_url("api-team-leaderboard", team, **query))

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_the_team_leaderboard_csv_parses(as_role, team, dataset, experiment):
    query = {"dataset": dataset.pk, "model": "mlp", "budget": 0.3}

    response = as_role("viewer").get(team_url("api-team-leaderboard-csv", team, **query))

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["strategy"] for row in rows] == ["rs2_without_replacement", "random_static", "full"]
    assert {row["tied_for_first"] for row in rows[:2]} == {"True"}


def test_outsiders_get_404_for_the_team_leaderboard(as_role, team, dataset, experiment):
    query = {"dataset": dataset.pk, "model": "mlp", "budget": 0.1}

    assert as_role("outsider").get(team_url("api-team-leaderboard", team, **query)).status_code == 404
    assert as_role("outsider").get(team_url("api-team-leaderboard-csv", team, **query)).status_code == 404

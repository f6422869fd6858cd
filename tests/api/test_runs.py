import pytest
from django.urls import reverse

from backend.experiments.models import Attempt, Experiment, RunMetric, RunStatus
from backend.experiments.services import experiment_create
from tests.api.conftest import ROLES
from tests.conftest import add_curve, set_execution
from workers.engine.version import ENGINE_VERSION

LIST_URL = reverse("api-runs")


def detail_url(run):
    return reverse("api-run", args=[run.pk])


def cancel_url(run):
    return reverse("api-run-cancel", args=[run.pk])


def metrics_url(run):
    return reverse("api-run-metrics", args=[run.pk])


@pytest.fixture
def run(experiment, builtin_policies):
    return experiment.runs.get(policy=builtin_policies["rs2_without_replacement"], seed=0)


@pytest.fixture
def rerun(experiment, editor, builtin_policies):
    """The same grid again: every run of it reuses one of ``experiment``'s."""
    return experiment_create(
        team=experiment.team,
        user=editor,
        name="Same again",
        dataset=experiment.dataset,
        model=experiment.model,
        recipe={"rounds": 5},
        policies=[builtin_policies["random_static"], builtin_policies["rs2_without_replacement"]],
        budgets=[0.1],
        seeds=[0, 1],
    )


def add_metrics(run, count: int) -> None:
    RunMetric.objects.bulk_create(
        RunMetric(
            execution_id=run.execution_id,
            epoch=epoch,
            step=epoch * 10,
            samples_seen=epoch * 100,
            wall_clock_seconds=epoch * 0.5,
            test_accuracy=min(1.0, epoch / count),
            lr=0.1,
            data_fraction=0.1,
        )
        for epoch in range(1, count + 1)
    )


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_members_list_runs(role, experiment, as_role):
    response = as_role(role).get(LIST_URL)

    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 4
    assert {row["strategy"] for row in rows} == {"random_static", "rs2_without_replacement"}
    assert all(row["status"] == "queued" and row["budget"] == 0.1 for row in rows)


def test_an_outsider_sees_no_runs_of_the_team(experiment, as_role):
    assert as_role("outsider").get(LIST_URL).json()["results"] == []


def test_anonymous_cannot_list_runs(experiment, client_for):
    assert client_for(None).get(LIST_URL).status_code in (401, 403)


@pytest.mark.parametrize(
    "query, expected",
    [
        (lambda runs: {"status": "succeeded"}, lambda runs: {runs[0].pk}),
        (lambda runs: {"seed": 1}, lambda runs: {run.pk for run in runs if run.seed == 1}),
        (lambda runs: {"policy": runs[0].policy_id}, lambda runs: {run.pk for run in runs[:2]}),
        (lambda runs: {"budget": 0.1}, lambda runs: {run.pk for run in runs}),
        (lambda runs: {"budget": 0.3}, lambda runs: set()),
        (lambda runs: {"queue": "gpu"}, lambda runs: set()),
        (lambda runs: {"experiment": runs[0].experiment_id}, lambda runs: {run.pk for run in runs}),
    ],
    ids=["status", "seed", "policy", "budget", "other-budget", "queue", "experiment"],
)
def test_runs_filter_by_status_policy_budget_seed_queue_and_experiment(query, expected, experiment, as_role):
    runs = list(experiment.runs.order_by("policy_id", "seed"))
    set_execution(runs[0], status=RunStatus.SUCCEEDED)

    response = as_role("viewer").get(LIST_URL, query(runs))

    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == expected(runs)


def test_runs_order_by_final_accuracy(experiment, as_role):
    for accuracy, run in zip([0.4, 0.9, 0.1, 0.6], experiment.runs.order_by("id"), strict=True):
        set_execution(run, status=RunStatus.SUCCEEDED, final_accuracy=accuracy)

    response = as_role("viewer").get(LIST_URL, {"ordering": "-final_accuracy"})

    assert [row["final_accuracy"] for row in response.json()["results"]] == [0.9, 0.6, 0.4, 0.1]


def test_listing_runs_does_not_query_per_row(experiment, rerun, as_role, django_assert_max_num_queries):
    client = as_role("viewer")

    with django_assert_max_num_queries(3):
        response = client.get(LIST_URL)

    assert response.json()["count"] == 8


@pytest.mark.parametrize("role, expected", [(role, 404 if role == "outsider" else 200) for role in ROLES])
def test_run_detail_is_for_members_only(role, expected, run, as_role):
    response = as_role(role).get(detail_url(run))

    assert response.status_code == expected
    if expected == 200:
        body = response.json()
        assert body["config"]["strategy"] == "rs2_without_replacement"
        assert body["config"]["recipe"]["rounds"] == 5
        assert body["config_hash"] == run.execution.key_hash and body["execution"] == run.execution_id
        assert body["reused"] is False and body["error"] == ""
        assert (body["attempt"], body["resumed_from_round"]) == (0, None)
        assert body["provenance"] == {
            "engine_version": ENGINE_VERSION,
            "engine_commit": "",
            "torch_version": "",
            "device_kind": "cpu",
            "device_name": "",
        }


def test_a_reused_run_shows_the_shared_executions_results(run, rerun, as_role):
    reused = rerun.runs.get(execution=run.execution)
    set_execution(
        run,
        status=RunStatus.SUCCEEDED,
        final_accuracy=0.83,
        best_accuracy=0.85,
        selection_seconds=0.0,
        training_seconds=12.5,
    )

    response = as_role("viewer").get(detail_url(reused))

    body = response.json()
    assert body["reused"] is True and body["execution"] == run.execution_id
    assert (body["final_accuracy"], body["best_accuracy"], body["training_seconds"]) == (0.83, 0.85, 12.5)


@pytest.mark.parametrize("role", ["owner", "editor"])
def test_editors_and_owners_cancel_a_queued_run(role, run, as_role):
    response = as_role(role).post(cancel_url(run))

    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED and run.canceled_at is not None
    assert run.execution.status == RunStatus.CANCELED and run.execution.finished_at is not None


@pytest.mark.parametrize("role, expected", [("viewer", 403), ("outsider", 404)])
def test_viewers_and_outsiders_cannot_cancel_runs(role, expected, run, as_role):
    response = as_role(role).post(cancel_url(run))

    assert response.status_code == expected
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.canceled_at is None


@pytest.mark.parametrize("finished", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED])
def test_a_finished_run_cannot_be_canceled(finished, run, as_role):
    set_execution(run, status=finished)

    response = as_role("editor").post(cancel_url(run))

    assert response.status_code == 409
    run.refresh_from_db()
    assert run.status == finished and run.canceled_at is None


@pytest.mark.parametrize("role, expected", [(role, 404 if role == "outsider" else 200) for role in ROLES])
def test_metrics_are_for_members_only(role, expected, run, as_role):
    add_metrics(run, 3)

    response = as_role(role).get(metrics_url(run))

    assert response.status_code == expected
    if expected == 200:
        assert [row["epoch"] for row in response.json()["results"]] == [1, 2, 3]


def test_metrics_are_paginated_in_epoch_order(run, as_role):
    add_metrics(run, 60)

    response = as_role("viewer").get(metrics_url(run))

    body = response.json()
    assert body["count"] == 60
    assert [row["epoch"] for row in body["results"]] == list(range(1, 51))
    second_page = as_role("viewer").get(body["next"]).json()
    assert [row["epoch"] for row in second_page["results"]] == list(range(51, 61))


def test_a_reused_run_reads_the_shared_executions_metrics(run, rerun, as_role):
    add_metrics(run, 4)
    reused = rerun.runs.get(execution=run.execution)

    response = as_role("viewer").get(metrics_url(reused))

    assert response.status_code == 200
    assert [row["test_accuracy"] for row in response.json()["results"]] == [0.25, 0.5, 0.75, 1.0]


def test_cancelling_a_shared_run_keeps_its_execution_for_the_other_experiment(run, rerun, as_role):
    response = as_role("editor").post(cancel_url(run))

    assert response.status_code == 200 and response.json()["status"] == "canceled"
    run.execution.refresh_from_db()
    assert run.execution.status == RunStatus.QUEUED
    shared = rerun.runs.get(execution=run.execution)
    assert as_role("viewer").get(detail_url(shared)).json()["status"] == "queued"

    as_role("editor").post(cancel_url(shared))

    run.execution.refresh_from_db()
    assert run.execution.status == RunStatus.CANCELED


def test_time_to_target_is_read_from_the_curve_for_the_experiments_target(run, as_role):
    Experiment.objects.filter(pk=run.experiment_id).update(recipe={**run.experiment.recipe, "target_accuracy": 0.6})
    add_curve(run, [0.3, 0.55, 0.61, 0.7], seconds_per_round=2.5)

    body = as_role("viewer").get(detail_url(run)).json()

    assert body["time_to_target_seconds"] == 7.5


def test_a_run_without_a_target_has_no_time_to_target(run, as_role):
    add_curve(run, [0.3, 0.9])

    assert as_role("viewer").get(detail_url(run)).json()["time_to_target_seconds"] is None


def test_a_runs_attempts_are_listed_in_order(run, as_role):
    Attempt.objects.bulk_create(
        [
            Attempt(execution=run.execution, number=1, worker="cpu@a", outcome="lost", note="stopped beating"),
            Attempt(execution=run.execution, number=2, worker="cpu@b", outcome="running", resumed_from_round=3),
        ]
    )

    response = as_role("viewer").get(reverse("api-run-attempts", args=[run.pk]))

    assert response.status_code == 200
    assert [(row["number"], row["worker"], row["outcome"], row["resumed_from_round"]) for row in response.json()] == [
        (1, "cpu@a", "lost", None),
        (2, "cpu@b", "running", 3),
    ]
    assert as_role("outsider").get(reverse("api-run-attempts", args=[run.pk])).status_code == 404


def test_a_run_gives_the_data_it_used_once_it_has_succeeded(run, experiment, as_role):
    # 100 training examples × the recipe's 5 rounds: 235 examples are 47 % a round against a 10 % budget.
    set_execution(run, status=RunStatus.SUCCEEDED, final_accuracy=0.8, samples_trained=235, rounds_completed=5)
    queued = experiment.runs.exclude(pk=run.pk).first()

    client = as_role("viewer")

    assert client.get(detail_url(run)).json()["data_fraction"] == pytest.approx(0.47)
    assert client.get(detail_url(queued)).json()["data_fraction"] is None
    listed = {row["id"]: row["data_fraction"] for row in client.get(LIST_URL).json()["results"]}
    assert listed[run.pk] == pytest.approx(0.47)

import pytest
from django.urls import reverse

from backend.experiments.models import Run, RunMetric, RunStatus
from backend.experiments.services import experiment_create
from tests.api.conftest import ROLES

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
            run=run,
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
    Run.objects.filter(pk=runs[0].pk).update(status=RunStatus.SUCCEEDED)

    response = as_role("viewer").get(LIST_URL, query(runs))

    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == expected(runs)


def test_runs_order_by_final_accuracy(experiment, as_role):
    for accuracy, run in zip([0.4, 0.9, 0.1, 0.6], experiment.runs.order_by("id"), strict=True):
        Run.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, final_accuracy=accuracy)

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
        assert body["config_hash"] == run.config_hash
        assert body["reused_from"] is None and body["error"] == ""
        assert (body["attempt"], body["resumed_from_round"]) == (0, None)


def test_a_reused_run_shows_the_original_runs_results(run, rerun, as_role):
    reused = rerun.runs.get(config_hash=run.config_hash)
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED,
        final_accuracy=0.83,
        best_accuracy=0.85,
        selection_seconds=0.0,
        training_seconds=12.5,
    )

    response = as_role("viewer").get(detail_url(reused))

    body = response.json()
    assert body["reused_from"] == run.pk
    assert (body["final_accuracy"], body["best_accuracy"], body["training_seconds"]) == (0.83, 0.85, 12.5)


@pytest.mark.parametrize("role", ["owner", "editor"])
def test_editors_and_owners_cancel_a_queued_run(role, run, as_role):
    response = as_role(role).post(cancel_url(run))

    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED and run.finished_at is not None


@pytest.mark.parametrize("role, expected", [("viewer", 403), ("outsider", 404)])
def test_viewers_and_outsiders_cannot_cancel_runs(role, expected, run, as_role):
    response = as_role(role).post(cancel_url(run))

    assert response.status_code == expected
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


@pytest.mark.parametrize("finished", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED])
def test_a_finished_run_cannot_be_canceled(finished, run, as_role):
    Run.objects.filter(pk=run.pk).update(status=finished)

    response = as_role("editor").post(cancel_url(run))

    assert response.status_code == 409
    run.refresh_from_db()
    assert run.status == finished


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


def test_a_reused_run_reads_the_original_runs_metrics(run, rerun, as_role):
    add_metrics(run, 4)
    reused = rerun.runs.get(config_hash=run.config_hash)

    response = as_role("viewer").get(metrics_url(reused))

    assert response.status_code == 200
    assert [row["test_accuracy"] for row in response.json()["results"]] == [0.25, 0.5, 0.75, 1.0]

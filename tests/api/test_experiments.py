import pytest
from django.urls import reverse

from backend.datasets.models import DatasetStatus
from backend.experiments.models import Execution, Experiment, Run, RunStatus
from tests.api.conftest import ROLES, add_dataset
from workers.engine.recipe import resolve_recipe

LIST_URL = reverse("api-experiments")


def detail_url(experiment):
    return reverse("api-experiment", args=[experiment.pk])


def cancel_url(experiment):
    return reverse("api-experiment-cancel", args=[experiment.pk])


@pytest.fixture
def payload(team, dataset, budgeted_policies):
    return {
        "team": team.pk,
        "name": "RS2 vs static on digits",
        "description": "r = 10 % and 30 %",
        "dataset": dataset.pk,
        "model": "mlp",
        "recipe": {"rounds": 20, "batch_size": 32},
        "policies": [policy.pk for policy in budgeted_policies],
        "budgets": [0.1, 0.3],
        "seeds": [0, 1],
        "queue": "cpu",
    }


def row_counts() -> tuple[int, int]:
    return Experiment.objects.count(), Run.objects.count()


def test_creating_an_experiment_expands_the_grid_into_runs(payload, budgeted_policies, as_role):
    response = as_role("editor").post(LIST_URL, payload, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["run_counts"]["total"] == 12
    assert body["run_counts"]["queued"] == 12
    assert body["run_counts"]["reused"] == 0
    assert body["recipe"]["rounds"] == 20 and body["recipe"]["optimizer"] == "sgd"
    runs = Run.objects.filter(experiment_id=body["id"])
    assert {(run.policy_id, run.budget, run.seed) for run in runs} == {
        (policy.pk, budget, seed) for policy in budgeted_policies for budget in (0.1, 0.3) for seed in (0, 1)
    }
    assert {policy["strategy"] for policy in body["policies"]} == {policy.strategy for policy in budgeted_policies}


def test_reposting_the_same_experiment_reuses_every_run(payload, as_role):
    client = as_role("editor")
    first = client.post(LIST_URL, payload, format="json").json()

    response = client.post(LIST_URL, payload, format="json")

    assert response.status_code == 201
    second = response.json()
    assert second["id"] != first["id"]
    assert second["run_counts"]["total"] == 12 and second["run_counts"]["reused"] == 12
    originals = set(Run.objects.filter(experiment_id=first["id"]).values_list("execution", flat=True))
    reused = Run.objects.filter(experiment_id=second["id"])
    assert set(reused.values_list("execution", flat=True)) == originals
    assert all(run.reused for run in reused)


def test_a_different_recipe_does_not_reuse_runs(payload, as_role):
    client = as_role("editor")
    client.post(LIST_URL, payload, format="json")

    response = client.post(LIST_URL, {**payload, "recipe": {"rounds": 21, "batch_size": 32}}, format="json")

    assert response.json()["run_counts"] == {
        "total": 12,
        "reused": 0,
        "queued": 12,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
        "canceled": 0,
    }


def test_an_owner_may_create_experiments_too(payload, as_role):
    assert as_role("owner").post(LIST_URL, payload, format="json").status_code == 201


def test_a_viewer_cannot_create_experiments(payload, as_role):
    response = as_role("viewer").post(LIST_URL, payload, format="json")

    assert response.status_code == 403
    assert row_counts() == (0, 0)


def test_an_outsider_naming_the_team_gets_a_team_error(payload, as_role):
    response = as_role("outsider").post(LIST_URL, payload, format="json")

    assert response.status_code == 400
    assert "team" in response.json()
    assert row_counts() == (0, 0)


BAD_PAYLOADS = [
    ({"budgets": [0]}, "budgets"),
    ({"budgets": [1.5]}, "budgets"),
    ({"budgets": "0.1"}, "budgets"),
    ({"budgets": []}, "budgets"),
    ({"budgets": [0.1, 0.1]}, "budgets"),
    ({"seeds": []}, "seeds"),
    ({"seeds": "abc"}, "seeds"),
    ({"seeds": ["abc"]}, "seeds"),
    ({"seeds": [1.5]}, "seeds"),
    ({"seeds": [-1]}, "seeds"),
    ({"policies": []}, "policies"),
    ({"policies": "1"}, "policies"),
    ({"model": "vit_huge"}, "model"),
    ({"recipe": {"roundz": 10}}, "recipe.roundz"),
    ({"recipe": {"rounds": 0}}, "recipe.rounds"),
    ({"recipe": {"lr": "fast"}}, "recipe.lr"),
    ({"recipe": "rounds=10"}, "recipe"),
    ({"queue": "tpu"}, "queue"),
    ({"name": ""}, "name"),
    ({"dataset": "abc"}, "dataset"),
    ({"dataset": 987654}, "dataset"),
]


@pytest.mark.parametrize("change, field", BAD_PAYLOADS, ids=[f"{field}-{change}" for change, field in BAD_PAYLOADS])
def test_bad_payloads_name_the_field_and_write_nothing(change, field, payload, as_role):
    response = as_role("editor").post(LIST_URL, {**payload, **change}, format="json")

    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert row_counts() == (0, 0)


def test_a_missing_field_is_named(payload, as_role):
    del payload["seeds"]

    response = as_role("editor").post(LIST_URL, payload, format="json")

    assert response.status_code == 400
    assert "seeds" in response.json()
    assert row_counts() == (0, 0)


def test_a_policy_of_another_team_is_a_bad_policies_field(payload, foreign_policy, as_role):
    payload["policies"].append(foreign_policy.pk)

    response = as_role("editor").post(LIST_URL, payload, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["policies"]
    assert "Their RS2" not in str(response.json())
    assert row_counts() == (0, 0)


def test_another_teams_policy_and_a_missing_policy_read_the_same(payload, foreign_policy, as_role):
    client = as_role("editor")
    foreign = client.post(LIST_URL, {**payload, "policies": [foreign_policy.pk]}, format="json").json()
    missing = client.post(LIST_URL, {**payload, "policies": [foreign_policy.pk + 1000]}, format="json").json()

    assert foreign["policies"][0].replace(str(foreign_policy.pk), "N") == missing["policies"][0].replace(
        str(foreign_policy.pk + 1000), "N"
    )


def test_a_dataset_of_another_team_is_a_bad_dataset_field(payload, foreign_dataset, as_role):
    response = as_role("editor").post(LIST_URL, {**payload, "dataset": foreign_dataset.pk}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["dataset"]
    assert "their-digits" not in str(response.json())
    assert row_counts() == (0, 0)


def test_a_listed_twice_policy_is_rejected(payload, as_role):
    payload["policies"].append(payload["policies"][0])

    response = as_role("editor").post(LIST_URL, payload, format="json")

    assert response.status_code == 400
    assert "policies" in response.json()
    assert row_counts() == (0, 0)


def test_a_team_policy_can_join_the_grid(payload, team_policy, as_role):
    payload["policies"] = [team_policy.pk]

    response = as_role("editor").post(LIST_URL, payload, format="json")

    assert response.status_code == 201
    assert response.json()["run_counts"]["total"] == 4


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_members_list_experiments_with_run_counts(role, experiment, as_role):
    Execution.objects.filter(cells__experiment=experiment, cells__seed=0).update(status=RunStatus.SUCCEEDED)

    response = as_role(role).get(LIST_URL)

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["name"] == "RS2 vs static"
    assert row["dataset_name"] == "tiny-digits"
    assert row["created_by"] == "eddie"
    assert (row["run_counts"]["total"], row["run_counts"]["succeeded"], row["run_counts"]["queued"]) == (4, 2, 2)


def test_an_outsider_sees_no_experiments_of_the_team(experiment, as_role):
    response = as_role("outsider").get(LIST_URL)

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_anonymous_cannot_list_experiments(experiment, client_for):
    assert client_for(None).get(LIST_URL).status_code in (401, 403)


@pytest.mark.parametrize(
    "query, expected_names",
    [
        (lambda team, dataset: {"team": team.pk}, ["Second", "RS2 vs static"]),
        (lambda team, dataset: {"dataset": dataset.pk}, ["RS2 vs static"]),
        (lambda team, dataset: {"model": "cnn1d"}, ["Second"]),
        (lambda team, dataset: {"ordering": "name"}, ["RS2 vs static", "Second"]),
    ],
    ids=["team", "dataset", "model", "ordering"],
)
def test_experiments_filter_by_team_dataset_and_model(
    query, expected_names, team, dataset, experiment, editor, builtin_policies, as_role
):
    other_dataset = add_dataset(team, "signals", input_shape=[40])
    Experiment.objects.create(
        team=team,
        name="Second",
        dataset=other_dataset,
        model="cnn1d",
        recipe={},
        recipe_hash="x",
        budgets=[0.1],
        seeds=[0],
        created_by=editor,
    )

    response = as_role("viewer").get(LIST_URL, query(team, dataset))

    assert [row["name"] for row in response.json()["results"]] == expected_names


def test_listing_experiments_does_not_query_per_row(payload, as_role, django_assert_max_num_queries):
    client = as_role("editor")
    for index in range(8):
        client.post(LIST_URL, {**payload, "name": f"Experiment {index}"}, format="json")

    with django_assert_max_num_queries(4):
        response = client.get(LIST_URL)

    assert response.json()["count"] == 8
    assert all(row["run_counts"]["total"] == 12 for row in response.json()["results"])


@pytest.mark.parametrize("role, expected", [(role, 404 if role == "outsider" else 200) for role in ROLES])
def test_experiment_detail_is_for_members_only(role, expected, experiment, as_role):
    response = as_role(role).get(detail_url(experiment))

    assert response.status_code == expected
    if expected == 200:
        assert response.json()["budgets"] == [0.1] and response.json()["seeds"] == [0, 1]
        assert response.json()["run_counts"]["total"] == 4


@pytest.mark.parametrize("role", ["owner", "editor"])
def test_editors_and_owners_cancel_every_active_run(role, experiment, as_role):
    Execution.objects.filter(cells__experiment=experiment, cells__seed=0).update(status=RunStatus.SUCCEEDED)

    response = as_role(role).post(cancel_url(experiment))

    assert response.status_code == 200
    assert response.json() == {"canceled": 2, "shared": 0}
    assert sorted(statuses(experiment)) == ["canceled"] * 2 + ["succeeded"] * 2


@pytest.mark.parametrize("role, expected", [("viewer", 403), ("outsider", 404)])
def test_viewers_and_outsiders_cannot_cancel(role, expected, experiment, as_role):
    response = as_role(role).post(cancel_url(experiment))

    assert response.status_code == expected
    assert set(statuses(experiment)) == {RunStatus.QUEUED}


def test_a_dataset_that_is_not_ready_is_a_bad_dataset_field(payload, team, as_role):
    pending = add_dataset(team, "still-importing", status=DatasetStatus.PENDING, sha256="")

    response = as_role("editor").post(LIST_URL, {**payload, "dataset": pending.pk}, format="json")

    assert response.status_code == 400
    assert "dataset" in response.json()
    assert row_counts() == (0, 0)


def test_a_missing_recipe_takes_the_engine_defaults(payload, as_role):
    response = as_role("editor").post(LIST_URL, {**payload, "recipe": None}, format="json")

    assert response.status_code == 201
    assert response.json()["recipe"] == resolve_recipe({})


def test_the_detail_says_why_queued_runs_wait_when_no_worker_serves_the_queue(
    team, editor, dataset, builtin_policies, as_role
):
    from backend.experiments.execution import queue_name
    from backend.experiments.presence import worker_presence_beat
    from backend.experiments.services import experiment_create
    from workers.engine.version import ENGINE_VERSION

    gpu = experiment_create(
        team=team,
        user=editor,
        name="On the GPU",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 5},
        policies=[builtin_policies["rs2_without_replacement"]],
        budgets=[0.1],
        seeds=[0, 1],
        queue="gpu",
    )
    # A CPU worker is online; it does not help runs that need a GPU.
    worker_presence_beat(name="cpu@box", queues=[queue_name("cpu")], device_kind="cpu", engine_version=ENGINE_VERSION)

    body = as_role("viewer").get(detail_url(gpu)).json()

    assert body["waiting"] == [
        {"device_kind": "cuda", "queue": queue_name("gpu"), "runs": 2, "reason": "No GPU worker is online"}
    ]


def statuses(experiment):
    return [run.status for run in experiment.runs.select_related("execution")]

"""POST /experiments/preview/: a new grid's runs, reuse and estimated cost, before creating it."""

import pytest
from django.urls import reverse

from backend.experiments.models import Experiment
from tests.conftest import finish_run

URL = reverse("api-experiment-preview")


@pytest.fixture
def payload(team, dataset, builtin_policies):
    return {
        "team": team.pk,
        "dataset": dataset.pk,
        "model": "mlp",
        "recipe": {"rounds": 5},
        "policies": [builtin_policies["random_static"].pk, builtin_policies["rs2_without_replacement"].pk],
        "budgets": [0.1],
        "seeds": [0, 1, 2],
    }


def test_it_counts_reused_runs_and_estimates_the_others_from_finished_ones(experiment, payload, as_role):
    for run in experiment.runs.all():
        finish_run(run, 0.8, selection=1.0, training=5.0)

    response = as_role("editor").post(URL, payload, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["runs"], body["reused"], body["finished"], body["to_train"]) == (6, 4, 4, 2)
    assert body["estimated_runs"] == 2 and body["estimated_seconds"] == pytest.approx(12.0)
    assert body["basis"] == 4
    assert Experiment.objects.count() == 1


@pytest.mark.parametrize(
    "change, field",
    [({"budgets": [0]}, "budgets"), ({"seeds": []}, "seeds"), ({"recipe": {"lr": "fast"}}, "recipe.lr")],
)
def test_a_bad_grid_is_a_400_naming_the_field(payload, as_role, change, field):
    response = as_role("editor").post(URL, {**payload, **change}, format="json")

    assert response.status_code == 400 and field in response.json(), response.json()


def test_a_viewer_gets_403_and_an_outsider_a_team_error(payload, as_role):
    assert as_role("viewer").post(URL, payload, format="json").status_code == 403
    response = as_role("outsider").post(URL, payload, format="json")
    assert response.status_code == 400 and "team" in response.json()

"""POST /experiments/<id>/extend/ and its preview: only new runs, for editors, with errors naming the field."""

import pytest
from django.urls import reverse

from backend.experiments.models import Run, RunStatus
from tests.conftest import finish_run


def extend_url(experiment):
    return reverse("api-experiment-extend", args=[experiment.pk])


def preview_url(experiment):
    return reverse("api-experiment-extend-preview", args=[experiment.pk])


def test_an_editor_adds_a_seed_and_only_its_runs_are_created(experiment, as_role):
    kept = {run.pk: run.execution_id for run in experiment.runs.all()}
    finish_run(experiment.runs.first(), 0.8, selection=0.0, training=1.0)

    response = as_role("editor").post(extend_url(experiment), {"seeds": [2]}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["created"], body["reused"]) == (2, 0)
    assert body["experiment"]["seeds"] == [0, 1, 2]
    assert body["experiment"]["run_counts"]["total"] == 6
    assert dict(experiment.runs.filter(pk__in=kept).values_list("pk", "execution_id")) == kept
    assert experiment.runs.filter(execution__status=RunStatus.SUCCEEDED).count() == 1


def test_a_new_policy_from_the_team_joins_the_grid(experiment, team_policy, as_role):
    response = as_role("owner").post(extend_url(experiment), {"policies": [team_policy.pk]}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["created"] == 2
    assert team_policy.pk in {policy["id"] for policy in response.json()["experiment"]["policies"]}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "seeds"),
        ({"seeds": [0]}, "seeds"),
        ({"seeds": ["x"]}, "seeds"),
        ({"budgets": [0.1]}, "budgets"),
        ({"budgets": [0]}, "budgets"),
        ({"policies": [987654]}, "policies"),
    ],
)
def test_bad_additions_are_400s_naming_the_field_and_add_nothing(experiment, as_role, payload, field):
    for url in (extend_url(experiment), preview_url(experiment)):
        response = as_role("editor").post(url, payload, format="json")

        assert response.status_code == 400
        assert field in response.json(), response.json()
    assert Run.objects.count() == 4


def test_a_policy_of_another_team_reads_as_missing(experiment, foreign_policy, as_role):
    response = as_role("editor").post(extend_url(experiment), {"policies": [foreign_policy.pk]}, format="json")

    assert response.status_code == 400 and "policies" in response.json()


@pytest.mark.parametrize("role, expected", [("viewer", 403), ("outsider", 404)])
def test_viewers_and_outsiders_cannot_extend_or_preview(experiment, as_role, role, expected):
    for url in (extend_url(experiment), preview_url(experiment)):
        assert as_role(role).post(url, {"seeds": [2]}, format="json").status_code == expected
    assert Run.objects.count() == 4


def test_the_preview_counts_the_runs_it_would_add_and_creates_nothing(experiment, as_role):
    response = as_role("editor").post(preview_url(experiment), {"seeds": [2, 3], "budgets": [0.3]}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    # Two policies: at the new budget for all four seeds, and at the old budget for the two new seeds.
    assert (body["runs"], body["reused"], body["to_train"]) == (2 * 4 + 2 * 2, 0, 12)
    assert body["estimated_seconds"] is None and body["unestimated_runs"] == 12
    assert Run.objects.count() == 4

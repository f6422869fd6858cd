"""POST /experiments/<id>/clone/ and its preview: the source's configuration with the changes given."""

import pytest
from django.urls import reverse

from backend.experiments.models import Experiment


def clone_url(experiment):
    return reverse("api-experiment-clone", args=[experiment.pk])


def preview_url(experiment):
    return reverse("api-experiment-clone-preview", args=[experiment.pk])


def test_an_empty_body_clones_everything_and_reuses_every_run(experiment, as_role):
    response = as_role("editor").post(clone_url(experiment), {}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "RS2 vs static (copy)"
    assert (body["dataset"], body["model"], body["recipe"]) == (experiment.dataset_id, "mlp", experiment.recipe)
    assert (body["budgets"], body["seeds"]) == ([0.1], [0, 1])
    assert body["run_counts"]["total"] == 4 and body["run_counts"]["reused"] == 4


def test_changes_replace_only_what_they_name(experiment, team, as_role):
    response = as_role("editor").post(
        clone_url(experiment),
        {"name": "Longer", "recipe": {"rounds": 9}, "seeds": [0, 1, 2]},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "Longer" and body["recipe"]["rounds"] == 9
    assert body["recipe"]["batch_size"] == experiment.recipe["batch_size"]
    assert body["run_counts"]["total"] == 6 and body["run_counts"]["reused"] == 0


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"budgets": [2]}, "budgets"),
        ({"seeds": "abc"}, "seeds"),
        ({"name": ""}, "name"),
        ({"dataset": 987654}, "dataset"),
        ({"recipe": {"rounds": 0}}, "recipe.rounds"),
        ({"model": "vit_huge"}, "model"),
    ],
)
def test_bad_changes_are_400s_naming_the_field_and_create_nothing(experiment, as_role, payload, field):
    for url in (clone_url(experiment), preview_url(experiment)):
        response = as_role("editor").post(url, payload, format="json")

        assert response.status_code == 400, url
        assert field in response.json(), response.json()
    assert Experiment.objects.count() == 1


def test_a_dataset_of_another_team_is_a_bad_dataset_field(experiment, foreign_dataset, as_role):
    response = as_role("editor").post(clone_url(experiment), {"dataset": foreign_dataset.pk}, format="json")

    assert response.status_code == 400 and "dataset" in response.json()


@pytest.mark.parametrize("role, expected", [("viewer", 403), ("outsider", 404)])
def test_viewers_and_outsiders_cannot_clone(experiment, as_role, role, expected):
    for url in (clone_url(experiment), preview_url(experiment)):
        assert as_role(role).post(url, {}, format="json").status_code == expected
    assert Experiment.objects.count() == 1


def test_the_preview_tells_what_the_clone_reuses(experiment, as_role):
    response = as_role("editor").post(preview_url(experiment), {"seeds": [1, 2]}, format="json")

    assert response.status_code == 200, response.json()
    assert (response.json()["runs"], response.json()["reused"], response.json()["to_train"]) == (4, 2, 2)
    assert Experiment.objects.count() == 1

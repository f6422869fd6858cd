"""The clone page: the create form prefilled with an experiment's configuration, for editors."""

import pytest
from django.urls import reverse

from backend.experiments.models import Experiment


def clone_url(experiment):
    return reverse("experiment_clone", args=[experiment.pk])


@pytest.fixture
def clone_post(experiment, dataset, builtin_policies):
    return {
        "name": "Again, longer",
        "description": "",
        "dataset": str(dataset.pk),
        "model": "mlp",
        "policies": [str(builtin_policies["rs2_without_replacement"].pk), str(builtin_policies["random_static"].pk)],
        "budgets": "10, 30",
        "seeds": "0",
        "rounds": "20",
        "batch_size": "128",
        "lr": "0.1",
        "target_accuracy": "80",
        "eval_every": "1",
        "queue": "cpu",
    }


def test_the_form_starts_from_the_experiments_configuration(client_as, editor, experiment, builtin_policies):
    response = client_as(editor).get(clone_url(experiment))

    form = response.context["form"]
    assert response.status_code == 200
    assert form["name"].value() == "RS2 vs static on digits (copy)"
    assert form["dataset"].value() == experiment.dataset_id and form["model"].value() == "mlp"
    assert sorted(form["policies"].value()) == sorted(
        [builtin_policies["rs2_without_replacement"].pk, builtin_policies["random_static"].pk]
    )
    assert (form["budgets"].value(), form["seeds"].value()) == ("10, 30", "0")
    assert (form["rounds"].value(), form["target_accuracy"].value()) == (20, 80)
    html = response.content.decode()
    assert "Clone RS2 vs static on digits" in html
    assert reverse("experiment_clone_preview", args=[experiment.pk]) in html


def test_submitting_it_unchanged_reuses_every_run_and_keeps_the_hidden_recipe(
    client_as, editor, experiment, clone_post
):
    Experiment.objects.filter(pk=experiment.pk).update(recipe={**experiment.recipe, "optimizer": "adamw"})
    experiment.refresh_from_db()

    response = client_as(editor).post(clone_url(experiment), {**clone_post, "name": "Copy"})

    clone = Experiment.objects.get(name="Copy")
    assert response.status_code == 302 and response.url == reverse("experiment_detail", args=[clone.pk])
    assert clone.recipe["optimizer"] == "adamw"
    assert clone.runs.count() == 4


def test_a_change_makes_only_the_new_runs_train(client_as, editor, experiment, clone_post):
    client_as(editor).post(clone_url(experiment), {**clone_post, "seeds": "0, 1"})

    clone = Experiment.objects.get(name="Again, longer")
    assert clone.runs.filter(seed=0, reused=True).count() == 4
    assert clone.runs.filter(seed=1, reused=False).count() == 4


def test_a_bad_value_is_shown_next_to_its_field(client_as, editor, experiment, clone_post):
    response = client_as(editor).post(clone_url(experiment), {**clone_post, "budgets": "10, 200"})

    assert response.status_code == 400
    assert "at most 100; got 200" in str(response.context["form"].errors["budgets"])
    assert Experiment.objects.count() == 1


def test_a_viewer_gets_403_and_an_outsider_404(client_as, viewer, outsider, other_team, experiment, clone_post):
    assert client_as(viewer).get(clone_url(experiment)).status_code == 403
    assert client_as(viewer).post(clone_url(experiment), clone_post).status_code == 403
    assert client_as(outsider).get(clone_url(experiment)).status_code == 404
    assert Experiment.objects.count() == 1

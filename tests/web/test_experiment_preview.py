"""The forms' preview fragment: runs, reuse and estimated cost as the fields change; nothing is created."""

import pytest
from django.urls import reverse

from backend.experiments.models import Experiment, Run


@pytest.fixture
def create_post(dataset, builtin_policies):
    """The web fixture experiment's grid, unnamed: a preview does not need a name."""
    return {
        "name": "",
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


def test_the_create_preview_counts_reused_runs_and_estimates_the_rest(client_as, editor, team, experiment, create_post):
    response = client_as(editor).post(
        reverse("experiment_create_preview", args=[team.slug]), {**create_post, "seeds": "0, 1"}
    )

    preview = response.context["preview"]
    assert response.status_code == 200
    # Seed 0 is the experiment's grid again: four runs reuse its executions (one succeeded, one failed).
    assert (preview.runs, preview.reused, preview.finished) == (8, 4, 1)
    # The failed execution is queued again, and seed 1's four runs are new.
    assert preview.to_train == 5
    # Only rs2 at 10 % has finished before (1.5 s + 30 s): it estimates rs2 at both budgets.
    assert preview.estimated_runs == 3
    html = response.content.decode()
    assert 'data-preview-runs="8"' in html and 'data-preview-reused="4"' in html
    assert "no estimate yet for 2 of the runs to train" in html
    assert Experiment.objects.count() == 1


def test_a_grid_nothing_comparable_ran_for_says_no_estimate_yet(client_as, editor, team, dataset, create_post):
    response = client_as(editor).post(reverse("experiment_create_preview", args=[team.slug]), create_post)

    assert response.status_code == 200
    assert "no estimate yet" in response.content.decode()


def test_an_invalid_field_says_what_to_fix_instead(client_as, editor, team, dataset, create_post):
    response = client_as(editor).post(
        reverse("experiment_create_preview", args=[team.slug]), {**create_post, "budgets": "0"}
    )

    html = response.content.decode()
    assert "data-preview-problem" in html and "Budgets" in html and "got 0" in html


def test_the_extend_preview_counts_only_the_new_runs(client_as, editor, experiment):
    response = client_as(editor).post(reverse("experiment_extend_preview", args=[experiment.pk]), {"seeds": "1, 2"})

    assert response.context["preview"].runs == 8
    assert Run.objects.count() == 4


def test_the_clone_preview_keeps_the_recipe_the_form_does_not_show(client_as, editor, experiment, create_post):
    Experiment.objects.filter(pk=experiment.pk).update(recipe={**experiment.recipe, "weight_decay": 0.001})
    experiment.refresh_from_db()
    source_runs = list(experiment.runs.all())

    response = client_as(editor).post(reverse("experiment_clone_preview", args=[experiment.pk]), create_post)

    # The cells were created under the old recipe; the clone asks for the source's new one, so nothing is shared,
    # where the same fields on the create form (default weight decay) share every run.
    assert response.context["preview"].runs == len(source_runs)
    assert response.context["preview"].reused == 0
    create = client_as(editor).post(reverse("experiment_create_preview", args=[experiment.team.slug]), create_post)
    assert create.context["preview"].reused == len(source_runs)


@pytest.mark.parametrize("role, expected", [("viewer", 403), ("outsider", 404)])
def test_viewers_and_outsiders_get_no_preview(client_as, request, other_team, experiment, role, expected):
    client = client_as(request.getfixturevalue(role))

    assert client.post(reverse("experiment_extend_preview", args=[experiment.pk]), {"seeds": "1"}).status_code == (
        expected
    )
    assert client.post(reverse("experiment_clone_preview", args=[experiment.pk]), {}).status_code == expected

import pytest
from django.urls import reverse

from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus
from backend.experiments.models import Experiment, Run
from backend.policies.models import SamplingPolicy


def create_url(slug="vision"):
    return reverse("experiment_create", args=[slug])


@pytest.fixture
def valid_post(dataset, builtin_policies):
    return {
        "name": "Budgets sweep",
        "description": "",
        "dataset": str(dataset.pk),
        "model": "mlp",
        "policies": [str(builtin_policies["rs2_without_replacement"].pk), str(builtin_policies["random_static"].pk)],
        "budgets": "10, 30%",
        "seeds": "0, 1",
        "rounds": "40",
        "batch_size": "64",
        "lr": "0.05",
        "target_accuracy": "85",
        "eval_every": "2",
        "queue": "cpu",
    }


def post_with(client, valid_post, **changes):
    return client.post(create_url(), {**valid_post, **changes})


@pytest.mark.parametrize("member", ["owner", "editor"])
def test_owners_and_editors_get_the_form_with_recipe_defaults(client_as, request, member, dataset):
    response = client_as(request.getfixturevalue(member)).get(create_url())

    form = response.context["form"]
    assert response.status_code == 200
    assert (form["rounds"].initial, form["batch_size"].initial, form["lr"].initial) == (100, 128, 0.1)
    assert form["eval_every"].initial == 1
    assert 'name="policies"' in response.content.decode()


def test_a_viewer_gets_403(client_as, viewer, dataset, valid_post):
    client = client_as(viewer)

    assert client.get(create_url()).status_code == 403
    assert client.post(create_url(), valid_post).status_code == 403
    assert not Experiment.objects.exists()


def test_an_outsider_gets_404(client_as, outsider, dataset, valid_post):
    assert client_as(outsider).post(create_url(), valid_post).status_code == 404
    assert not Experiment.objects.exists()


def test_it_offers_built_in_and_own_policies_but_not_other_teams(client_as, editor, team, other_team, dataset):
    SamplingPolicy.objects.create(team=team, name="Ours", strategy="full", params={})
    SamplingPolicy.objects.create(team=other_team, name="Theirs", strategy="full", params={})

    offered = {
        policy.name for policy in client_as(editor).get(create_url()).context["form"].fields["policies"].queryset
    }

    assert "Ours" in offered and "RS2 without replacement" in offered and "Theirs" not in offered


def test_it_creates_the_experiment_and_its_grid(client_as, editor, valid_post):
    response = client_as(editor).post(create_url(), valid_post)

    experiment = Experiment.objects.get()
    assert response.status_code == 302 and response.url == reverse("experiment_detail", args=[experiment.pk])
    assert experiment.budgets == [0.1, 0.3]
    assert experiment.seeds == [0, 1]
    assert experiment.recipe["rounds"] == 40 and experiment.recipe["batch_size"] == 64
    assert experiment.recipe["lr"] == 0.05 and experiment.recipe["eval_every"] == 2
    assert experiment.recipe["target_accuracy"] == 0.85
    assert experiment.recipe["optimizer"] == "sgd"
    assert experiment.runs.count() == 2 * 2 * 2
    assert experiment.created_by.username == "eddie"


def test_an_empty_target_accuracy_means_none(client_as, editor, valid_post):
    post_with(client_as(editor), valid_post, target_accuracy="")

    assert Experiment.objects.get().recipe["target_accuracy"] is None


def test_percent_budgets_equal_the_fractions_an_api_client_sends(client_as, editor, valid_post):
    post_with(client_as(editor), valid_post, budgets="1, 5, 12.5, 33.3, 100")

    assert Experiment.objects.get().budgets == [0.01, 0.05, 0.125, 0.333, 1.0]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"budgets": "0, 10"}, "budgets", "Each budget must be a percentage above 0 and at most 100; got 0."),
        ({"budgets": "150"}, "budgets", "Each budget must be a percentage above 0 and at most 100; got 150."),
        ({"budgets": "ten"}, "budgets", "'ten' is not a number."),
        ({"budgets": "10, 10"}, "budgets", "Budget 0.1 is listed twice."),
        ({"seeds": "1.5"}, "seeds", "Each seed must be a whole number; got 1.5."),
        ({"seeds": "-1"}, "seeds", "Each seed must be between 0 and 2147483647; got -1."),
        ({"seeds": ""}, "seeds", "This field is required."),
        ({"lr": "0"}, "lr", "Must be greater than 0"),
        ({"rounds": "20000"}, "rounds", "Must be at most 10000"),
        ({"eval_every": "0"}, "eval_every", "Must be at least 1"),
        ({"target_accuracy": "0"}, "target_accuracy", "Must be above 0 %."),
        ({"name": " "}, "name", "This field is required."),
        ({"policies": []}, "policies", "This field is required."),
        ({"queue": "tpu"}, "queue", "Select a valid choice. tpu is not one of the available choices."),
        ({"model": "vit"}, "model", "Select a valid choice. vit is not one of the available choices."),
    ],
)
def test_errors_are_shown_at_their_field_and_nothing_is_written(client_as, editor, valid_post, changes, field, message):
    response = post_with(client_as(editor), valid_post, **changes)

    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert f'data-field="{field}"' in response.content.decode()
    assert not Experiment.objects.exists() and not Run.objects.exists()


def test_another_teams_dataset_cannot_be_chosen(client_as, editor, other_team, valid_post):
    foreign = Dataset.objects.create(
        team=other_team,
        name="theirs",
        format=DatasetFormat.NPZ,
        source="theirs.npz",
        status=DatasetStatus.READY,
        sha256="0" * 64,
    )

    response = post_with(client_as(editor), valid_post, dataset=str(foreign.pk))

    assert response.status_code == 400
    assert "dataset" in response.context["form"].errors
    assert not Experiment.objects.exists()


def test_a_dataset_that_is_not_ready_cannot_be_chosen(client_as, editor, dataset, valid_post):
    Dataset.objects.filter(pk=dataset.pk).update(status=DatasetStatus.PENDING, sha256="")

    response = post_with(client_as(editor), valid_post)

    assert response.status_code == 400
    assert "dataset" in response.context["form"].errors
    assert "has no ready dataset yet" in response.content.decode()


def test_an_oversized_grid_is_refused_at_the_seeds_field(client_as, editor, valid_post):
    seeds = ", ".join(str(seed) for seed in range(2501))

    response = post_with(client_as(editor), valid_post, seeds=seeds)

    assert response.context["form"].errors["seeds"] == ["The grid may hold at most 5000 runs."]
    assert not Experiment.objects.exists()

"""Cloning an experiment with changes: its configuration, changed where asked, in a new experiment."""

import pytest
from django.core.exceptions import PermissionDenied

from backend.errors import ApplicationError
from backend.experiments.models import Experiment
from backend.experiments.services import experiment_clone, experiment_create


@pytest.fixture
def source(team, editor, dataset, builtin_policies):
    return experiment_create(
        team=team,
        user=editor,
        name="RS2 vs static",
        description="first sweep",
        dataset=dataset,
        model="mlp",
        recipe={"rounds": 7, "optimizer": "adamw", "lr": 0.01, "target_accuracy": 0.6},
        policies=[builtin_policies["rs2_without_replacement"], builtin_policies["random_static"]],
        budgets=[0.1],
        seeds=[0, 1],
    )


def test_an_unchanged_clone_copies_the_configuration_and_reuses_every_run(source, editor):
    clone = experiment_clone(experiment=source, user=editor)

    assert clone.pk != source.pk and clone.name == "RS2 vs static (copy)"
    assert (clone.description, clone.dataset, clone.model, clone.queue) == (
        source.description,
        source.dataset,
        source.model,
        source.queue,
    )
    assert clone.recipe == source.recipe and clone.recipe_hash == source.recipe_hash
    assert set(clone.policies.all()) == set(source.policies.all())
    assert (clone.budgets, clone.seeds) == (source.budgets, source.seeds)
    assert clone.runs.count() == 4 and clone.runs.filter(reused=True).count() == 4
    assert set(clone.runs.values_list("execution_id", flat=True)) == set(
        source.runs.values_list("execution_id", flat=True)
    )


def test_a_recipe_change_keeps_the_fields_it_does_not_name(source, editor):
    clone = experiment_clone(experiment=source, user=editor, name="Longer", recipe={"rounds": 9}, seeds=[0])

    assert clone.recipe["rounds"] == 9
    assert (clone.recipe["optimizer"], clone.recipe["lr"], clone.recipe["target_accuracy"]) == ("adamw", 0.01, 0.6)
    assert clone.runs.count() == 2 and not clone.runs.filter(reused=True).exists()


def test_a_changed_grid_reuses_what_it_shares_with_the_source(source, editor):
    clone = experiment_clone(experiment=source, user=editor, seeds=[1, 2])

    assert clone.runs.filter(seed=1, reused=True).count() == 2
    assert clone.runs.filter(seed=2, reused=False).count() == 2


def test_a_bad_change_names_the_field_and_creates_nothing(source, editor):
    with pytest.raises(ApplicationError) as raised:
        experiment_clone(experiment=source, user=editor, budgets=[2.0])

    assert raised.value.field == "budgets"
    assert Experiment.objects.count() == 1


def test_a_viewer_cannot_clone(source, viewer):
    with pytest.raises(PermissionDenied):
        experiment_clone(experiment=source, user=viewer)
    assert Experiment.objects.count() == 1

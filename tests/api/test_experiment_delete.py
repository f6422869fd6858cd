"""DELETE /experiments/<id>/: its runs go, shared executions stay; viewers 403, outsiders 404."""

import pytest
from django.urls import reverse

from backend.experiments.models import Execution, Experiment, Run
from backend.experiments.services import experiment_create


def url(experiment):
    return reverse("api-experiment", args=[experiment.pk])


def test_an_editor_deletes_an_experiment_and_keeps_what_another_shares(experiment, editor, builtin_policies, as_role):
    other = experiment_create(
        team=experiment.team,
        user=editor,
        name="One seed",
        dataset=experiment.dataset,
        model="mlp",
        recipe={"rounds": 5},
        policies=[builtin_policies["random_static"]],
        budgets=[0.1],
        seeds=[0],
    )

    response = as_role("editor").delete(url(experiment))

    assert response.status_code == 200
    assert response.json() == {"runs": 4, "executions_deleted": 3, "executions_kept": 1}
    assert not Experiment.objects.filter(pk=experiment.pk).exists()
    assert Execution.objects.get() == other.runs.get().execution
    assert as_role("editor").get(url(experiment)).status_code == 404


@pytest.mark.parametrize("role, expected", [("viewer", 403), ("outsider", 404)])
def test_viewers_and_outsiders_cannot_delete(experiment, as_role, role, expected):
    assert as_role(role).delete(url(experiment)).status_code == expected
    assert Run.objects.filter(experiment=experiment).count() == 4

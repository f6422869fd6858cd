"""The extend page: add policies, budgets or seeds; only the runs the grid lacks are created."""

import pytest
from django.urls import reverse

from backend.experiments.models import Run, RunStatus


def extend_url(experiment):
    return reverse("experiment_extend", args=[experiment.pk])


def test_it_offers_only_the_policies_the_experiment_lacks(client_as, editor, experiment, builtin_policies):
    response = client_as(editor).get(extend_url(experiment))

    offered = set(response.context["form"].fields["policies"].queryset)
    assert response.status_code == 200
    assert builtin_policies["rs2_with_replacement"] in offered
    assert not offered & set(experiment.policies.all())


def test_adding_a_seed_creates_only_its_runs_and_keeps_the_others(client_as, editor, experiment):
    before = {run.pk: (run.execution_id, run.status) for run in experiment.runs.select_related("execution")}

    response = client_as(editor).post(extend_url(experiment), {"seeds": "1", "budgets": ""})

    assert response.status_code == 302 and response.url == reverse("experiment_detail", args=[experiment.pk])
    assert experiment.runs.count() == 8
    assert {
        run.pk: (run.execution_id, run.status)
        for run in experiment.runs.filter(pk__in=before).select_related("execution")
    } == before
    assert {run.status for run in experiment.runs.filter(seed=1).select_related("execution")} == {RunStatus.QUEUED}


def test_adding_a_budget_as_a_percentage(client_as, editor, experiment):
    client_as(editor).post(extend_url(experiment), {"budgets": "50 %"})

    assert set(experiment.runs.values_list("budget", flat=True)) == {0.1, 0.3, 0.5}


@pytest.mark.parametrize(
    "post, field, message",
    [
        ({}, "__all__", "Add at least one policy, budget or seed."),
        ({"seeds": "0"}, "seeds", "Seed 0 is already in this experiment."),
        ({"seeds": "1.5"}, "seeds", "whole number"),
        ({"budgets": "10"}, "budgets", "already in this experiment"),
    ],
)
def test_a_bad_addition_is_shown_next_to_its_field_and_adds_nothing(
    client_as, editor, experiment, post, field, message
):
    response = client_as(editor).post(extend_url(experiment), post)

    assert response.status_code == 400
    assert message in str(response.context["form"].errors[field])
    assert Run.objects.count() == 4


def test_a_viewer_gets_403_and_an_outsider_404(client_as, viewer, outsider, other_team, experiment):
    assert client_as(viewer).get(extend_url(experiment)).status_code == 403
    assert client_as(viewer).post(extend_url(experiment), {"seeds": "1"}).status_code == 403
    assert client_as(outsider).post(extend_url(experiment), {"seeds": "1"}).status_code == 404
    assert Run.objects.count() == 4

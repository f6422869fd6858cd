"""Deleting an experiment from its page: a confirmation step, then its runs go and shared executions stay."""

import pytest
from django.urls import reverse

from backend.experiments.models import Execution, Experiment, Run
from backend.experiments.services import experiment_create


def delete_url(experiment):
    return reverse("experiment_delete", args=[experiment.pk])


@pytest.fixture
def sharing(experiment, owner, builtin_policies):
    """Another experiment sharing one of ``experiment``'s four executions."""
    return experiment_create(
        team=experiment.team,
        user=owner,
        name="Static at 10 %",
        dataset=experiment.dataset,
        model="mlp",
        recipe={"rounds": 20, "target_accuracy": 0.8},
        policies=[builtin_policies["random_static"]],
        budgets=[0.1],
        seeds=[0],
    )


def test_the_confirmation_says_what_goes_and_what_stays_and_deletes_nothing(client_as, editor, experiment, sharing):
    response = client_as(editor).get(delete_url(experiment))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-deletion-runs="4"' in html and 'data-deletion-executions="3"' in html
    assert 'data-deletion-kept="1"' in html
    assert Run.objects.filter(experiment=experiment).count() == 4


def test_confirming_deletes_it_and_returns_to_the_team(client_as, editor, experiment, sharing):
    response = client_as(editor).post(delete_url(experiment), follow=True)

    assert response.redirect_chain[-1][0] == reverse("team_dashboard", args=[experiment.team.slug])
    assert "Deleted RS2 vs static on digits and its 4 runs. 1 shared with other experiments stay" in (
        response.content.decode()
    )
    assert not Experiment.objects.filter(pk=experiment.pk).exists()
    assert Execution.objects.get() == sharing.runs.get().execution


def test_editors_see_the_delete_button_and_viewers_do_not(client_as, editor, viewer, experiment):
    detail = reverse("experiment_detail", args=[experiment.pk])

    assert 'data-action="delete-experiment"' in client_as(editor).get(detail).content.decode()
    assert 'data-action="delete-experiment"' not in client_as(viewer).get(detail).content.decode()


def test_a_viewer_gets_403_and_an_outsider_404(client_as, viewer, outsider, other_team, experiment):
    assert client_as(viewer).get(delete_url(experiment)).status_code == 403
    assert client_as(viewer).post(delete_url(experiment)).status_code == 403
    assert client_as(outsider).post(delete_url(experiment)).status_code == 404
    assert Experiment.objects.filter(pk=experiment.pk).exists()

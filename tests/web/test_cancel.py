import pytest
from django.urls import reverse

from backend.experiments.models import RunStatus


def run_cancel_url(run):
    return reverse("run_cancel", args=[run.pk])


def experiment_cancel_url(experiment):
    return reverse("experiment_cancel", args=[experiment.pk])


def statuses(experiment):
    return sorted(run.status for run in experiment.runs.select_related("execution"))


@pytest.mark.parametrize("member", ["owner", "editor"])
def test_an_editor_cancels_an_active_run(client_as, request, member, experiment):
    run = experiment.runs.get(execution__status=RunStatus.RUNNING)

    response = client_as(request.getfixturevalue(member)).post(run_cancel_url(run), follow=True)

    run.refresh_from_db()
    run.execution.refresh_from_db()
    assert run.status == RunStatus.CANCELED and run.canceled_at is not None
    # No other experiment needs its execution, so the execution stops too.
    assert run.execution.status == RunStatus.CANCELED and run.execution.finished_at is not None
    assert response.redirect_chain[-1][0] == reverse("experiment_detail", args=[experiment.pk])
    assert f"Canceled the run of {run.policy.name} at {round(run.budget * 100)} %, seed 0." in response.content.decode()


def test_cancelling_a_finished_run_says_why_and_changes_nothing(client_as, editor, experiment):
    run = experiment.runs.get(execution__status=RunStatus.SUCCEEDED)

    response = client_as(editor).post(run_cancel_url(run), follow=True)

    run.execution.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert "Run is already succeeded." in response.content.decode()


def test_a_viewer_cannot_cancel(client_as, viewer, experiment):
    before = statuses(experiment)
    run = experiment.runs.get(execution__status=RunStatus.RUNNING)

    assert client_as(viewer).post(run_cancel_url(run)).status_code == 403
    assert client_as(viewer).post(experiment_cancel_url(experiment)).status_code == 403
    assert statuses(experiment) == before


def test_a_viewer_is_told_why_not(client_as, viewer, experiment):
    run = experiment.runs.get(execution__status=RunStatus.RUNNING)

    response = client_as(viewer).post(run_cancel_url(run))

    assert "Not allowed" in response.content.decode()
    assert "Your role (viewer) does not allow this." in response.content.decode()


def test_an_outsider_gets_404(client_as, outsider, other_team, experiment):
    before = statuses(experiment)
    run = experiment.runs.get(execution__status=RunStatus.QUEUED)

    assert client_as(outsider).post(run_cancel_url(run)).status_code == 404
    assert client_as(outsider).post(experiment_cancel_url(experiment)).status_code == 404
    assert statuses(experiment) == before


def test_cancelling_an_experiment_cancels_only_its_active_runs(client_as, editor, experiment):
    response = client_as(editor).post(experiment_cancel_url(experiment), follow=True)

    assert statuses(experiment) == ["canceled", "canceled", "failed", "succeeded"]
    assert "Canceled 2 runs." in response.content.decode()


def test_cancelling_only_accepts_post(client_as, editor, experiment):
    run = experiment.runs.get(execution__status=RunStatus.RUNNING)

    assert client_as(editor).get(run_cancel_url(run)).status_code == 405
    assert client_as(editor).get(experiment_cancel_url(experiment)).status_code == 405
    run.execution.refresh_from_db()
    assert run.status == RunStatus.RUNNING

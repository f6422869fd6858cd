"""Retrying failed runs from the experiment page (all of them) and from a run's page (that one)."""

from django.urls import reverse

from backend.experiments.models import RunStatus


def failed_run(experiment):
    return experiment.runs.get(execution__status=RunStatus.FAILED)


def statuses(experiment):
    return {run.pk: run.status for run in experiment.runs.select_related("execution")}


def test_the_experiment_page_offers_to_retry_its_failed_runs(client_as, editor, viewer, experiment):
    detail = reverse("experiment_detail", args=[experiment.pk])

    assert "Retry 1 failed run<" in client_as(editor).get(detail).content.decode()
    assert 'data-action="retry-failed"' not in client_as(viewer).get(detail).content.decode()


def test_retrying_queues_the_failed_run_and_leaves_the_others(client_as, editor, experiment):
    failed = failed_run(experiment)
    before = statuses(experiment)

    response = client_as(editor).post(reverse("experiment_retry_failed", args=[experiment.pk]), follow=True)

    assert "Queued 1 failed run again." in response.content.decode()
    assert statuses(experiment) == {**before, failed.pk: RunStatus.QUEUED}


def test_a_failed_runs_page_retries_it(client_as, editor, experiment):
    failed = failed_run(experiment)
    page = reverse("run_detail", args=[failed.pk])
    assert 'data-action="retry-run"' in client_as(editor).get(page).content.decode()

    response = client_as(editor).post(reverse("run_retry", args=[failed.pk]))

    assert response.status_code == 302 and response.url == page
    assert statuses(experiment)[failed.pk] == RunStatus.QUEUED


def test_a_run_that_has_not_failed_is_not_retried(client_as, editor, experiment):
    succeeded = experiment.runs.get(execution__status=RunStatus.SUCCEEDED)
    assert (
        'data-action="retry-run"'
        not in client_as(editor).get(reverse("run_detail", args=[succeeded.pk])).content.decode()
    )

    response = client_as(editor).post(reverse("run_retry", args=[succeeded.pk]), follow=True)

    assert "Only a failed run can be retried; this one is succeeded." in response.content.decode()
    assert statuses(experiment)[succeeded.pk] == RunStatus.SUCCEEDED


def test_viewers_and_outsiders_cannot_retry(client_as, viewer, outsider, other_team, experiment):
    failed = failed_run(experiment)

    assert client_as(viewer).post(reverse("experiment_retry_failed", args=[experiment.pk])).status_code == 403
    assert client_as(viewer).post(reverse("run_retry", args=[failed.pk])).status_code == 403
    assert client_as(outsider).post(reverse("run_retry", args=[failed.pk])).status_code == 404
    assert client_as(viewer).get(reverse("experiment_retry_failed", args=[experiment.pk])).status_code == 405
    assert statuses(experiment)[failed.pk] == RunStatus.FAILED

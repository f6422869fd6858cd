"""POST /experiments/<id>/retry-failed/ and /runs/<id>/retry/: failed runs queued again, for editors."""

import pytest
from django.urls import reverse

from backend.experiments.models import RunStatus
from tests.conftest import set_execution


@pytest.fixture
def failed(experiment):
    run = experiment.runs.order_by("pk").first()
    set_execution(run, status=RunStatus.FAILED, error="boom")
    return run


def statuses(experiment):
    return sorted(run.status for run in experiment.runs.select_related("execution"))


def test_an_editor_retries_every_failed_run(experiment, failed, as_role):
    response = as_role("editor").post(reverse("api-experiment-retry-failed", args=[experiment.pk]))

    assert response.status_code == 200
    assert response.json() == {"retried": 1, "executions": 1}
    assert statuses(experiment) == [RunStatus.QUEUED] * 4


def test_one_failed_run_is_retried(failed, as_role):
    response = as_role("owner").post(reverse("api-run-retry", args=[failed.pk]))

    assert response.status_code == 200
    assert response.json()["status"] == RunStatus.QUEUED and response.json()["error"] in ("", None)


def test_a_run_that_has_not_failed_is_a_409(experiment, failed, as_role):
    queued = experiment.runs.exclude(pk=failed.pk).first()

    response = as_role("editor").post(reverse("api-run-retry", args=[queued.pk]))

    assert response.status_code == 409 and "status" in response.json()


@pytest.mark.parametrize("role, expected", [("viewer", 403), ("outsider", 404)])
def test_viewers_and_outsiders_cannot_retry(experiment, failed, as_role, role, expected):
    client = as_role(role)

    assert client.post(reverse("api-experiment-retry-failed", args=[experiment.pk])).status_code == expected
    assert client.post(reverse("api-run-retry", args=[failed.pk])).status_code == expected
    assert RunStatus.FAILED in statuses(experiment)

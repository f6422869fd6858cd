"""Runs execute on a real worker through the real broker, end to end."""

from __future__ import annotations

import pytest

from backend.datasets.services import dataset_create_builtin
from backend.experiments.models import Run, RunMetric, RunStatus
from tests.workers.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def digits(team, owner, settings, start_worker):
    # start_worker has pointed SAMPLEWISE_DATA_DIR at this test's folder.
    return dataset_create_builtin(team=team, user=owner, name="digits", builtin="digits")


def post_experiment(client, team, dataset, policies, **fields):
    payload = {
        "team": team.pk,
        "name": "digits sweep",
        "dataset": dataset.pk,
        "model": "mlp",
        "recipe": {"rounds": 3, "batch_size": 64, "target_accuracy": 0.5},
        "policies": [policy.pk for policy in policies],
        "budgets": [0.3],
        "seeds": [0],
        "queue": "cpu",
    }
    payload.update(fields)
    response = client.post("/api/v1/experiments/", payload, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def run_status(run_id: int) -> str:
    return Run.objects.values_list("status", flat=True).get(pk=run_id)


def test_an_experiment_created_through_the_api_runs_to_completion(
    team, editor, digits, builtin_policies, client_for, start_worker
):
    worker = start_worker()
    policies = [builtin_policies["rs2_without_replacement"], builtin_policies["random_static"]]
    experiment_id = post_experiment(client_for(editor), team, digits, policies, seeds=[0, 1])

    runs = Run.objects.filter(experiment_id=experiment_id)
    wait_for(
        lambda: runs.filter(status=RunStatus.SUCCEEDED).count() == 4,
        timeout=120,
        message=f"4 succeeded runs; worker log:\n{worker.log()}",
    )
    for run in runs:
        metrics = list(RunMetric.objects.filter(run=run).order_by("epoch"))
        assert [metric.epoch for metric in metrics] == [1, 2, 3]
        assert run.final_accuracy == metrics[-1].test_accuracy > 0.5
        assert run.training_seconds > 0 and run.selection_seconds >= 0
        assert run.attempt == 1 and run.worker.startswith("test-")
        # Time-to-accuracy: selection + cumulative training at the first evaluation reaching the target.
        first_hit = next(metric for metric in metrics if metric.test_accuracy >= 0.5)
        assert run.time_to_target_seconds == pytest.approx(first_hit.wall_clock_seconds)
        assert metrics[-1].wall_clock_seconds == pytest.approx(run.selection_seconds + run.training_seconds)


def test_a_running_run_is_canceled_and_keeps_its_metrics(
    team, editor, digits, builtin_policies, client_for, start_worker
):
    worker = start_worker()
    experiment_id = post_experiment(
        client_for(editor),
        team,
        digits,
        [builtin_policies["rs2_with_replacement"]],
        recipe={"rounds": 5000, "batch_size": 16, "eval_every": 1},
    )
    run = Run.objects.get(experiment_id=experiment_id)
    wait_for(
        lambda: RunMetric.objects.filter(run=run).count() >= 2,
        timeout=120,
        message=f"the run to record metrics; worker log:\n{worker.log()}",
    )

    response = client_for(editor).post(f"/api/v1/runs/{run.pk}/cancel/")
    assert response.status_code == 200, response.content

    wait_for(lambda: "'canceled'" in worker.log(), timeout=30, message="the worker to stop the run")
    kept = RunMetric.objects.filter(run=run).count()
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED
    assert kept >= 2 and run.training_seconds > 0
    assert kept < 5000


def test_a_run_whose_training_raises_is_failed_with_its_message(
    team, editor, digits, builtin_policies, client_for, start_worker
):
    worker = start_worker()
    # The 1-D CNN takes sequences; digits are images, so training refuses to start.
    experiment_id = post_experiment(client_for(editor), team, digits, [builtin_policies["full"]], model="cnn1d")
    run = Run.objects.get(experiment_id=experiment_id)

    wait_for(lambda: run_status(run.pk) == RunStatus.FAILED, timeout=60, message=f"failure; log:\n{worker.log()}")
    run.refresh_from_db()
    assert "cnn1d takes sequence inputs; this dataset holds image inputs" in run.error
    assert len(run.error.splitlines()) <= 12  # the traceback's last lines, not the whole stack
    assert not RunMetric.objects.filter(run=run).exists()

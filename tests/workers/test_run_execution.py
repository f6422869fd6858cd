"""Runs execute on a real worker through the real broker, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.datasets.models import Dataset
from backend.datasets.services import dataset_create_builtin
from backend.experiments.execution import execution_checkpoint_dir
from backend.experiments.models import Attempt, Execution, Run, RunMetric, RunStatus
from tests.workers.conftest import run_status, wait_for
from workers.engine.datasets import load_dataset
from workers.engine.strategies.base import budget_count
from workers.engine.version import ENGINE_VERSION, engine_commit

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


def test_an_experiment_created_through_the_api_runs_to_completion(
    team, editor, digits, builtin_policies, client_for, start_worker, settings
):
    worker = start_worker()
    client = client_for(editor)
    policies = [builtin_policies["rs2_without_replacement"], builtin_policies["random_static"]]
    experiment_id = post_experiment(client, team, digits, policies, seeds=[0, 1])

    runs = Run.objects.filter(experiment_id=experiment_id).select_related("execution")
    wait_for(
        lambda: runs.filter(execution__status=RunStatus.SUCCEEDED).count() == 4,
        timeout=120,
        message=f"4 succeeded runs; worker log:\n{worker.log()}",
    )
    arrays = load_dataset(digits.sha256, settings.SAMPLEWISE_DATA_DIR)
    for run in runs:
        execution = run.execution
        metrics = list(RunMetric.objects.filter(execution=execution).order_by("epoch"))
        assert [metric.epoch for metric in metrics] == [1, 2, 3]
        assert execution.final_accuracy == metrics[-1].test_accuracy > 0.5
        assert execution.training_seconds > 0 and execution.selection_seconds >= 0
        assert execution.attempt == 1 and execution.worker.startswith("test-")
        assert (execution.rounds_completed, execution.rounds_planned) == (3, 3)
        # Provenance of the worker that trained it.
        assert (execution.device_name, execution.torch_version) == ("cpu", torch.__version__)
        assert (execution.engine_version, execution.engine_commit) == (ENGINE_VERSION, engine_commit())
        # The stored predictions are the final model's: they give exactly its test accuracy.
        predictions = np.frombuffer(bytes(execution.test_predictions), dtype=execution.test_predictions_dtype)
        assert len(predictions) == len(arrays.y_test)
        assert (predictions == arrays.y_test).mean() == pytest.approx(execution.final_accuracy)
        # Time-to-accuracy is read from the curve: selection + training at the first evaluation reaching the target.
        first_hit = next(metric for metric in metrics if metric.test_accuracy >= 0.5)
        body = client.get(f"/api/v1/runs/{run.pk}/").json()
        assert body["time_to_target_seconds"] == pytest.approx(first_hit.wall_clock_seconds)
        assert metrics[-1].wall_clock_seconds == pytest.approx(execution.selection_seconds + execution.training_seconds)
        # The data it used, from the stored total, is the engine's own running mean at the last round: r·N a round.
        assert body["data_fraction"] == pytest.approx(metrics[-1].data_fraction)
        assert body["data_fraction"] == pytest.approx(budget_count(0.3, len(arrays.y_train)) / len(arrays.y_train))
        # A succeeded execution keeps no checkpoint.
        assert execution.checkpoint == "" and not execution_checkpoint_dir(execution.pk).exists()
        assert list(Attempt.objects.filter(execution=execution).values_list("number", "outcome")) == [(1, "succeeded")]


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
        lambda: RunMetric.objects.filter(execution=run.execution_id).count() >= 2,
        timeout=120,
        message=f"the run to record metrics; worker log:\n{worker.log()}",
    )

    response = client_for(editor).post(f"/api/v1/runs/{run.pk}/cancel/")
    assert response.status_code == 200, response.content

    wait_for(
        lambda: Attempt.objects.filter(execution=run.execution_id, outcome="canceled").exists(),
        timeout=30,
        message=f"the worker to stop the run; log:\n{worker.log()}",
    )
    kept = RunMetric.objects.filter(execution=run.execution_id).count()
    execution = Execution.objects.get(pk=run.execution_id)
    assert run_status(run.pk) == RunStatus.CANCELED and execution.status == RunStatus.CANCELED
    assert kept >= 2 and execution.training_seconds > 0
    assert kept < 5000
    # Stopped, not finished: the checkpoint stays, so a later experiment asking for it resumes.
    assert execution.checkpoint and execution.checkpoint_round >= 2


def test_a_model_that_cannot_read_the_dataset_is_refused_before_anything_runs(
    team, editor, digits, builtin_policies, client_for
):
    payload = {
        "team": team.pk,
        "name": "wrong model",
        "dataset": digits.pk,
        "model": "cnn1d",
        "policies": [builtin_policies["full"].pk],
        "budgets": [0.3],
        "seeds": [0],
    }

    response = client_for(editor).post("/api/v1/experiments/", payload, format="json")

    assert response.status_code == 400
    assert "cnn1d reads sequence inputs" in response.json()["model"][0]
    assert not Execution.objects.exists()


def test_a_run_whose_training_raises_is_failed_with_its_message(
    team, editor, digits, builtin_policies, client_for, start_worker
):
    worker = start_worker()
    # A dataset recorded before input kinds were stored passes the check at creation; the engine refuses it.
    Dataset.objects.filter(pk=digits.pk).update(input_kind="")
    experiment_id = post_experiment(client_for(editor), team, digits, [builtin_policies["full"]], model="cnn1d")
    run = Run.objects.get(experiment_id=experiment_id)

    wait_for(lambda: run_status(run.pk) == RunStatus.FAILED, timeout=60, message=f"failure; log:\n{worker.log()}")
    execution = Execution.objects.get(pk=run.execution_id)
    assert "cnn1d takes sequence inputs; this dataset holds image inputs" in execution.error
    assert len(execution.error.splitlines()) <= 12  # the traceback's last lines, not the whole stack
    assert not RunMetric.objects.filter(execution=execution).exists()
    assert Attempt.objects.get(execution=execution).outcome == "failed"

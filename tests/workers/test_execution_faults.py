"""The run lifecycle under faults, with real worker processes and the real broker.

Shared executions and cancellation, a worker that loses its lease, a database
that goes away mid-run, a broker that loses its messages, identical
configurations in two teams, and a queue no worker serves.
"""

from __future__ import annotations

import time

import pytest
from django.db.models import Count
from django.test import Client
from django.urls import reverse

from backend.datasets.services import dataset_create_builtin
from backend.experiments.execution import executions_reap, queue_name
from backend.experiments.models import Attempt, Execution, Queue, RunMetric, RunStatus
from backend.experiments.selectors import live_workers
from backend.experiments.services import experiment_cancel, experiment_create
from tests.workers.conftest import run_status, wait_for
from tests.workers.proxy import CuttableProxy

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def digits(team, owner, start_worker):
    # start_worker has pointed SAMPLEWISE_DATA_DIR at this test's folder.
    return dataset_create_builtin(team=team, user=owner, name="digits", builtin="digits")


@pytest.fixture
def make_experiment(team, editor, digits, builtin_policies):
    def make(name: str, *, rounds: int = 20, seeds=(0,), team_=None, user=None, dataset=None, **overrides):
        arguments = dict(
            team=team_ or team,
            user=user or editor,
            name=name,
            dataset=dataset or digits,
            model="mlp",
            recipe={"rounds": rounds, "batch_size": 16, "eval_every": 1},
            policies=[builtin_policies["rs2_without_replacement"]],
            budgets=[0.5],
            seeds=list(seeds),
        )
        arguments.update(overrides)
        return experiment_create(**arguments)

    return make


def status_of(execution) -> str:
    return Execution.objects.values_list("status", flat=True).get(pk=execution.pk)


def metric_count(execution) -> int:
    return RunMetric.objects.filter(execution=execution).count()


def assert_one_row_per_epoch(execution, rounds: int) -> None:
    epochs = RunMetric.objects.filter(execution=execution).values("epoch").annotate(rows=Count("id"))
    assert sorted(row["epoch"] for row in epochs) == list(range(1, rounds + 1))
    assert {row["rows"] for row in epochs} == {1}


# ---------------------------------------------------------------------------
# One execution, two experiments
# ---------------------------------------------------------------------------


def test_cancelling_one_of_two_experiments_that_share_an_execution_lets_the_other_finish(
    make_experiment, editor, start_worker
):
    worker = start_worker()
    first = make_experiment("first")
    second = make_experiment("second")
    execution = first.runs.get().execution
    assert second.runs.get().execution_id == execution.pk
    wait_for(lambda: metric_count(execution) >= 2, timeout=120, message=f"progress; log:\n{worker.log()}")

    withdrawal = experiment_cancel(experiment=first, user=editor)

    assert (withdrawal.cells, withdrawal.shared) == (1, 1)
    assert run_status(first.runs.get().pk) == RunStatus.CANCELED
    wait_for(
        lambda: status_of(execution) == RunStatus.SUCCEEDED,
        timeout=180,
        message=f"the shared execution to finish for the second experiment; log:\n{worker.log()}",
    )
    assert run_status(second.runs.get().pk) == RunStatus.SUCCEEDED
    assert_one_row_per_epoch(execution, 20)
    assert list(Attempt.objects.filter(execution=execution).values_list("outcome", flat=True)) == ["succeeded"]


def test_cancelling_the_last_experiment_that_needs_an_execution_stops_its_worker(make_experiment, editor, start_worker):
    worker = start_worker()
    first = make_experiment("first", rounds=5000)
    second = make_experiment("second", rounds=5000)
    execution = first.runs.get().execution
    wait_for(lambda: metric_count(execution) >= 2, timeout=120, message=f"progress; log:\n{worker.log()}")

    experiment_cancel(experiment=first, user=editor)
    time.sleep(2)
    assert status_of(execution) == RunStatus.RUNNING
    experiment_cancel(experiment=second, user=editor)

    wait_for(
        lambda: Attempt.objects.filter(execution=execution, outcome="canceled").exists(),
        timeout=30,
        message=f"the worker to stop; log:\n{worker.log()}",
    )
    assert status_of(execution) == RunStatus.CANCELED
    assert metric_count(execution) < 5000


# ---------------------------------------------------------------------------
# Two workers, one lease
# ---------------------------------------------------------------------------


def test_a_worker_that_lost_its_lease_stops_and_its_late_writes_are_refused(make_experiment, start_worker):
    rounds = 30
    stalled = start_worker()
    execution = make_experiment("contested", rounds=rounds).runs.get().execution
    wait_for(lambda: metric_count(execution) >= 3, timeout=120, message=f"progress; log:\n{stalled.log()}")

    # The first worker hangs (as a machine that loses its network would); its heartbeat goes stale.
    stalled.pause()
    successor = start_worker()
    wait_for(
        lambda: execution.pk in executions_reap(timeout_seconds=3).requeued,
        timeout=30,
        message="the reaper to give the execution to another worker",
    )
    wait_for(
        lambda: Execution.objects.get(pk=execution.pk).attempt == 2 and metric_count(execution) >= 6,
        timeout=120,
        message=f"the successor to make progress; log:\n{successor.log()}",
    )

    # The first worker wakes up still believing it holds the execution.
    stalled.resume()
    wait_for(
        lambda: "lost its lease" in stalled.log(),
        timeout=60,
        message=f"the stale worker to notice; log:\n{stalled.log()}",
    )
    wait_for(
        lambda: status_of(execution) == RunStatus.SUCCEEDED,
        timeout=180,
        message=f"the successor to finish; log:\n{successor.log()}",
    )

    execution.refresh_from_db()
    assert execution.attempt == 2 and execution.worker.startswith(successor.queue)
    assert_one_row_per_epoch(execution, rounds)
    attempts = list(Attempt.objects.filter(execution=execution).values_list("number", "outcome", "worker"))
    assert [(number, outcome) for number, outcome, _ in attempts] == [(1, "lost"), (2, "succeeded")]
    assert attempts[0][2] != attempts[1][2]
    # The stale worker's rounds after its lease was lost never reached the curve: every row
    # past the round the successor resumed from was written by the successor, after it claimed.
    successor_start = Attempt.objects.get(execution=execution, number=2).started_at
    late = RunMetric.objects.filter(execution=execution, epoch__gt=execution.resumed_from_round or 0)
    assert late.exists() and all(row.recorded_at >= successor_start for row in late)


# ---------------------------------------------------------------------------
# The database goes away
# ---------------------------------------------------------------------------


def test_a_run_rides_out_ten_seconds_without_its_database(make_experiment, start_worker, database_proxy):
    proxy, url = database_proxy
    rounds = 30
    worker = start_worker({"DATABASE_URL": url})
    execution = make_experiment("outage", rounds=rounds).runs.get().execution
    wait_for(lambda: metric_count(execution) >= 3, timeout=120, message=f"progress; log:\n{worker.log()}")

    proxy.cut()  # every connection of the worker drops, as in a database restart, and none can open
    time.sleep(10)
    during = metric_count(execution)
    proxy.restore()

    wait_for(
        lambda: status_of(execution) == RunStatus.SUCCEEDED,
        timeout=180,
        message=f"the run to finish after the outage; log:\n{worker.log()}",
    )
    assert during < rounds, "the outage must fall inside the run"
    assert "retrying" in worker.log()
    execution.refresh_from_db()
    assert execution.attempt == 1 and execution.requeues == 0
    assert_one_row_per_epoch(execution, rounds)
    assert list(Attempt.objects.filter(execution=execution).values_list("outcome", flat=True)) == ["succeeded"]


def test_a_database_outage_longer_than_the_retry_window_gives_the_run_back_instead_of_failing_it(
    make_experiment, start_worker, database_proxy
):
    proxy, url = database_proxy
    rounds = 30
    worker = start_worker({"DATABASE_URL": url, "SAMPLEWISE_TRANSIENT_RETRY_SECONDS": "3"})
    execution = make_experiment("long outage", rounds=rounds).runs.get().execution
    wait_for(lambda: metric_count(execution) >= 3, timeout=120, message=f"progress; log:\n{worker.log()}")

    proxy.cut()
    wait_for(
        lambda: "giving it back after a transient fault" in worker.log(),
        timeout=60,
        message=f"the worker to give up retrying; log:\n{worker.log()}",
    )
    # The worker could not even record that; the reaper, which still reaches the database, requeues it.
    reaped = wait_for(
        lambda: executions_reap(timeout_seconds=3).requeued, timeout=30, message="the reaper to requeue it"
    )
    assert reaped == [execution.pk]
    proxy.restore()

    wait_for(
        lambda: status_of(execution) == RunStatus.SUCCEEDED,
        timeout=180,
        message=f"the run to finish on its next attempt; log:\n{worker.log()}",
    )
    execution.refresh_from_db()
    assert execution.attempt == 2 and execution.resumed_from_round >= 3
    assert_one_row_per_epoch(execution, rounds)


# ---------------------------------------------------------------------------
# The broker loses its messages
# ---------------------------------------------------------------------------


def test_runs_whose_messages_the_broker_lost_are_sent_again_and_finish(make_experiment, start_worker):
    from workers.celery import app

    experiment = make_experiment("purged", rounds=2, seeds=range(4))
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue_name(Queue.CPU))
    worker = start_worker()
    time.sleep(3)
    executions = Execution.objects.filter(cells__experiment=experiment)
    assert set(executions.values_list("status", flat=True)) == {RunStatus.QUEUED}

    report = executions_reap(claim_timeout_seconds=0)

    assert sorted(report.resent) == sorted(executions.values_list("pk", flat=True))
    wait_for(
        lambda: executions.filter(status=RunStatus.SUCCEEDED).count() == 4,
        timeout=120,
        message=f"the re-sent runs to finish; log:\n{worker.log()}",
    )
    assert set(executions.values_list("attempt", flat=True)) == {1}
    # Nothing is lost any more, so the next pass sends nothing.
    assert executions_reap(claim_timeout_seconds=0).resent == []


# ---------------------------------------------------------------------------
# Two teams, one configuration
# ---------------------------------------------------------------------------


def test_identical_configurations_in_two_teams_train_separately_with_their_own_checkpoints(
    make_experiment, other_team, outsider, start_worker, settings
):
    worker = start_worker({"SAMPLEWISE_KEEP_CHECKPOINTS": "true"})
    ours = make_experiment("ours", rounds=6).runs.get().execution
    their_digits = dataset_create_builtin(team=other_team, user=outsider, name="digits", builtin="digits")
    theirs = make_experiment("theirs", rounds=6, team_=other_team, user=outsider, dataset=their_digits)
    theirs = theirs.runs.get().execution
    assert their_digits.sha256 == ours.config["dataset_sha256"] and theirs.config == ours.config

    wait_for(
        lambda: status_of(ours) == status_of(theirs) == RunStatus.SUCCEEDED,
        timeout=180,
        message=f"both runs; log:\n{worker.log()}",
    )

    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.pk != theirs.pk and ours.attempt == theirs.attempt == 1
    for execution in (ours, theirs):
        assert execution.resumed_from_round is None  # neither started from the other's file
        assert_one_row_per_epoch(execution, 6)
    checkpoint_dirs = {
        path.parent for path in (settings.SAMPLEWISE_DATA_DIR / "checkpoints" / "executions").glob("*/attempt-*.pt")
    }
    assert {path.name for path in checkpoint_dirs} == {str(ours.pk), str(theirs.pk)}
    assert ours.training_seconds != theirs.training_seconds


# ---------------------------------------------------------------------------
# A queue no worker serves
# ---------------------------------------------------------------------------


def test_a_gpu_experiment_with_only_a_cpu_worker_online_says_why_it_waits(make_experiment, viewer, start_worker):
    start_worker()
    experiment = make_experiment("needs a GPU", queue=Queue.GPU, seeds=(0, 1))
    wait_for(lambda: live_workers().exists(), timeout=30, message="the CPU worker's presence")
    time.sleep(2)

    client = Client()
    client.force_login(viewer)
    html = client.get(reverse("experiment_detail", args=[experiment.pk])).content.decode()
    api = client.get(reverse("api-experiment", args=[experiment.pk])).json()

    assert "No GPU worker is online: 2 queued runs of this experiment wait" in html
    assert api["waiting"] == [
        {"device_kind": "cuda", "queue": queue_name(Queue.GPU), "runs": 2, "reason": "No GPU worker is online"}
    ]
    assert set(Execution.objects.filter(cells__experiment=experiment).values_list("status", flat=True)) == {
        RunStatus.QUEUED
    }
    assert not Attempt.objects.filter(execution__cells__experiment=experiment).exists()


# ---------------------------------------------------------------------------
# The dataset cannot be fetched for a while
# ---------------------------------------------------------------------------


def test_a_worker_retries_a_dataset_fetch_until_the_web_app_answers(
    make_experiment, start_worker, live_server, settings, tmp_path
):
    token = "worker-secret-for-this-test-only-0123456789"
    settings.SAMPLEWISE_WORKER_TOKEN = token
    host, port = live_server.url.removeprefix("http://").split(":")
    proxy = CuttableProxy.to_tcp(host, int(port))
    proxy.cut()
    try:
        worker = start_worker(
            {
                "SAMPLEWISE_DATA_DIR": str(tmp_path / "remote-data"),
                "SAMPLEWISE_API_URL": f"http://127.0.0.1:{proxy.port}",
                "SAMPLEWISE_WORKER_TOKEN": token,
            }
        )
        execution = make_experiment("remote", rounds=2).runs.get().execution
        wait_for(
            lambda: "fetching the dataset failed" in worker.log(),
            timeout=60,
            message=f"a failed fetch; log:\n{worker.log()}",
        )
        assert status_of(execution) == RunStatus.RUNNING
        # The heartbeat runs from the claim on, so a slow fetch does not look like a dead worker.
        beat = Execution.objects.get(pk=execution.pk).heartbeat_at
        wait_for(
            lambda: Execution.objects.get(pk=execution.pk).heartbeat_at > beat,
            timeout=15,
            message="a heartbeat while the dataset cannot be fetched",
        )
        assert executions_reap(timeout_seconds=5).requeued == []
        proxy.restore()

        wait_for(
            lambda: status_of(execution) == RunStatus.SUCCEEDED,
            timeout=120,
            message=f"the run once the fetch succeeds; log:\n{worker.log()}",
        )
    finally:
        proxy.close()
    execution.refresh_from_db()
    assert execution.attempt == 1

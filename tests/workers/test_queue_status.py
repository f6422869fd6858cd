"""Queue depth comes from the broker itself; live workers from their presence."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from backend.experiments.execution import queue_name
from backend.experiments.selectors import queue_overview
from backend.experiments.services import experiment_create
from tests.workers.conftest import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_it_counts_the_messages_waiting_in_the_broker(team, editor, dataset, builtin_policies):
    before = {queue["name"]: queue for queue in queue_overview()["queues"]}
    experiment_create(
        team=team,
        user=editor,
        name="waiting",
        dataset=dataset,
        model="mlp",
        recipe={},
        policies=[builtin_policies["rs2_without_replacement"], builtin_policies["random_static"]],
        budgets=[0.1, 0.2],
        seeds=[0],
    )

    after = {queue["name"]: queue for queue in queue_overview()["queues"]}
    cpu = queue_name("cpu")
    assert after[cpu]["messages"] - before[cpu]["messages"] == 4
    assert after[cpu]["runs_queued"] == 4
    output = io.StringIO()
    call_command("queue_status", stdout=output)
    assert cpu in output.getvalue()
    assert "Waiting: No CPU worker is online; 4 execution(s) queued" in output.getvalue()


def test_a_running_worker_is_listed_with_its_queues_until_it_stops(start_worker):
    worker = start_worker()

    overview = wait_for(lambda: queue_overview()["workers"] or None, timeout=30, message="the worker's presence")

    [row] = overview
    assert row["name"].startswith(worker.queue) and row["queues"] == [queue_name("cpu")]
    assert row["device_kind"] == "cpu"
    worker.stop()
    assert queue_overview()["workers"] == []

"""Queue depth comes from the broker itself, and live workers from the runs they hold."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from backend.experiments.execution import queue_name
from backend.experiments.selectors import queue_overview
from backend.experiments.services import experiment_create

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

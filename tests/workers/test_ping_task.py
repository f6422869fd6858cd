"""A task goes through the real broker to a real worker process and its answer comes back."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from workers.tasks import ping


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_answers_through_the_broker_using_the_same_database(start_worker):
    worker = start_worker()
    token = uuid.uuid4().hex

    answer = ping.apply_async(args=[token], queue=worker.queue).get(timeout=60)

    assert answer["token"] == token
    assert answer["database"] == connection.settings_dict["NAME"]
    assert answer["pid"] != worker.process.pid  # ran in the pool child, not the parent
    assert "Task workers.ping[" in worker.log()

"""Celery tasks: thin adapters that take ids, load rows and call services or the engine."""

from __future__ import annotations

import os
import socket

from django.conf import settings

from workers.celery import app


@app.task(name="workers.ping")
def ping(token: str) -> dict:
    """Answer with the token, the worker's host and its view of the database.

    Used by health checks and tests to prove a worker is alive and wired to
    Django and the same Postgres as the web app.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        (database,) = cursor.fetchone()
    return {"token": token, "host": socket.gethostname(), "pid": os.getpid(), "database": database}


@app.task(
    name="workers.execute_run",
    bind=True,
    # Acknowledged only when done, and given back if the worker dies, so a
    # crash never loses a run; a duplicate is refused by the execution's claim.
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    time_limit=settings.SAMPLEWISE_RUN_TIME_LIMIT_SECONDS,
)
def execute_run(self, execution_id: int) -> str:
    from workers.execution import execute

    return execute(execution_id, worker=self.request.hostname or socket.gethostname())


@app.task(name="workers.reap_stale_runs", ignore_result=True)
def reap_stale_runs() -> dict:
    from backend.experiments.execution import executions_reap
    from backend.experiments.presence import worker_presence_forget_stale

    report = executions_reap()
    worker_presence_forget_stale()
    return {
        "requeued": report.requeued,
        "failed": report.failed,
        "resent": report.resent,
        "removed_checkpoints": report.removed_checkpoints,
    }

"""Celery tasks: thin adapters that take ids, load rows and call services or the engine."""

from __future__ import annotations

import os
import socket

from django.conf import settings

from workers.celery import app

# An import decodes at most a SAMPLEWISE_MAX_UPLOAD_BYTES upload; one that runs this long is stuck.
IMPORT_SOFT_TIME_LIMIT_SECONDS = 2 * 3600
IMPORT_TIME_LIMIT_SECONDS = IMPORT_SOFT_TIME_LIMIT_SECONDS + 60


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


@app.task(
    name="workers.import_dataset",
    # As for runs: acknowledged when done and given back if the worker dies; a
    # duplicate finds the import finished or claimed and does nothing.
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=IMPORT_SOFT_TIME_LIMIT_SECONDS,
    time_limit=IMPORT_TIME_LIMIT_SECONDS,
)
def import_dataset(dataset_id: int) -> str:
    from backend.datasets.jobs import run_import

    return run_import(dataset_id)


@app.task(name="workers.reap_stale_runs", ignore_result=True)
def reap_stale_runs() -> dict:
    from backend.datasets.imports import dataset_imports_reap
    from backend.experiments.execution import executions_reap
    from backend.experiments.presence import worker_presence_forget_stale

    report = executions_reap()
    imports = dataset_imports_reap()
    worker_presence_forget_stale()
    return {
        "requeued": report.requeued,
        "failed": report.failed,
        "resent": report.resent,
        "removed_checkpoints": report.removed_checkpoints,
        "imports_resent": imports.resent,
        "removed_uploads": imports.removed_uploads,
    }

"""Celery tasks: thin adapters that take ids, load rows and call services or the engine."""

from __future__ import annotations

import os
import socket

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

"""Embedded services for a checkout with no external Postgres or broker.

With no ``DATABASE_URL`` a PostgreSQL server (the ``pgserver`` package) is
started under ``var/pgdata`` and left running for the next process to reuse;
with no ``CELERY_BROKER_URL`` Celery uses kombu's filesystem transport under
``var/broker``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

EMBEDDED_DATABASE_NAME = "samplewise"


def embedded_database(var_dir: Path) -> dict:
    """Start (or reuse) the embedded PostgreSQL and return Django's DATABASES entry."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
        warnings.simplefilter("ignore")
        import pgserver

    pgdata = var_dir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process so the web server,
    # the worker and management commands share one instance.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE_NAME};")
    info = server.get_postmaster_info()
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": EMBEDDED_DATABASE_NAME,
        "USER": "postgres",
        "HOST": str(info.socket_dir) if info.socket_dir else (info.hostname or "127.0.0.1"),
        "PORT": "" if info.socket_dir else str(info.port),
    }


def filesystem_broker_options(var_dir: Path) -> dict:
    """Transport options for kombu's filesystem broker, creating its folders."""
    broker_dir = var_dir / "broker"
    queue_dir = broker_dir / "queue"
    processed_dir = broker_dir / "processed"
    control_dir = broker_dir / "control"
    for folder in (queue_dir, processed_dir, control_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue_dir),
        "data_folder_out": str(queue_dir),
        "processed_folder": str(processed_dir),
        "control_folder": str(control_dir),
        "store_processed": False,
        # Look for new messages five times a second rather than once (kombu's default).
        "polling_interval": 0.2,
    }

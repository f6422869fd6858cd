"""A real Celery worker process wired to the test database and the configured broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url_for_current_connection(*, host: str | None = None, port: int | None = None) -> str:
    """A DATABASE_URL naming the database this test process uses (the test database).

    ``host`` and ``port`` replace the server's address (to route a worker through a proxy).
    """
    params = connection.settings_dict
    host = host or params.get("HOST") or "127.0.0.1"
    if host.startswith("/"):
        host = quote(host, safe="")
    port = port or params.get("PORT")
    port_part = f":{port}" if port else ""
    password = f":{quote(params['PASSWORD'], safe='')}" if params.get("PASSWORD") else ""
    user = quote(params.get("USER") or "postgres", safe="")
    return f"postgres://{user}{password}@{host}{port_part}/{params['NAME']}"


@pytest.fixture
def database_proxy():
    """A cuttable proxy in front of the test database, and a DATABASE_URL that goes through it."""
    from tests.workers.proxy import CuttableProxy

    params = connection.settings_dict
    host = params.get("HOST") or "127.0.0.1"
    port = int(params.get("PORT") or 5432)
    if host.startswith("/"):
        proxy = CuttableProxy.to_unix(f"{host}/.s.PGSQL.{port}")
    else:
        proxy = CuttableProxy.to_tcp(host, port)
    yield proxy, database_url_for_current_connection(host="127.0.0.1", port=proxy.port)
    proxy.close()


class WorkerProcess:
    def __init__(self, queues: list[str], log_path: Path, extra_env: dict[str, str] | None = None):
        self.queue = queues[0]
        self.log_path = log_path
        env = dict(os.environ)
        env["DATABASE_URL"] = database_url_for_current_connection()
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
        env["CELERY_RESULT_BACKEND"] = settings.CELERY_RESULT_BACKEND
        env.update(extra_env or {})
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers",
                "worker",
                "--queues",
                ",".join(queues),
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--hostname",
                f"{queues[0]}-{uuid.uuid4().hex[:6]}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            if "ready." in self.log():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()}")

    def pause(self) -> None:
        """SIGSTOP the whole worker, as a machine that hangs or loses the network would look."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the whole worker (parent and pool children), as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGCONT)
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture
def start_worker(tmp_path, settings):
    """``start_worker(env)`` starts a CPU worker on this test's private queues; stopped afterwards.

    It consumes the prefixed cpu queue that runs are routed to (``queues``
    says otherwise), and shares the test's data directory unless ``env`` says
    otherwise.
    """
    workers: list[WorkerProcess] = []
    settings.SAMPLEWISE_DATA_DIR = tmp_path / "data"
    prefix = settings.SAMPLEWISE_QUEUE_PREFIX

    def start(extra_env: dict[str, str] | None = None, *, queues: tuple[str, ...] = ("cpu",)) -> WorkerProcess:
        env = {
            "SAMPLEWISE_QUEUE_PREFIX": prefix,
            "SAMPLEWISE_DATA_DIR": str(settings.SAMPLEWISE_DATA_DIR),
            "SAMPLEWISE_DEVICE": "cpu",
            "SAMPLEWISE_HEARTBEAT_SECONDS": "1",
            "SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS": "5",
            **(extra_env or {}),
        }
        worker = WorkerProcess([f"{prefix}{queue}" for queue in queues], tmp_path / f"worker-{len(workers)}.log", env)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_for(predicate, *, timeout: float, interval: float = 0.25, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def run_status(run_id: int) -> str:
    """A cell's status as the product shows it (its execution's, or canceled when withdrawn)."""
    from backend.experiments.models import Run

    return Run.objects.select_related("execution").get(pk=run_id).status

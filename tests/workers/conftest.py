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


def database_url_for_current_connection() -> str:
    """A DATABASE_URL naming the database this test process uses (the test database)."""
    params = connection.settings_dict
    host = params.get("HOST") or "127.0.0.1"
    if host.startswith("/"):
        host = quote(host, safe="")
    port = f":{params['PORT']}" if params.get("PORT") else ""
    password = f":{quote(params['PASSWORD'], safe='')}" if params.get("PASSWORD") else ""
    return f"postgres://{quote(params.get('USER') or 'postgres', safe='')}{password}@{host}{port}/{params['NAME']}"


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

    def kill(self) -> None:
        """SIGKILL the whole worker (parent and pool children), as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture
def start_worker(tmp_path, settings):
    """``start_worker(env)`` starts a worker on this test session's private queues; stopped afterwards.

    It consumes the prefixed cpu and gpu queues that runs are routed to, and
    shares the test's data directory unless ``env`` says otherwise.
    """
    workers: list[WorkerProcess] = []
    settings.SAMPLEWISE_DATA_DIR = tmp_path / "data"
    prefix = settings.SAMPLEWISE_QUEUE_PREFIX
    queues = [f"{prefix}cpu", f"{prefix}gpu"]

    def start(extra_env: dict[str, str] | None = None) -> WorkerProcess:
        env = {
            "SAMPLEWISE_QUEUE_PREFIX": prefix,
            "SAMPLEWISE_DATA_DIR": str(settings.SAMPLEWISE_DATA_DIR),
            "SAMPLEWISE_DEVICE": "cpu",
            "SAMPLEWISE_HEARTBEAT_SECONDS": "1",
            "SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS": "5",
            **(extra_env or {}),
        }
        worker = WorkerProcess(queues, tmp_path / f"worker-{len(workers)}.log", env)
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

"""With no DATABASE_URL or CELERY_BROKER_URL, the embedded Postgres and filesystem broker carry the product."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def embedded_env(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}
    }
    env["SAMPLEWISE_VAR_DIR"] = str(tmp_path / "var")
    env["DJANGO_SETTINGS_MODULE"] = "backend.settings"
    yield env
    # Stop and delete the embedded server this test started.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pgserver; pgserver.get_server(sys.argv[1], cleanup_mode='delete')",
            str(tmp_path / "var" / "pgdata"),
        ],
        env=env,
        capture_output=True,
        timeout=120,
    )


def manage(env, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.worker
@pytest.mark.slow
def test_embedded_postgres_and_filesystem_broker_serve_a_worker(embedded_env, tmp_path):
    migrated = manage(embedded_env, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr

    described = manage(
        embedded_env,
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; from django.db import connection; "
        "from backend.policies.models import SamplingPolicy; "
        "print(connection.vendor, settings.EMBEDDED_DATABASE, settings.CELERY_BROKER_URL, "
        "SamplingPolicy.objects.filter(team=None).count())",
    )
    assert described.returncode == 0, described.stderr
    vendor, embedded, broker, builtin_policies = described.stdout.strip().splitlines()[-1].split()
    assert (vendor, embedded, broker) == ("postgresql", "True", "filesystem://localhost//")
    assert int(builtin_policies) >= 5
    assert (tmp_path / "var" / "pgdata" / "PG_VERSION").exists()

    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers",
                "worker",
                "-Q",
                "cpu",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=embedded_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 90
            while "ready." not in log_path.read_text(errors="replace"):
                assert worker.poll() is None, log_path.read_text(errors="replace")
                assert time.monotonic() < deadline, "worker did not start"
                time.sleep(0.2)
            answered = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import django; django.setup(); from workers.tasks import ping; "
                    "print(ping.delay('hello').get(timeout=60)['database'])",
                ],
                cwd=ROOT,
                env=embedded_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=30)
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.strip() == "samplewise"

"""Settings refuse bad environment values, naming the variable, and pass the deploy check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PRODUCTION_KEY = "k" * 30 + "-production-secret-value-0123456789"


def run_with(env_overrides: dict[str, str | None], *args: str) -> subprocess.CompletedProcess:
    inherited = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {key: value for key, value in os.environ.items() if key not in inherited}
    env["DATABASE_URL"] = GOOD_URL
    env["DJANGO_SETTINGS_MODULE"] = "backend.settings"
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    command = args or ("-c", "import django; django.setup()")
    return subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql://root@localhost/samplewise"),
        ("DATABASE_URL", "not a url"),
        ("CELERY_BROKER_URL", "http://localhost:6379"),
        ("CELERY_RESULT_BACKEND", "memcached://x"),
        ("SAMPLEWISE_DEVICE", "tpu"),
        ("DATA_UPLOAD_MAX_MEMORY_SIZE", "ten"),
        ("SAMPLEWISE_MAX_UPLOAD_BYTES", "-5"),
    ],
)
def test_it_refuses_a_bad_value_naming_the_variable(variable, value):
    result = run_with({variable: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.splitlines()[-1]


def test_production_mode_refuses_the_development_secret_key():
    result = run_with({"DEBUG": "false", "ALLOWED_HOSTS": "samplewise.example.com"})

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.splitlines()[-1]


def test_production_mode_refuses_a_short_secret_key():
    result = run_with({"DEBUG": "0", "SECRET_KEY": "short", "ALLOWED_HOSTS": "samplewise.example.com"})

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.splitlines()[-1]


def test_production_mode_requires_allowed_hosts():
    result = run_with({"DEBUG": "off", "SECRET_KEY": PRODUCTION_KEY})

    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr.splitlines()[-1]


def test_production_mode_passes_the_deploy_check():
    result = run_with(
        {"DEBUG": "false", "SECRET_KEY": PRODUCTION_KEY, "ALLOWED_HOSTS": "samplewise.example.com"},
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_development_defaults_load_without_any_variable():
    result = run_with(
        {"DEBUG": None},
        "-c",
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DEBUG, settings.SAMPLEWISE_DEVICE, settings.SAMPLEWISE_DATA_DIR.name)",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "auto", "data"]


def test_redis_keeps_an_unacknowledged_run_longer_than_the_longest_run():
    # A message Redis hands out again before the run ends would start a second attempt beside the first.
    result = run_with(
        {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0", "SAMPLEWISE_RUN_TIME_LIMIT_SECONDS": "7200"},
        "-c",
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'])",
    )

    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == 7200 + 3600


def test_sessions_idle_in_a_transaction_end_after_the_heartbeat_timeout():
    result = run_with(
        {"SAMPLEWISE_HEARTBEAT_SECONDS": "5", "SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS": "45"},
        "-c",
        "import django; django.setup(); from django.db import connection; "
        "cursor = connection.cursor(); cursor.execute('SHOW idle_in_transaction_session_timeout'); "
        "print(cursor.fetchone()[0])",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "45s"

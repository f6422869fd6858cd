"""Worker presence: each worker process says which queues it consumes, on what device and engine.

The web app reads it to tell a team why a run waits ("no GPU worker is
online"); it works on every broker, including those without broadcast.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from backend.experiments.models import WorkerPresence

# Rows of workers not seen for this long are removed by the reaper.
FORGET_AFTER = timedelta(days=1)


def worker_presence_beat(*, name: str, queues: list[str], device_kind: str, engine_version: str) -> None:
    now = timezone.now()
    WorkerPresence.objects.update_or_create(
        name=name[:255],
        defaults={
            "queues": sorted(queues),
            "device_kind": device_kind,
            "engine_version": engine_version,
            "seen_at": now,
        },
        create_defaults={
            "queues": sorted(queues),
            "device_kind": device_kind,
            "engine_version": engine_version,
            "started_at": now,
            "seen_at": now,
        },
    )


def worker_presence_remove(*, name: str) -> None:
    WorkerPresence.objects.filter(name=name[:255]).delete()


def worker_presence_forget_stale() -> int:
    deleted, _ = WorkerPresence.objects.filter(seen_at__lt=timezone.now() - FORGET_AFTER).delete()
    return deleted


def presence_timeout() -> timedelta:
    """A worker not seen for this long is taken to be gone."""
    return timedelta(seconds=settings.SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS)

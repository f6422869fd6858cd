"""The Celery application; configuration comes from Django settings (CELERY_*)."""

from __future__ import annotations

import os

from celery import Celery

from workers.presence import PresenceStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

app = Celery("samplewise")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])

app.steps["worker"].add(PresenceStep)

"""Reads for experiments and runs."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from backend.experiments.models import Experiment, Run, RunMetric, RunStatus


def experiments_with_status_counts(queryset: QuerySet[Experiment]) -> QuerySet[Experiment]:
    """Annotate each experiment with ``runs_total`` and ``runs_<status>`` counts."""
    counts = {f"runs_{status}": Count("runs", filter=Q(runs__status=status)) for status in RunStatus.values}
    return queryset.annotate(runs_total=Count("runs"), **counts)


def runs_with_progress(queryset: QuerySet[Run]) -> QuerySet[Run]:
    """Annotate each run with its latest evaluation: ``last_epoch`` and ``last_accuracy``.

    A reused run reports the progress of the run it reuses.
    """
    latest = RunMetric.objects.filter(run=Coalesce(OuterRef("reused_from_id"), OuterRef("pk"))).order_by("-epoch")
    return queryset.annotate(
        last_epoch=Subquery(latest.values("epoch")[:1]),
        last_accuracy=Subquery(latest.values("test_accuracy")[:1]),
    )


def run_metrics(run: Run) -> QuerySet[RunMetric]:
    """The learning curve shown for a run: its own, or the reused run's."""
    return RunMetric.objects.filter(run=run.source).order_by("epoch")


def queue_overview(*, ping_timeout: float = 1.0) -> dict:
    """Queue depth from the broker and the database, and the workers holding runs.

    ``responding`` lists workers that answer a broadcast ping, or is None on a
    transport without broadcast (the filesystem broker).
    """
    from django.conf import settings
    from django.db.models import Max

    from backend.experiments.execution import queue_name
    from backend.experiments.models import Queue
    from workers.celery import app

    queues = []
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in Queue.values:
            name = queue_name(queue)
            try:
                messages = channel.queue_declare(queue=name, passive=True).message_count
            except Exception:  # a queue the broker has never seen
                messages = 0
            runs_queued = Run.objects.filter(queue=queue, status=RunStatus.QUEUED, reused_from__isnull=True).count()
            queues.append({"name": name, "messages": messages, "runs_queued": runs_queued})
    workers = list(
        Run.objects.filter(status=RunStatus.RUNNING)
        .values("worker")
        .annotate(running=Count("id"), last_heartbeat=Max("heartbeat_at"))
        .order_by("worker")
    )
    responding = None
    if not settings.CELERY_BROKER_URL.startswith("filesystem"):
        replies = app.control.inspect(timeout=ping_timeout).ping() or {}
        responding = sorted(replies)
    return {"queues": queues, "workers": workers, "responding": responding}

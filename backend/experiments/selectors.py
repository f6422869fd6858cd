"""Reads for experiments, their cells and the executions behind them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, FloatField, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from backend.experiments.models import (
    DEVICE_KIND_QUEUES,
    Attempt,
    DeviceKind,
    Execution,
    Experiment,
    Run,
    RunMetric,
    RunStatus,
    WorkerPresence,
    run_status_expression,
    run_status_filter,
)
from backend.experiments.presence import presence_timeout


def experiments_with_status_counts(queryset: QuerySet[Experiment]) -> QuerySet[Experiment]:
    """Annotate each experiment with ``runs_total``, ``runs_reused`` and ``runs_<status>`` counts."""
    counts = {
        f"runs_{status}": Count("runs", filter=run_status_filter(status, prefix="runs__"))
        for status in RunStatus.values
    }
    return queryset.annotate(runs_total=Count("runs"), runs_reused=Count("runs", filter=Q(runs__reused=True)), **counts)


def time_to_target_subquery(target) -> Subquery:
    """Seconds of selection + training until the cell's execution first reached ``target`` (None: never).

    ``target`` is a number or an ``OuterRef`` to the cell's target annotation.
    """
    reached = RunMetric.objects.filter(execution=OuterRef("execution"), test_accuracy__gte=target).order_by("epoch")
    return Subquery(reached.values("wall_clock_seconds")[:1], output_field=FloatField())


def runs_with_progress(queryset: QuerySet[Run]) -> QuerySet[Run]:
    """Cells with their execution and the figures read from its curve.

    Annotates ``run_status`` (the cell's status), ``last_epoch`` and
    ``last_accuracy`` (the latest evaluation), ``target_accuracy`` (the
    experiment's) and ``time_to_target_seconds`` for it.
    """
    latest = RunMetric.objects.filter(execution=OuterRef("execution")).order_by("-epoch")
    return (
        queryset.select_related("execution", "policy")
        .annotate(
            run_status=run_status_expression(),
            last_epoch=Subquery(latest.values("epoch")[:1]),
            last_accuracy=Subquery(latest.values("test_accuracy")[:1]),
            target_accuracy=Cast(KeyTextTransform("target_accuracy", "experiment__recipe"), FloatField()),
        )
        .annotate(time_to_target_seconds=time_to_target_subquery(OuterRef("target_accuracy")))
    )


def execution_metrics(execution: Execution) -> QuerySet[RunMetric]:
    return RunMetric.objects.filter(execution=execution).order_by("epoch")


def execution_attempts(execution: Execution) -> QuerySet[Attempt]:
    return Attempt.objects.filter(execution=execution).order_by("number")


@dataclass(frozen=True)
class Waiting:
    """Executions queued for a device kind that no live worker can take."""

    device_kind: str
    queue: str
    runs: int
    reason: str


def live_workers() -> QuerySet[WorkerPresence]:
    return WorkerPresence.objects.filter(seen_at__gte=timezone.now() - presence_timeout())


def waiting_without_worker(cells: QuerySet[Run] | None = None) -> list[Waiting]:
    """Why queued runs wait: for each device kind with queued executions, say so when no live worker serves it.

    ``cells`` limits the count to those cells (an experiment's); otherwise
    every queued execution counts. Two queries.
    """
    from backend.experiments.execution import queue_name

    if cells is not None:
        queued = (
            cells.filter(run_status_filter(RunStatus.QUEUED))
            .values("execution__device_kind", "execution__engine_version")
            .annotate(runs=Count("id"))
        )
        rows = [(row["execution__device_kind"], row["execution__engine_version"], row["runs"]) for row in queued]
    else:
        queued = (
            Execution.objects.filter(status=RunStatus.QUEUED)
            .values("device_kind", "engine_version")
            .annotate(runs=Count("id"))
        )
        rows = [(row["device_kind"], row["engine_version"], row["runs"]) for row in queued]
    if not rows:
        return []
    workers = list(live_workers().values("device_kind", "engine_version", "queues"))
    waiting = []
    for device_kind, engine_version, runs in rows:
        queue = DEVICE_KIND_QUEUES[device_kind]
        name = queue_name(queue)
        serving = [worker for worker in workers if worker["device_kind"] == device_kind and name in worker["queues"]]
        label = "GPU" if device_kind == DeviceKind.CUDA else "CPU"
        if not serving:
            reason = f"No {label} worker is online"
        elif not any(worker["engine_version"] == engine_version for worker in serving):
            reason = f"No {label} worker runs engine {engine_version}"
        else:
            continue
        waiting.append(Waiting(device_kind=device_kind, queue=name, runs=runs, reason=reason))
    return waiting


def queue_overview() -> dict:
    """Queue depth from the broker and the database, the live workers, and the executions they hold."""
    from django.db.models import Max

    from backend.experiments.execution import broker_queue_depths, queue_name

    depths = broker_queue_depths()
    queued = dict(
        Execution.objects.filter(status=RunStatus.QUEUED)
        .values_list("device_kind")
        .annotate(count=Count("id"))
        .values_list("device_kind", "count")
    )
    queues = [
        {"name": queue_name(queue), "messages": depths.get(queue), "runs_queued": queued.get(device_kind, 0)}
        for device_kind, queue in DEVICE_KIND_QUEUES.items()
    ]
    running = list(
        Execution.objects.filter(status=RunStatus.RUNNING)
        .values("worker")
        .annotate(running=Count("id"), last_heartbeat=Max("heartbeat_at"))
        .order_by("worker")
    )
    workers = list(live_workers().values("name", "queues", "device_kind", "engine_version", "seen_at"))
    return {"queues": queues, "running": running, "workers": workers, "waiting": waiting_without_worker()}

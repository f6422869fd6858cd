"""Run lifecycle services: every status change of a run is written here.

A worker claims a run, records its metrics as they happen, and finishes it;
the reaper requeues runs whose heartbeat stopped. Each write is a short
transaction so a crash never leaves a run half-updated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backend.experiments.models import ACTIVE_RUN_STATUSES, Run, RunMetric, RunStatus

METRIC_FIELDS = (
    "step",
    "samples_seen",
    "wall_clock_seconds",
    "evaluation_seconds",
    "train_loss",
    "test_accuracy",
    "test_loss",
    "lr",
    "data_fraction",
)
ERROR_TAIL_LINES = 12


def queue_name(queue: str) -> str:
    """The broker queue for a run's queue (cpu / gpu), with the deployment's prefix."""
    return f"{settings.SAMPLEWISE_QUEUE_PREFIX}{queue}"


def runs_enqueue(runs: Iterable[Run]) -> None:
    """Send queued runs to the broker once the surrounding transaction commits."""
    from workers.tasks import execute_run

    pending = [(run.pk, run.queue) for run in runs if run.status == RunStatus.QUEUED and run.reused_from_id is None]

    def send() -> None:
        for run_id, queue in pending:
            execute_run.apply_async(args=[run_id], queue=queue_name(queue))

    if pending:
        transaction.on_commit(send)


@dataclass(frozen=True)
class Claim:
    run: Run
    resumed: bool


def run_claim(*, run_id: int, worker: str) -> Claim | None:
    """Mark a queued run running on ``worker``; None if it is not this worker's to run.

    A run that is already running with a fresh heartbeat belongs to another
    worker (a duplicate delivery); a canceled or finished run is skipped.
    """
    stale_before = timezone.now() - timedelta(seconds=settings.SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS)
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("experiment__dataset").filter(pk=run_id).first()
        if run is None or run.reused_from_id is not None:
            return None
        if run.status == RunStatus.RUNNING and run.heartbeat_at and run.heartbeat_at > stale_before:
            return None
        if run.status not in ACTIVE_RUN_STATUSES:
            return None
        now = timezone.now()
        resumed = run.attempt > 0
        run.status = RunStatus.RUNNING
        run.worker = worker[:255]
        run.attempt += 1
        run.heartbeat_at = now
        run.started_at = run.started_at or now
        run.error = ""
        run.save(update_fields=["status", "worker", "attempt", "heartbeat_at", "started_at", "error"])
    return Claim(run=run, resumed=resumed)


def run_heartbeat(*, run_id: int) -> bool:
    """Record that the run is alive; returns False when it should stop (canceled or taken away)."""
    updated = Run.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())
    return updated == 1


def run_record_metric(*, run_id: int, metric: dict[str, Any]) -> None:
    """Store one evaluation; a replayed epoch overwrites its row instead of duplicating it."""
    values = {name: metric.get(name) for name in METRIC_FIELDS}
    values["evaluation_seconds"] = values["evaluation_seconds"] or 0.0
    RunMetric.objects.bulk_create(
        [RunMetric(run_id=run_id, epoch=metric["epoch"], **values)],
        update_conflicts=True,
        unique_fields=["run", "epoch"],
        update_fields=list(METRIC_FIELDS),
    )


def run_checkpoint_saved(*, run_id: int, checkpoint: str) -> None:
    Run.objects.filter(pk=run_id).update(checkpoint=checkpoint[:500])


RESULT_FIELDS = (
    "selection_seconds",
    "training_seconds",
    "evaluation_seconds",
    "final_accuracy",
    "best_accuracy",
    "time_to_target_seconds",
    "samples_trained",
)
# What a run that reuses another shows of it: its state and its figures.
REUSED_FIELDS = ("status", "worker", "started_at", "finished_at", *RESULT_FIELDS)


def _propagate_to_reusers(run: Run) -> None:
    """Runs that reuse this one show its final state and figures."""
    run.reused_by.filter(status__in=ACTIVE_RUN_STATUSES).update(
        **{field: getattr(run, field) for field in REUSED_FIELDS}
    )


def run_succeed(*, run_id: int, result: dict[str, Any]) -> Run | None:
    """Record a finished run's figures; a run canceled meanwhile stays canceled."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.status != RunStatus.RUNNING:
            return None
        for field in RESULT_FIELDS:
            setattr(run, field, result.get(field))
        run.resumed_from_round = result.get("resumed_from_round")
        run.status = RunStatus.SUCCEEDED
        run.finished_at = timezone.now()
        run.save(update_fields=[*RESULT_FIELDS, "resumed_from_round", "status", "finished_at"])
        _propagate_to_reusers(run)
    return run


def run_stopped(*, run_id: int, result: dict[str, Any]) -> None:
    """A canceled run stopped: keep the figures it reached (its metrics are already stored)."""
    Run.objects.filter(pk=run_id, status=RunStatus.CANCELED).update(
        **{field: result.get(field) for field in RESULT_FIELDS if field != "final_accuracy"}
    )


def error_tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-ERROR_TAIL_LINES:])


def run_fail(*, run_id: int, error: str) -> None:
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        if run.status not in ACTIVE_RUN_STATUSES:
            return
        run.status = RunStatus.FAILED
        run.error = error_tail(error)
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        _propagate_to_reusers(run)


@dataclass(frozen=True)
class ReapReport:
    requeued: list[int]
    failed: list[int]


def runs_reap_stale(*, timeout_seconds: float | None = None, max_attempts: int | None = None) -> ReapReport:
    """Requeue running runs whose heartbeat stopped; fail them after ``max_attempts``."""
    timeout_seconds = settings.SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
    max_attempts = settings.SAMPLEWISE_MAX_ATTEMPTS if max_attempts is None else max_attempts
    stale_before = timezone.now() - timedelta(seconds=timeout_seconds)
    requeued: list[Run] = []
    failed: list[int] = []
    with transaction.atomic():
        stale = Run.objects.select_for_update(skip_locked=True).filter(
            status=RunStatus.RUNNING, heartbeat_at__lt=stale_before
        )
        for run in stale:
            if run.attempt >= max_attempts:
                run.status = RunStatus.FAILED
                run.error = (
                    f"The worker {run.worker or '(unknown)'} stopped sending heartbeats "
                    f"{run.attempt} times; giving up after {max_attempts} attempts."
                )
                run.finished_at = timezone.now()
                run.save(update_fields=["status", "error", "finished_at"])
                _propagate_to_reusers(run)
                failed.append(run.pk)
            else:
                run.status = RunStatus.QUEUED
                run.error = f"Requeued: the worker {run.worker or '(unknown)'} stopped sending heartbeats."
                run.save(update_fields=["status", "error"])
                requeued.append(run)
        runs_enqueue(requeued)
    return ReapReport(requeued=[run.pk for run in requeued], failed=failed)

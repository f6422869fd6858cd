"""The execution lifecycle: every status change of an execution is written here.

An execution is created (or reused) when an experiment's cells ask for it and
queued on the broker. A worker claims it, which opens a new lease (the attempt
number); every heartbeat, metric row, checkpoint and finish names that lease
and is refused with ``LeaseLost`` once another claim, a cancel or the reaper
has taken the execution away, so a worker that lost its lease can change
nothing. Cells withdraw from executions; an execution is canceled only when no
cell needs it any more. The reaper gives back executions whose heartbeat
stopped, re-sends messages the broker lost, and fails an execution after its
attempt budget. Each write is one short transaction.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from backend.experiments.models import (
    ACTIVE_RUN_STATUSES,
    DEVICE_KIND_QUEUES,
    Attempt,
    AttemptOutcome,
    DeviceKind,
    Execution,
    Run,
    RunMetric,
    RunStatus,
)
from backend.teams.models import Team

logger = logging.getLogger(__name__)

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
RESULT_FIELDS = (
    "selection_seconds",
    "training_seconds",
    "evaluation_seconds",
    "final_accuracy",
    "best_accuracy",
    "samples_trained",
    "rounds_completed",
    "rounds_planned",
)
ERROR_TAIL_LINES = 12


class LeaseLost(Exception):
    """The worker no longer holds the execution: it was taken over, canceled, or has finished."""


class ExecutionCanceled(LeaseLost):
    """The worker's lease is still the current one, but the execution was canceled: it should stop."""


@dataclass(frozen=True)
class Lease:
    execution_id: int
    attempt: int


@dataclass(frozen=True)
class WorkerIdentity:
    """Who claims an execution, and the provenance its results will carry."""

    name: str
    device_kind: str
    device_name: str
    engine_version: str
    engine_commit: str = ""
    torch_version: str = ""


@dataclass(frozen=True)
class Claim:
    lease: Lease
    config: dict[str, Any]
    # The newest checkpoint of an earlier attempt to resume from ("" when none).
    resume_from: str
    # The round that checkpoint resumes at, recorded by the claim (None: from scratch).
    resumed_from_round: int | None = None
    # Whether an earlier attempt left curve points past that round.
    abandoned_points: bool = True


def queue_name(queue: str) -> str:
    """The broker queue for a run's queue (cpu / gpu), with the deployment's prefix."""
    return f"{settings.SAMPLEWISE_QUEUE_PREFIX}{queue}"


def error_tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-ERROR_TAIL_LINES:])


# ---------------------------------------------------------------------------
# Sending to the broker
# ---------------------------------------------------------------------------


def executions_enqueue(executions: Iterable[Execution]) -> None:
    """Send queued executions to their queues once the surrounding transaction commits.

    ``enqueued_at`` is stamped in the transaction. If the broker cannot be
    reached, the rest are not tried (each try would wait out the publish
    retries); the reaper re-sends whatever stays unclaimed.
    """
    from workers.tasks import execute_run

    pending = [(execution.pk, execution.queue) for execution in executions if execution.status == RunStatus.QUEUED]
    if not pending:
        return
    Execution.objects.filter(pk__in=[pk for pk, _ in pending]).update(enqueued_at=timezone.now())

    def send() -> None:
        for position, (execution_id, queue) in enumerate(pending):
            try:
                execute_run.apply_async(args=[execution_id], queue=queue_name(queue))
            except Exception:
                logger.exception(
                    "could not send %d execution(s) to the broker; the reaper re-sends them", len(pending) - position
                )
                return

    transaction.on_commit(send)


# ---------------------------------------------------------------------------
# Cells ask for executions and withdraw from them
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionSpec:
    key_hash: str
    config: dict[str, Any]
    device_kind: str
    engine_version: str


@dataclass
class Attached:
    executions: dict[str, Execution] = field(default_factory=dict)
    # Keys whose execution existed before this call (their cells reuse it).
    existing: set[str] = field(default_factory=set)


def executions_attach(*, team: Team, specs: Iterable[ExecutionSpec]) -> Attached:
    """The execution of every spec in ``team``, created where missing and requeued where it had stopped.

    Must run inside the transaction that creates the cells: the executions stay
    locked until it commits, so a concurrent cancel either sees the new cells
    (and keeps the execution) or cancels first (and this call requeues it).
    """
    by_key = {spec.key_hash: spec for spec in specs}
    existing = set(Execution.objects.filter(team=team, key_hash__in=list(by_key)).values_list("key_hash", flat=True))
    now = timezone.now()
    Execution.objects.bulk_create(
        [
            Execution(
                team=team,
                key_hash=spec.key_hash,
                config=spec.config,
                device_kind=spec.device_kind,
                engine_version=spec.engine_version,
                queued_at=now,
            )
            for key, spec in by_key.items()
            if key not in existing
        ],
        ignore_conflicts=True,
    )
    locked = list(Execution.objects.select_for_update().filter(team=team, key_hash__in=list(by_key)).order_by("pk"))
    requeue = [execution for execution in locked if execution.status in (RunStatus.FAILED, RunStatus.CANCELED)]
    for execution in requeue:
        _requeue_stopped(execution, now)
    executions_enqueue(
        [execution for execution in locked if execution.key_hash not in existing or execution in requeue]
    )
    return Attached(executions={execution.key_hash: execution for execution in locked}, existing=existing)


def _requeue_stopped(execution: Execution, now) -> None:
    """A stopped execution that cells ask for again runs again, resuming from its checkpoint if it has one.

    Its attempt budget starts afresh; its earlier attempts stay on record.
    """
    execution.status = RunStatus.QUEUED
    execution.queued_at = now
    execution.finished_at = None
    execution.requeues = 0
    execution.error = ""
    for name in RESULT_FIELDS:
        setattr(execution, name, None)
    execution.save(update_fields=["status", "queued_at", "finished_at", "requeues", "error", *RESULT_FIELDS])


@dataclass(frozen=True)
class Withdrawal:
    cells: int
    # Withdrawn cells whose execution keeps running because other cells still need it.
    shared: int


def cells_withdraw(cells: QuerySet[Run]) -> Withdrawal:
    """Withdraw these cells from their executions; cancel each execution no other cell still needs.

    A running execution that is canceled stops at its worker's next step; one
    still needed keeps running for the experiments that need it.
    """
    with transaction.atomic():
        candidates = list(
            cells.filter(canceled_at__isnull=True, execution__status__in=ACTIVE_RUN_STATUSES).values_list(
                "pk", "execution_id"
            )
        )
        if not candidates:
            return Withdrawal(cells=0, shared=0)
        execution_ids = sorted({execution_id for _, execution_id in candidates})
        locked = {
            execution.pk: execution
            for execution in Execution.objects.select_for_update().filter(pk__in=execution_ids).order_by("pk")
        }
        withdrawn = [
            cell_id for cell_id, execution_id in candidates if locked[execution_id].status in ACTIVE_RUN_STATUSES
        ]
        now = timezone.now()
        Run.objects.filter(pk__in=withdrawn).update(canceled_at=now)
        still_needed = set(
            Run.objects.filter(execution_id__in=execution_ids, canceled_at__isnull=True).values_list(
                "execution_id", flat=True
            )
        )
        unneeded = [
            execution.pk
            for execution in locked.values()
            if execution.pk not in still_needed and execution.status in ACTIVE_RUN_STATUSES
        ]
        Execution.objects.filter(pk__in=unneeded).update(status=RunStatus.CANCELED, finished_at=now)
    withdrawn_ids = set(withdrawn)
    shared = sum(1 for cell_id, execution_id in candidates if cell_id in withdrawn_ids and execution_id in still_needed)
    return Withdrawal(cells=len(withdrawn), shared=shared)


@dataclass(frozen=True)
class Retry:
    # Failed cells queued again.
    cells: int
    # The executions behind them (cells of other experiments may share one).
    executions: int


def cells_retry(cells: QuerySet[Run]) -> Retry:
    """Queue again the failed executions behind these cells, from their last checkpoint.

    Only failed executions are touched: a finished, active or canceled one
    stays as it is. A retried cell that had been withdrawn asks for its
    execution again. Cells of other experiments that share a retried execution
    see it queued too: it is the same training.
    """
    with transaction.atomic():
        execution_ids = sorted(
            set(cells.filter(execution__status=RunStatus.FAILED).values_list("execution_id", flat=True))
        )
        locked = list(
            Execution.objects.select_for_update().filter(pk__in=execution_ids, status=RunStatus.FAILED).order_by("pk")
        )
        if not locked:
            return Retry(cells=0, executions=0)
        now = timezone.now()
        for execution in locked:
            _requeue_stopped(execution, now)
        retried = cells.filter(execution__in=locked)
        count = retried.count()
        retried.update(canceled_at=None)
        executions_enqueue(locked)
    return Retry(cells=count, executions=len(locked))


# ---------------------------------------------------------------------------
# The worker's side: claim, progress, finish
# ---------------------------------------------------------------------------


def execution_claim(*, execution_id: int, worker: WorkerIdentity) -> Claim | None:
    """Open a new lease on a queued execution for ``worker``; None if it is not this worker's to run.

    A running execution with a fresh heartbeat belongs to another worker (a
    duplicate delivery); a finished one is skipped. One whose heartbeat went
    stale is taken over, which counts against its attempt budget. A worker of
    another device kind or engine version never claims it: its figures would
    not be the ones the execution's identity promises.
    """
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS)
    with transaction.atomic():
        execution = Execution.objects.select_for_update().filter(pk=execution_id).first()
        if execution is None or execution.status not in ACTIVE_RUN_STATUSES:
            return None
        if execution.device_kind != worker.device_kind or execution.engine_version != worker.engine_version:
            logger.warning(
                "execution %s needs a %s worker on engine %s; %s is a %s worker on engine %s",
                execution.pk,
                execution.device_kind,
                execution.engine_version,
                worker.name,
                worker.device_kind,
                worker.engine_version,
            )
            return None
        if execution.status == RunStatus.RUNNING:
            if execution.heartbeat_at and execution.heartbeat_at > stale_before:
                return None
            if not _give_back(execution, AttemptOutcome.LOST, _lost_note(execution), enqueue=False):
                return None
        # The attempt resumes from the newest checkpoint; should the engine find it unusable,
        # it starts from scratch and execution_started corrects the round.
        resumed_from_round = execution.checkpoint_round if execution.checkpoint else None
        execution.attempt += 1
        execution.status = RunStatus.RUNNING
        execution.worker = worker.name[:255]
        execution.heartbeat_at = now
        execution.started_at = execution.started_at or now
        execution.resumed_from_round = resumed_from_round
        execution.error = ""
        execution.device_name = worker.device_name[:128]
        execution.torch_version = worker.torch_version[:64]
        execution.engine_commit = worker.engine_commit[:64]
        execution.save(
            update_fields=[
                "attempt",
                "status",
                "worker",
                "heartbeat_at",
                "started_at",
                "resumed_from_round",
                "error",
                "device_name",
                "torch_version",
                "engine_commit",
            ]
        )
        Attempt.objects.create(
            execution=execution,
            number=execution.attempt,
            worker=execution.worker,
            device_name=execution.device_name,
            torch_version=execution.torch_version,
            engine_commit=execution.engine_commit,
            started_at=now,
            resumed_from_round=resumed_from_round,
        )
        # Curve points past the checkpoint belong to an abandoned attempt; they are dropped
        # once the engine says which round it resumed from (its file may be newer than
        # the round recorded, when recording the last checkpoint failed).
        abandoned_points = RunMetric.objects.filter(execution=execution, epoch__gt=resumed_from_round or 0).exists()
    return Claim(
        lease=Lease(execution_id=execution.pk, attempt=execution.attempt),
        config=execution.config,
        resume_from=execution.checkpoint,
        resumed_from_round=resumed_from_round,
        abandoned_points=abandoned_points,
    )


def _held(lease: Lease, *, status: str = RunStatus.RUNNING) -> QuerySet[Execution]:
    return Execution.objects.filter(pk=lease.execution_id, attempt=lease.attempt, status=status)


def _refusal(lease: Lease) -> LeaseLost:
    if _held(lease, status=RunStatus.CANCELED).exists():
        return ExecutionCanceled(f"execution {lease.execution_id} was canceled")
    return LeaseLost(f"attempt {lease.attempt} no longer holds execution {lease.execution_id}")


def _lock_held(lease: Lease, *, status: str = RunStatus.RUNNING) -> Execution:
    # The configuration and the predictions are not needed to write under the lease.
    execution = _held(lease, status=status).defer("config", "test_predictions").select_for_update().first()
    if execution is None:
        raise _refusal(lease)
    return execution


def _end_attempt(lease: Lease, outcome: str, note: str = "") -> None:
    Attempt.objects.filter(
        execution_id=lease.execution_id, number=lease.attempt, outcome=AttemptOutcome.RUNNING
    ).update(outcome=outcome, ended_at=timezone.now(), note=note)


def execution_heartbeat(*, lease: Lease) -> str:
    """Record that the worker is alive. Returns "held", or "canceled" / "lost" when it must stop."""
    if _held(lease).update(heartbeat_at=timezone.now()) == 1:
        return "held"
    return "canceled" if isinstance(_refusal(lease), ExecutionCanceled) else "lost"


def execution_started(*, lease: Lease, resumed_from_round: int | None) -> None:
    """The attempt resumed from ``resumed_from_round``: curve points past it belong to an abandoned attempt."""
    with transaction.atomic():
        execution = _lock_held(lease)
        execution.resumed_from_round = resumed_from_round
        execution.heartbeat_at = timezone.now()
        execution.save(update_fields=["resumed_from_round", "heartbeat_at"])
        RunMetric.objects.filter(execution=execution, epoch__gt=resumed_from_round or 0).delete()
        Attempt.objects.filter(execution=execution, number=lease.attempt).update(resumed_from_round=resumed_from_round)


def execution_record_metrics(*, lease: Lease, metrics: Iterable[Mapping[str, Any]]) -> None:
    """Store evaluations of the held attempt; a replayed epoch overwrites its row instead of duplicating it.

    The heartbeat update takes the execution's row lock first, so a claim by
    another worker either happens before (and this write is refused) or waits
    until these rows are in.
    """
    rows = [
        RunMetric(
            execution_id=lease.execution_id,
            epoch=metric["epoch"],
            **{name: metric.get(name) for name in METRIC_FIELDS if name != "evaluation_seconds"},
            evaluation_seconds=metric.get("evaluation_seconds") or 0.0,
        )
        for metric in metrics
    ]
    with transaction.atomic():
        if _held(lease).update(heartbeat_at=timezone.now()) != 1:
            raise _refusal(lease)
        RunMetric.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["execution", "epoch"], update_fields=list(METRIC_FIELDS)
        )


def execution_checkpoint_saved(*, lease: Lease, path: str, next_round: int, replaces: str | None = None) -> None:
    """The held attempt wrote a checkpoint; an earlier attempt's file on this machine is then removed.

    ``replaces`` is the checkpoint the attempt was claimed with, when the caller
    knows it: the record is then one conditional update instead of a locked
    read and a write.
    """
    if replaces is not None:
        if _held(lease).update(checkpoint=path[:500], checkpoint_round=next_round) != 1:
            raise _refusal(lease)
        previous = replaces
    else:
        with transaction.atomic():
            execution = _lock_held(lease)
            previous = execution.checkpoint
            execution.checkpoint = path[:500]
            execution.checkpoint_round = next_round
            execution.save(update_fields=["checkpoint", "checkpoint_round"])
    if previous and previous != path:
        Path(previous).unlink(missing_ok=True)


def execution_succeed(*, lease: Lease, result: Mapping[str, Any]) -> None:
    """Record the held attempt's final figures and test predictions; its checkpoints are then removed."""
    import numpy as np

    predictions = result.get("test_predictions")
    with transaction.atomic():
        execution = _lock_held(lease)
        for name in RESULT_FIELDS:
            setattr(execution, name, result.get(name))
        if predictions is not None:
            # The result is JSON-ready (a list of ints); store it back as one small unsigned integer per example.
            array = np.asarray(predictions, dtype=np.int64)
            array = array.astype(np.min_scalar_type(int(array.max()) if array.size else 0))
            execution.test_predictions = array.tobytes()
            execution.test_predictions_dtype = array.dtype.str
        execution.status = RunStatus.SUCCEEDED
        execution.finished_at = timezone.now()
        execution.checkpoint = ""
        execution.checkpoint_round = None
        execution.save(
            update_fields=[
                *RESULT_FIELDS,
                "test_predictions",
                "test_predictions_dtype",
                "status",
                "finished_at",
                "checkpoint",
                "checkpoint_round",
            ]
        )
        _end_attempt(lease, AttemptOutcome.SUCCEEDED)
    if not settings.SAMPLEWISE_KEEP_CHECKPOINTS:
        shutil.rmtree(execution_checkpoint_dir(lease.execution_id), ignore_errors=True)


def execution_stopped(*, lease: Lease, result: Mapping[str, Any]) -> None:
    """A canceled execution stopped on its worker: keep the figures it reached (its metrics are stored)."""
    with transaction.atomic():
        execution = _lock_held(lease, status=RunStatus.CANCELED)
        for name in RESULT_FIELDS:
            if name != "final_accuracy":
                setattr(execution, name, result.get(name))
        execution.save(update_fields=[name for name in RESULT_FIELDS if name != "final_accuracy"])
        _end_attempt(lease, AttemptOutcome.CANCELED)


def execution_fail(*, lease: Lease, error: str) -> None:
    """The run itself failed (bad configuration, training exception): keep the traceback's tail."""
    with transaction.atomic():
        execution = _lock_held(lease)
        execution.status = RunStatus.FAILED
        execution.error = error_tail(error)
        execution.finished_at = timezone.now()
        execution.save(update_fields=["status", "error", "finished_at"])
        _end_attempt(lease, AttemptOutcome.FAILED, execution.error)


def execution_release(*, lease: Lease, reason: str) -> None:
    """Give the execution back after a fault outside the run (database, broker, dataset fetch).

    It is queued again and resumes from its last checkpoint, unless its attempt
    budget is spent.
    """
    with transaction.atomic():
        execution = _lock_held(lease)
        _give_back(execution, AttemptOutcome.RELEASED, f"Given back: {reason}")


def _give_back(execution: Execution, outcome: str, note: str, *, enqueue: bool = True) -> bool:
    """End the current attempt; queue the (locked) execution again, or fail it once its budget is spent.

    Returns True when it was queued again.
    """
    lease = Lease(execution.pk, execution.attempt)
    execution.requeues += 1
    if execution.requeues >= settings.SAMPLEWISE_MAX_ATTEMPTS:
        execution.status = RunStatus.FAILED
        execution.error = f"{note} Giving up after {execution.requeues} attempts."
        execution.finished_at = timezone.now()
        execution.save(update_fields=["requeues", "status", "error", "finished_at"])
        _end_attempt(lease, outcome, note)
        return False
    execution.status = RunStatus.QUEUED
    execution.error = note
    execution.save(update_fields=["requeues", "status", "error"])
    _end_attempt(lease, outcome, note)
    if enqueue:
        executions_enqueue([execution])
    return True


def _lost_note(execution: Execution) -> str:
    return f"The worker {execution.worker or '(unknown)'} stopped sending heartbeats."


# ---------------------------------------------------------------------------
# Checkpoint files
# ---------------------------------------------------------------------------


def checkpoint_root() -> Path:
    return Path(settings.SAMPLEWISE_DATA_DIR) / "checkpoints" / "executions"


def execution_checkpoint_dir(execution_id: int) -> Path:
    return checkpoint_root() / str(execution_id)


def attempt_checkpoint_path(lease: Lease) -> Path:
    """Each attempt writes a file of its own, so a worker that lost its lease never overwrites its successor's."""
    return execution_checkpoint_dir(lease.execution_id) / f"attempt-{lease.attempt}.pt"


def checkpoints_clean(*, older_than_seconds: float | None = None) -> list[Path]:
    """Remove this machine's checkpoint files that no execution will resume from; returns what was removed.

    Kept: the newest recorded checkpoint of each unfinished or stopped
    execution, and the file its current attempt is writing. Files younger than
    the heartbeat timeout are left alone (a worker may be about to record them).
    Files of the old layout (named by configuration alone) are removed too.
    """
    older_than = settings.SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now().timestamp() - older_than
    removed: list[Path] = []
    legacy_root = checkpoint_root().parent
    if legacy_root.is_dir():
        for path in legacy_root.glob("*.pt"):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed.append(path)
    root = checkpoint_root()
    if not root.is_dir():
        return removed
    directories = {int(path.name): path for path in root.iterdir() if path.is_dir() and path.name.isdigit()}
    executions = Execution.objects.filter(pk__in=list(directories)).only("pk", "status", "attempt", "checkpoint")
    known = {execution.pk: execution for execution in executions}
    for execution_id, directory in directories.items():
        execution = known.get(execution_id)
        if execution is None or (execution.status == RunStatus.SUCCEEDED and not settings.SAMPLEWISE_KEEP_CHECKPOINTS):
            if directory.stat().st_mtime < cutoff:
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
            continue
        keep = {execution.checkpoint, str(directory / f"attempt-{execution.attempt}.pt")}
        for path in directory.iterdir():
            if str(path) not in keep and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


# ---------------------------------------------------------------------------
# The reaper
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReapReport:
    requeued: list[int]
    failed: list[int]
    resent: list[int]
    removed_checkpoints: int = 0


def executions_reap(
    *,
    timeout_seconds: float | None = None,
    claim_timeout_seconds: float | None = None,
    broker_depths: Mapping[str, int | None] | None = None,
) -> ReapReport:
    """Give back executions whose heartbeat stopped, re-send lost messages, and clean checkpoints.

    A running execution whose heartbeat is older than ``timeout_seconds`` is
    queued again (or failed once its attempt budget is spent). Queued
    executions that no worker claimed within ``claim_timeout_seconds`` of their
    last message are re-sent, as many per queue as the broker holds fewer
    messages than there are queued executions, oldest first; a claim ignores a
    duplicate, so guessing high is harmless and the queue never grows without
    bound. ``broker_depths`` (messages waiting per queue) is read from the
    broker when not given.
    """
    timeout_seconds = settings.SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
    claim_timeout = (
        settings.SAMPLEWISE_CLAIM_TIMEOUT_SECONDS if claim_timeout_seconds is None else claim_timeout_seconds
    )
    now = timezone.now()
    requeued: list[int] = []
    failed: list[int] = []
    with transaction.atomic():
        stale = Execution.objects.select_for_update(skip_locked=True).filter(
            status=RunStatus.RUNNING, heartbeat_at__lt=now - timedelta(seconds=timeout_seconds)
        )
        for execution in stale:
            if _give_back(execution, AttemptOutcome.LOST, _lost_note(execution)):
                requeued.append(execution.pk)
            else:
                failed.append(execution.pk)

    resent: list[int] = []
    if broker_depths is None:
        broker_depths = broker_queue_depths()
    for device_kind, queue in DEVICE_KIND_QUEUES.items():
        queued = Execution.objects.filter(status=RunStatus.QUEUED, device_kind=device_kind)
        waiting_messages = broker_depths.get(queue)
        overdue = queued.filter(
            Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - timedelta(seconds=claim_timeout))
        ).exclude(pk__in=requeued)
        if waiting_messages is None:
            missing = None
        else:
            missing = max(0, queued.count() - waiting_messages)
            if not missing:
                continue
        with transaction.atomic():
            candidates = list(
                overdue.select_for_update(skip_locked=True).order_by("enqueued_at", "pk")[:missing]
                if missing is not None
                else overdue.select_for_update(skip_locked=True).order_by("enqueued_at", "pk")
            )
            executions_enqueue(candidates)
        resent.extend(execution.pk for execution in candidates)

    removed = checkpoints_clean()
    return ReapReport(requeued=requeued, failed=failed, resent=resent, removed_checkpoints=len(removed))


def broker_queue_depths() -> dict[str, int | None]:
    """Messages waiting in each run queue (None where the broker cannot say)."""
    from workers.celery import app

    depths: dict[str, int | None] = {}
    try:
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            for queue in DEVICE_KIND_QUEUES.values():
                try:
                    depths[queue] = channel.queue_declare(queue=queue_name(queue), passive=True).message_count
                except Exception:
                    # A queue the broker has never seen holds nothing; on AMQP the failed
                    # passive declare closes the channel, so take a fresh one.
                    depths[queue] = 0
                    channel = connection.channel()
    except Exception:
        logger.exception("could not read the broker's queue depths")
        return {queue: None for queue in DEVICE_KIND_QUEUES.values()}
    return depths


def device_kind_of(device: str) -> str:
    """The device kind of a worker device setting (cpu, cuda, cuda:N)."""
    return DeviceKind.CUDA if device.startswith("cuda") else DeviceKind.CPU

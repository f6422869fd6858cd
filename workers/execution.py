"""Execute one execution on this worker: claim a lease, train through the engine, report under the lease.

Every write goes through ``backend.experiments.execution``; this module only
decides what to report when, and how to ride out faults. The heartbeat starts
at claim time, before the dataset is fetched, and never dies of an error:
database and broker errors are retried with backoff, and only a lost lease
stops the run. A fault that outlasts ``SAMPLEWISE_TRANSIENT_RETRY_SECONDS``
gives the execution back to the queue (it resumes from its last checkpoint);
only errors of the run itself fail it.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from kombu.exceptions import OperationalError as BrokerError

from backend.experiments import execution
from backend.experiments.execution import ExecutionCanceled, Lease, LeaseLost, WorkerIdentity
from workers.dataset_cache import ensure_dataset
from workers.engine.errors import DatasetFetchError
from workers.engine.training import Callbacks, train_run
from workers.engine.version import ENGINE_VERSION, engine_commit

logger = logging.getLogger(__name__)

# Faults outside the run: retried, then the execution is given back, never failed.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, BrokerError, DatasetFetchError)
MAX_BACKOFF_SECONDS = 10.0

T = TypeVar("T")


class TransientFailure(Exception):
    """A transient fault outlasted the retry window."""


def retrying(action: Callable[[], T], *, what: str, window_seconds: float | None = None) -> T:
    """Call ``action``, retrying transient faults with exponential backoff for ``window_seconds``.

    A broken database connection is dropped before each retry so the next try
    reconnects. ``LeaseLost`` and errors of the run pass straight through.
    """
    window = settings.SAMPLEWISE_TRANSIENT_RETRY_SECONDS if window_seconds is None else window_seconds
    deadline = time.monotonic() + window
    delay = 0.2
    while True:
        try:
            return action()
        except TRANSIENT_ERRORS as error:
            _drop_connection()
            if time.monotonic() + delay > deadline:
                raise TransientFailure(f"{what}: {error}".strip()) from error
            logger.warning(
                "%s failed (%s); retrying in %.1f s", what, str(error).strip() or type(error).__name__, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


def _drop_connection() -> None:
    try:
        connection.close()
    except DatabaseError:
        pass


class ExecutionReporter(Callbacks):
    """Reports an attempt's progress under its lease and keeps its heartbeat from a side thread.

    The heartbeat thread learns of cancellation and of a lost lease and raises
    a flag that ``should_stop`` reads without a query, so the training loop
    stops at its next step. A refused write (``LeaseLost``) raises the same
    flag and propagates, ending the attempt at once.
    """

    def __init__(self, claim: execution.Claim, *, interval_seconds: float):
        self.lease = lease = claim.lease
        self.claim = claim
        self.interval_seconds = interval_seconds
        self.canceled = False
        self.lease_lost = False
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{lease.execution_id}", daemon=True)

    def __enter__(self) -> ExecutionReporter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join(timeout=30)

    def _beat(self) -> None:
        delay = self.interval_seconds
        try:
            while not self._done.wait(delay):
                try:
                    state = execution.execution_heartbeat(lease=self.lease)
                except Exception as error:
                    # Keep beating: training goes on, and only a lost lease may stop it.
                    logger.warning("heartbeat of execution %s failed: %s", self.lease.execution_id, error)
                    _drop_connection()
                    delay = min(delay * 2, MAX_BACKOFF_SECONDS)
                    continue
                delay = self.interval_seconds
                if state != "held":
                    self._flag(canceled=state == "canceled")
                    return
        finally:
            _drop_connection()

    def _flag(self, *, canceled: bool) -> None:
        if canceled:
            self.canceled = True
        else:
            self.lease_lost = True
        self._stop.set()

    def report(self, action: Callable[[], T], *, what: str) -> T | None:
        """Write under the lease. A cancel is not an error: the loop stops at its next step and
        the figures reached are recorded as a stopped run. A lost lease ends the attempt at once."""
        try:
            return retrying(action, what=what)
        except ExecutionCanceled:
            self._flag(canceled=True)
            return None
        except LeaseLost:
            self._flag(canceled=False)
            raise

    def on_start(self, resumed_from_round: int | None) -> None:
        if resumed_from_round == self.claim.resumed_from_round and not self.claim.abandoned_points:
            return  # the claim recorded the round, and there is nothing to drop
        self.report(
            lambda: execution.execution_started(lease=self.lease, resumed_from_round=resumed_from_round),
            what="recording the start",
        )

    def on_evaluation(self, metric: dict) -> None:
        self.report(
            lambda: execution.execution_record_metrics(lease=self.lease, metrics=[metric]),
            what=f"recording round {metric['epoch']}",
        )

    def on_checkpoint(self, path: Path, next_round: int) -> None:
        self.report(
            lambda: execution.execution_checkpoint_saved(
                lease=self.lease, path=str(path), next_round=next_round, replaces=self.claim.resume_from
            ),
            what="recording a checkpoint",
        )

    def should_stop(self) -> bool:
        return self._stop.is_set()


def worker_identity(worker: str) -> WorkerIdentity:
    """This process's device and versions; CUDA is first touched here, in the pool process."""
    import torch

    from workers.engine.training import resolve_device

    device = resolve_device(settings.SAMPLEWISE_DEVICE)
    if device.type == "cuda":
        device_name = f"cuda:{torch.cuda.get_device_name(device)}"
    else:
        device_name = "cpu"
    return WorkerIdentity(
        name=worker,
        device_kind=execution.device_kind_of(device.type),
        device_name=device_name,
        engine_version=ENGINE_VERSION,
        engine_commit=engine_commit(),
        torch_version=torch.__version__,
    )


def execute(execution_id: int, *, worker: str) -> str:
    """Run ``execution_id`` here under a new lease; returns what became of it."""
    identity = worker_identity(worker)
    try:
        claim = retrying(lambda: execution.execution_claim(execution_id=execution_id, worker=identity), what="claiming")
    except TransientFailure:
        logger.exception("could not claim execution %s; the reaper sends it again", execution_id)
        return "deferred"
    if claim is None:
        return "skipped"
    with ExecutionReporter(claim, interval_seconds=settings.SAMPLEWISE_HEARTBEAT_SECONDS) as reporter:
        return _train_and_report(claim, reporter)


def _train_and_report(claim: execution.Claim, reporter: ExecutionReporter) -> str:
    lease = claim.lease
    try:
        dataset = retrying(lambda: ensure_dataset(claim.config["dataset_sha256"]), what="fetching the dataset")
        result = train_run(
            claim.config,
            dataset,
            device=settings.SAMPLEWISE_DEVICE,
            callbacks=reporter,
            checkpoint_path=execution.attempt_checkpoint_path(lease),
            resume_from=claim.resume_from or None,
        )
    except LeaseLost:
        logger.warning("execution %s: attempt %s lost its lease and stopped", lease.execution_id, lease.attempt)
        return "lost"
    except (TransientFailure, *TRANSIENT_ERRORS) as fault:
        reason = str(fault)
        logger.exception("execution %s: giving it back after a transient fault", lease.execution_id)
        return _finish(lease, lambda: execution.execution_release(lease=lease, reason=reason), "released")
    except Exception:
        logger.exception("execution %s failed", lease.execution_id)
        error = traceback.format_exc()
        return _finish(lease, lambda: execution.execution_fail(lease=lease, error=error), "failed")
    if reporter.lease_lost:
        logger.warning("execution %s: attempt %s lost its lease and stopped", lease.execution_id, lease.attempt)
        return "lost"
    outcome = result.to_dict()
    if not result.canceled:
        try:
            return _finish(lease, lambda: execution.execution_succeed(lease=lease, result=outcome), "succeeded")
        except ExecutionCanceled:
            pass  # canceled in its last moments: keep the figures it reached, as for any stopped run
    return _finish(lease, lambda: execution.execution_stopped(lease=lease, result=outcome), "canceled")


def _finish(lease: Lease, action: Callable[[], None], outcome: str) -> str:
    """Write the attempt's last word; if the database stays away, the reaper gives it back later."""
    try:
        retrying(action, what=f"recording that it {outcome}")
    except ExecutionCanceled:
        if outcome == "succeeded":
            raise
        return "canceled"
    except LeaseLost:
        logger.warning("execution %s: attempt %s lost its lease and stopped", lease.execution_id, lease.attempt)
        return "lost"
    except TransientFailure:
        logger.exception("execution %s: could not record that it %s", lease.execution_id, outcome)
        return "unrecorded"
    return outcome

"""Execute one run on this worker: claim it, train it through the engine, record what happens.

Status changes go through ``backend.experiments.execution``; the engine only
sees a config, arrays and a callbacks object.
"""

from __future__ import annotations

import logging
import threading
import traceback
from pathlib import Path

from django.conf import settings
from django.db import connection

from backend.experiments import execution
from workers.dataset_cache import ensure_dataset
from workers.engine.training import Callbacks, train_run

logger = logging.getLogger(__name__)


class RunReporter(Callbacks):
    """Writes metrics as they happen and keeps a heartbeat from a side thread.

    The heartbeat thread also learns of cancellation (the run is no longer
    ``running``) and raises a flag that ``should_stop`` reads without a query,
    so the training loop stops at its next step boundary.
    """

    def __init__(self, run_id: int, *, interval_seconds: float):
        self.run_id = run_id
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id}", daemon=True)

    def __enter__(self) -> RunReporter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join(timeout=30)

    def _beat(self) -> None:
        try:
            while not self._done.wait(self.interval_seconds):
                if not execution.run_heartbeat(run_id=self.run_id):
                    self._stop.set()
                    return
        except Exception:
            logger.exception("heartbeat for run %s failed", self.run_id)
        finally:
            connection.close()

    def on_evaluation(self, metric: dict) -> None:
        execution.run_record_metric(run_id=self.run_id, metric=metric)

    def should_stop(self) -> bool:
        return self._stop.is_set()


def checkpoint_path(config_hash: str) -> Path:
    return Path(settings.SAMPLEWISE_DATA_DIR) / "checkpoints" / f"{config_hash}.pt"


def execute(run_id: int, *, worker: str) -> str:
    """Run ``run_id`` to completion here; returns what became of it."""
    claim = execution.run_claim(run_id=run_id, worker=worker)
    if claim is None:
        return "skipped"
    run = claim.run
    try:
        dataset = ensure_dataset(run.experiment.dataset.sha256)
        path = checkpoint_path(run.config_hash)
        execution.run_checkpoint_saved(run_id=run.pk, checkpoint=str(path))
        with RunReporter(run.pk, interval_seconds=settings.SAMPLEWISE_HEARTBEAT_SECONDS) as reporter:
            result = train_run(
                run.config,
                dataset,
                device=settings.SAMPLEWISE_DEVICE,
                callbacks=reporter,
                checkpoint_path=path,
            )
    except Exception:
        logger.exception("run %s failed", run_id)
        execution.run_fail(run_id=run_id, error=traceback.format_exc())
        return "failed"
    outcome = result.to_dict()
    if result.canceled:
        execution.run_stopped(run_id=run_id, result=outcome)
        return "canceled"
    execution.run_succeed(run_id=run_id, result=outcome)
    return "succeeded"

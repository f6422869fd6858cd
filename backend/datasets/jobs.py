"""Import one uploaded dataset on this worker: claim it, decode it through the engine, report under the claim.

Every write goes through ``backend.datasets.imports``; this module only decides
what to report when. The engine's progress reaches the row at most every
``PROGRESS_INTERVAL_SECONDS`` (and at each new stage), and a side thread keeps the
heartbeat while a stage says nothing for long. Database faults are retried
(progress is simply skipped); an import that is no longer this attempt's stops at
the engine's next report. Only the loader's refusal, or an error of the import
itself, fails it.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, connection

from backend.datasets.imports import (
    ArraysGone,
    ImportClaim,
    ImportLost,
    dataset_import_claim,
    dataset_import_fail,
    dataset_import_finish,
    dataset_import_heartbeat,
    dataset_import_progress,
)
from workers.engine.datasets import DatasetInfo, import_dataset
from workers.engine.errors import DatasetError
from workers.execution import retrying

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 0.5


def _drop_connection() -> None:
    try:
        connection.close()
    except DatabaseError:
        pass


class ImportReporter:
    """The engine's progress callback for one claimed import, with the import's heartbeat in a side thread.

    Reports at 1.0 are left to the finish, which records the outcome. Once the
    import is lost (deleted, or taken over by another delivery) the next report
    raises ``ImportLost``, which stops the engine before it stores anything more.
    """

    def __init__(self, claim: ImportClaim, *, interval_seconds: float):
        self.claim = claim
        self.interval_seconds = interval_seconds
        self.lost = False
        self._stage = ""
        self._written_at = float("-inf")
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"import-{claim.dataset_id}", daemon=True)

    def __enter__(self) -> ImportReporter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join(timeout=30)

    def _beat(self) -> None:
        try:
            while not self._done.wait(self.interval_seconds):
                try:
                    if not dataset_import_heartbeat(claim=self.claim):
                        self.lost = True
                        return
                except DatabaseError as error:
                    logger.warning("heartbeat of the import of dataset %s failed: %s", self.claim.dataset_id, error)
                    _drop_connection()
        finally:
            _drop_connection()

    def __call__(self, fraction: float, stage: str) -> None:
        if self.lost:
            raise ImportLost(f"dataset {self.claim.dataset_id}: the import is no longer this attempt's")
        now = time.monotonic()
        if fraction >= 1.0 or (stage == self._stage and now - self._written_at < PROGRESS_INTERVAL_SECONDS):
            return
        try:
            dataset_import_progress(claim=self.claim, fraction=fraction, stage=stage)
        except ImportLost:
            self.lost = True
            raise
        except DatabaseError as error:
            logger.warning("progress of the import of dataset %s not recorded: %s", self.claim.dataset_id, error)
            _drop_connection()
            return
        self._stage, self._written_at = stage, now


def run_import(dataset_id: int) -> str:
    """Import the dataset's stored upload; returns what became of it (ready, failed, lost or skipped)."""
    claim = retrying(lambda: dataset_import_claim(dataset_id=dataset_id), what="claiming the import")
    if claim is None:
        return "skipped"
    with ImportReporter(claim, interval_seconds=settings.SAMPLEWISE_HEARTBEAT_SECONDS) as reporter:
        return _import(claim, reporter)


def _import(claim: ImportClaim, reporter: ImportReporter) -> str:
    info: DatasetInfo | None = None
    try:
        if not claim.upload.is_file():
            raise DatasetError(
                f"{claim.source}: the uploaded file is not in this worker's store ({claim.upload}); imports need "
                "a worker that shares SAMPLEWISE_DATA_DIR with the web app"
            )
        # The arrays may vanish between the engine's write and the finish (a failed import of the same
        # content removing what it thought was its own): then the file is decoded once more.
        for retry in (False, True):
            info = import_dataset(
                claim.upload,
                settings.SAMPLEWISE_DATA_DIR,
                format=claim.format,
                original_name=claim.source,
                progress=reporter,
                **claim.options,
            )
            try:
                retrying(partial(dataset_import_finish, claim=claim, info=info), what="recording the import")
                return "ready"
            except ArraysGone:
                if retry:
                    raise
    except ImportLost:
        logger.info("the import of dataset %s is no longer attempt %s's", claim.dataset_id, claim.attempt)
        return "lost"
    except DatasetError as error:
        message = str(error)
    except SoftTimeLimitExceeded:
        message = f"{claim.source}: the import took too long and was stopped"
    except Exception as error:
        logger.exception("the import of dataset %s failed", claim.dataset_id)
        message = f"{claim.source}: the import failed ({type(error).__name__}: {error})"
    stored = info.sha256 if info is not None else None
    failed = retrying(
        lambda: dataset_import_fail(claim=claim, message=message, stored_sha256=stored), what="recording the failure"
    )
    # An import deleted meanwhile fails for want of its upload; it was not this attempt's to fail.
    return "failed" if failed else "lost"

"""The import lifecycle of an uploaded dataset: every status change of an import is written here.

The request stores the upload, creates the row *pending* and sends the import task
once that commits (``dataset_import_enqueue``). A worker claims the import, which opens
a new attempt and makes it *importing*; progress, heartbeat and outcome are accepted
only from the current attempt, so a worker whose import was taken over or deleted
changes nothing (``ImportLost``) and stops. A duplicate delivery of the task finds the
import finished, or held by a worker with a fresh heartbeat, and does nothing.

The import ends *ready*, its arrays stored under their SHA-256, or *failed* with the
loader's message. Either way the stored upload is removed, and arrays stored by an
import that did not end ready are removed unless another dataset uses them. The reaper
sends again an import no worker claimed in time or whose worker stopped beating, and
fails one after ``SAMPLEWISE_MAX_ATTEMPTS`` attempts.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from backend.datasets.models import IMPORT_STATUSES, Dataset, DatasetStatus
from workers.engine.data.store import dataset_path, info_path
from workers.engine.datasets import DatasetInfo

logger = logging.getLogger(__name__)

UPLOADS_FOLDER = "uploads"
# A file in the uploads folder that no import needs and nobody has written to for this long is left
# over from a request or a process that died; the reaper removes it.
ABANDONED_UPLOAD_SECONDS = 24 * 3600
WAITING = "Waiting for a worker"
STARTING = "Starting"
STAGE_LENGTH = Dataset._meta.get_field("stage").max_length


class ImportLost(Exception):
    """The import no longer belongs to this attempt: it was deleted, taken over, or has finished."""


class ArraysGone(Exception):
    """The arrays an import stored were removed before the import could be marked ready."""


@dataclass(frozen=True)
class ImportClaim:
    dataset_id: int
    attempt: int
    upload: Path
    format: str
    # The uploaded file's name, which the loader's messages mention.
    source: str
    options: dict = field(default_factory=dict)


def uploads_dir() -> Path:
    return Path(settings.SAMPLEWISE_DATA_DIR) / UPLOADS_FOLDER


def stored_upload_remove(name: str) -> None:
    if name:
        (uploads_dir() / name).unlink(missing_ok=True)


def _send(dataset_id: int) -> None:
    from backend.experiments.execution import queue_name
    from workers.tasks import import_dataset

    import_dataset.apply_async(args=[dataset_id], queue=queue_name("cpu"))


def dataset_import_enqueue(datasets: list[Dataset]) -> None:
    """Send the imports of ``datasets`` to the workers once the surrounding transaction commits.

    ``import_enqueued_at`` is stamped in the transaction; if the broker cannot be
    reached, the reaper sends them again once the claim timeout has passed.
    """
    ids = [dataset.pk for dataset in datasets]
    if not ids:
        return
    now = timezone.now()
    Dataset.objects.filter(pk__in=ids).update(import_enqueued_at=now)
    for dataset in datasets:
        dataset.import_enqueued_at = now

    def send() -> None:
        for position, dataset_id in enumerate(ids):
            try:
                _send(dataset_id)
            except Exception:
                logger.exception(
                    "could not send %d dataset import(s) to the broker; the reaper sends them again",
                    len(ids) - position,
                )
                return

    transaction.on_commit(send)


def _current(claim: ImportClaim) -> QuerySet[Dataset]:
    """The dataset, while this claim's attempt still holds its import."""
    return Dataset.objects.filter(pk=claim.dataset_id, status=DatasetStatus.IMPORTING, import_attempt=claim.attempt)


def dataset_import_claim(*, dataset_id: int) -> ImportClaim | None:
    """Open a new attempt on a pending import; None if there is nothing for this delivery to do.

    A finished or deleted import is skipped, and so is one whose worker is still
    beating (a duplicate delivery). One whose heartbeat went stale is taken over,
    which counts against its attempt budget.
    """
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS)
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().filter(pk=dataset_id).first()
        if dataset is None or dataset.status not in IMPORT_STATUSES:
            return None
        beating = dataset.import_heartbeat_at is not None and dataset.import_heartbeat_at > stale_before
        if dataset.status == DatasetStatus.IMPORTING and beating:
            return None
        if dataset.import_attempt >= settings.SAMPLEWISE_MAX_ATTEMPTS:
            _fail(
                dataset,
                f"The import was started {dataset.import_attempt} times and its worker stopped each time "
                "(out of memory, or killed) before it finished; the upload was discarded.",
            )
            return None
        dataset.status = DatasetStatus.IMPORTING
        dataset.import_attempt += 1
        dataset.progress = 0.0
        dataset.stage = STARTING
        dataset.import_heartbeat_at = now
        dataset.import_started_at = now
        dataset.save(
            update_fields=["status", "import_attempt", "progress", "stage", "import_heartbeat_at", "import_started_at"]
        )
    return ImportClaim(
        dataset_id=dataset.pk,
        attempt=dataset.import_attempt,
        upload=uploads_dir() / dataset.stored_upload,
        format=dataset.format,
        source=dataset.source,
        options=dict(dataset.import_options),
    )


def dataset_import_progress(*, claim: ImportClaim, fraction: float, stage: str) -> None:
    """Record how far the import has got; ``ImportLost`` once this attempt no longer holds it."""
    updated = _current(claim).update(
        progress=min(max(float(fraction), 0.0), 1.0), stage=stage[:STAGE_LENGTH], import_heartbeat_at=timezone.now()
    )
    if not updated:
        raise ImportLost(f"dataset {claim.dataset_id}: attempt {claim.attempt} no longer holds the import")


def dataset_import_heartbeat(*, claim: ImportClaim) -> bool:
    """Say the import's worker is alive; False once this attempt no longer holds it."""
    return bool(_current(claim).update(import_heartbeat_at=timezone.now()))


def _lock_content(sha256: str) -> None:
    """Serialise the writes that decide whether stored arrays are in use, per SHA-256, until the transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int(sha256[:15], 16)])


def dataset_import_finish(*, claim: ImportClaim, info: DatasetInfo) -> None:
    """Mark the import ready with what the engine found, and remove the stored upload.

    ``ArraysGone`` when the arrays vanished from the store after the engine wrote
    them (removed for a failed import of the same content): import again.
    """
    with transaction.atomic():
        _lock_content(info.sha256)
        if not dataset_path(info.sha256, settings.SAMPLEWISE_DATA_DIR).is_file():
            raise ArraysGone(f"the arrays of {info.sha256} are no longer in the store")
        updated = _current(claim).update(
            status=DatasetStatus.READY,
            error="",
            sha256=info.sha256,
            input_kind=info.kind,
            input_shape=list(info.input_shape),
            class_names=list(info.class_names),
            class_counts=list(info.class_counts),
            train_size=info.train_size,
            test_size=info.test_size,
            progress=1.0,
            stage="",
            stored_upload="",
            import_finished_at=timezone.now(),
        )
    if not updated:
        arrays_discard_unused(info.sha256)
        raise ImportLost(f"dataset {claim.dataset_id}: attempt {claim.attempt} no longer holds the import")
    stored_upload_remove(claim.upload.name)


def _fail(dataset: Dataset, message: str) -> None:
    stored_upload_remove(dataset.stored_upload)
    dataset.status = DatasetStatus.FAILED
    dataset.error = message
    dataset.stage = ""
    dataset.stored_upload = ""
    dataset.import_finished_at = timezone.now()
    dataset.save(update_fields=["status", "error", "stage", "stored_upload", "import_finished_at"])


def dataset_import_fail(*, claim: ImportClaim, message: str, stored_sha256: str | None = None) -> bool:
    """Fail the import with ``message`` and remove its upload; False if this attempt no longer held it.

    ``stored_sha256`` names arrays this attempt stored before it failed: they are
    removed unless a dataset uses them.
    """
    updated = _current(claim).update(
        status=DatasetStatus.FAILED, error=message, stage="", stored_upload="", import_finished_at=timezone.now()
    )
    if updated:
        stored_upload_remove(claim.upload.name)
    if stored_sha256:
        arrays_discard_unused(stored_sha256)
    return bool(updated)


def arrays_discard_unused(sha256: str) -> bool:
    """Remove a dataset's stored arrays if no dataset row records them; True if they were removed."""
    data_dir = settings.SAMPLEWISE_DATA_DIR
    with transaction.atomic():
        _lock_content(sha256)
        if Dataset.objects.filter(sha256=sha256).exists():
            return False
        dataset_path(sha256, data_dir).unlink(missing_ok=True)
        info_path(sha256, data_dir).unlink(missing_ok=True)
    return True


@dataclass
class ImportReapReport:
    resent: list[int] = field(default_factory=list)
    removed_uploads: list[str] = field(default_factory=list)


def dataset_imports_reap(
    *, timeout_seconds: float | None = None, claim_timeout_seconds: float | None = None
) -> ImportReapReport:
    """Send again the imports that no worker claimed in time, or whose worker stopped beating,
    and remove abandoned files from the uploads folder.

    The claim of the new delivery takes a stale import over (or fails it once its
    attempt budget is spent); a duplicate of a live one is ignored. Each import is
    sent at most once per claim timeout.
    """
    timeout_seconds = settings.SAMPLEWISE_HEARTBEAT_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
    claim_timeout = (
        settings.SAMPLEWISE_CLAIM_TIMEOUT_SECONDS if claim_timeout_seconds is None else claim_timeout_seconds
    )
    now = timezone.now()
    unsent = Q(import_enqueued_at__isnull=True) | Q(import_enqueued_at__lt=now - timedelta(seconds=claim_timeout))
    unclaimed = Q(status=DatasetStatus.PENDING)
    stale = Q(status=DatasetStatus.IMPORTING, import_heartbeat_at__lt=now - timedelta(seconds=timeout_seconds))
    with transaction.atomic():
        overdue = list(
            Dataset.objects.select_for_update(skip_locked=True)
            .filter(unsent & (unclaimed | stale))
            .exclude(stored_upload="")
            .order_by("import_enqueued_at", "pk")
        )
        dataset_import_enqueue(overdue)
    return ImportReapReport(resent=[dataset.pk for dataset in overdue], removed_uploads=uploads_clean())


def uploads_clean(*, older_than_seconds: float = ABANDONED_UPLOAD_SECONDS) -> list[str]:
    """Remove files of the uploads folder that no dataset waits for and that were last written long ago."""
    directory = uploads_dir()
    if not directory.is_dir():
        return []
    cutoff = time.time() - older_than_seconds
    candidates = [path for path in directory.iterdir() if path.is_file() and path.stat().st_mtime < cutoff]
    needed = set(
        Dataset.objects.filter(stored_upload__in=[path.name for path in candidates]).values_list(
            "stored_upload", flat=True
        )
    )
    removed = []
    for path in candidates:
        if path.name not in needed:
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return sorted(removed)

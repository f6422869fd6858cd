"""Writes for datasets: built-in generation, uploads and deletion.

Decoding happens once, in the engine, into canonical arrays stored under
their SHA-256 in ``SAMPLEWISE_DATA_DIR``; the row records what was found.
A built-in dataset is generated in the request; an upload is stored and
imported by a worker (``backend.datasets.imports``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from backend.datasets.imports import WAITING, dataset_import_enqueue, stored_upload_remove
from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus
from backend.datasets.uploads import too_large, upload_store
from backend.errors import ApplicationError
from backend.teams.access import Access, check_team_access
from backend.teams.models import Team

UPLOAD_SUFFIXES = {
    ".zip": DatasetFormat.IMAGE_FOLDER,
    ".tar.gz": DatasetFormat.IMAGE_FOLDER,
    ".tgz": DatasetFormat.IMAGE_FOLDER,
    ".npz": DatasetFormat.NPZ,
    ".csv": DatasetFormat.CSV,
}


def _check_name(team: Team, name: str, *, replacing_failed: bool = False) -> str:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A dataset needs a name.", field="name")
    if len(name) > 100:
        raise ApplicationError("Ensure this field has no more than 100 characters.", field="name")
    taken = Dataset.objects.filter(team=team, name=name)
    if replacing_failed:
        taken = taken.exclude(status=DatasetStatus.FAILED)
    if taken.exists():
        raise ApplicationError(f"This team already has a dataset named {name!r}.", field="name")
    return name


def _upload_format(filename: str) -> str:
    lowered = filename.lower()
    for suffix, dataset_format in UPLOAD_SUFFIXES.items():
        if lowered.endswith(suffix):
            return dataset_format
    allowed = ", ".join(UPLOAD_SUFFIXES)
    raise ApplicationError(f"Unsupported file type {filename!r}; upload one of {allowed}.", field="file")


def _save_row(*, team: Team, user, name: str, description: str, dataset_format: str, source: str, info) -> Dataset:
    try:
        with transaction.atomic():
            return Dataset.objects.create(
                team=team,
                name=name,
                description=description or "",
                format=dataset_format,
                source=source,
                status=DatasetStatus.READY,
                progress=1.0,
                sha256=info.sha256,
                input_kind=info.kind,
                input_shape=list(info.input_shape),
                class_names=list(info.class_names),
                class_counts=list(info.class_counts),
                train_size=info.train_size,
                test_size=info.test_size,
                created_by=user,
            )
    except IntegrityError:
        raise ApplicationError(f"This team already has a dataset named {name!r}.", field="name") from None


def dataset_create_builtin(*, team: Team, user, name: str, builtin: str, description: str = "") -> Dataset:
    from workers.engine.datasets import BUILTIN_DATASETS, materialize_builtin

    check_team_access(user=user, team=team, access=Access.WRITE)
    if builtin not in BUILTIN_DATASETS:
        known = ", ".join(sorted(BUILTIN_DATASETS))
        raise ApplicationError(f"Unknown built-in dataset {builtin!r}; choose one of {known}.", field="builtin")
    name = _check_name(team, name)
    info = materialize_builtin(builtin, settings.SAMPLEWISE_DATA_DIR)
    return _save_row(
        team=team,
        user=user,
        name=name,
        description=description,
        dataset_format=DatasetFormat.BUILTIN,
        source=builtin,
        info=info,
    )


def dataset_import_upload(
    *, team: Team, user, name: str, upload: UploadedFile, label_column: str | None = None, description: str = ""
) -> Dataset:
    """Store an uploaded archive, .npz or CSV and queue its import; the dataset is returned pending.

    What can be told without decoding is refused at once (name, file type, size,
    label column) and then nothing is stored. A worker decodes the file; the
    loader's verdict lands on the row (``backend.datasets.imports``). A failed
    import of the same name is replaced.
    """
    check_team_access(user=user, team=team, access=Access.WRITE)
    name = _check_name(team, name, replacing_failed=True)
    if upload is None:
        raise ApplicationError("Choose a file to upload.", field="file")
    if upload.size > settings.SAMPLEWISE_MAX_UPLOAD_BYTES:
        raise too_large(upload.size)
    dataset_format = _upload_format(upload.name or "")
    if dataset_format == DatasetFormat.CSV and label_column is not None and not label_column.strip():
        raise ApplicationError("Name the label column, or leave it out for 'label'.", field="label_column")

    stored = upload_store(upload)
    try:
        with transaction.atomic():
            # A failed import holds nothing but its error: uploading again under its name replaces it.
            Dataset.objects.filter(team=team, name=name, status=DatasetStatus.FAILED).delete()
            dataset = Dataset.objects.create(
                team=team,
                name=name,
                description=description or "",
                format=dataset_format,
                source=upload.name,
                status=DatasetStatus.PENDING,
                stage=WAITING,
                stored_upload=stored,
                import_options={"label_column": label_column.strip()} if label_column else {},
                created_by=user,
            )
            dataset_import_enqueue([dataset])
    except IntegrityError:
        stored_upload_remove(stored)
        raise ApplicationError(f"This team already has a dataset named {name!r}.", field="name") from None
    except BaseException:
        stored_upload_remove(stored)
        raise
    return dataset


def dataset_delete(*, dataset: Dataset, user) -> None:
    """Delete a dataset row no experiment uses; its stored arrays stay (another row may share the hash).

    An upload still waiting for its import is removed with it; a worker importing it
    finds the row gone and stops.
    """
    from backend.deletion import delete_unless_used

    check_team_access(user=user, team=dataset.team_id, access=Access.WRITE)
    delete_unless_used(dataset, label=f"Dataset {dataset.name!r}", experiments_using=dataset.experiments.count())
    stored_upload_remove(dataset.stored_upload)

"""Writes for datasets: built-in generation and uploaded-file import.

Decoding happens once, in the engine, into canonical arrays stored under
their SHA-256 in ``SAMPLEWISE_DATA_DIR``; the row records what was found.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus
from backend.errors import ApplicationError
from backend.teams.access import Access, check_team_access
from backend.teams.models import Team
from workers.engine.errors import DatasetError

UPLOAD_SUFFIXES = {
    ".zip": DatasetFormat.IMAGE_FOLDER,
    ".tar.gz": DatasetFormat.IMAGE_FOLDER,
    ".tgz": DatasetFormat.IMAGE_FOLDER,
    ".npz": DatasetFormat.NPZ,
    ".csv": DatasetFormat.CSV,
}


def _check_name(team: Team, name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A dataset needs a name.", field="name")
    if len(name) > 100:
        raise ApplicationError("Ensure this field has no more than 100 characters.", field="name")
    if Dataset.objects.filter(team=team, name=name).exists():
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
    """Validate and decode an uploaded archive, .npz or CSV; nothing is stored if it is bad."""
    from workers.engine.datasets import import_dataset

    check_team_access(user=user, team=team, access=Access.WRITE)
    name = _check_name(team, name)
    if upload is None:
        raise ApplicationError("Choose a file to upload.", field="file")
    if upload.size > settings.SAMPLEWISE_MAX_UPLOAD_BYTES:
        limit = settings.SAMPLEWISE_MAX_UPLOAD_BYTES
        raise ApplicationError(f"The file is larger than the {limit} byte limit.", field="file")
    dataset_format = _upload_format(upload.name or "")
    if dataset_format == DatasetFormat.CSV and label_column is not None and not label_column.strip():
        raise ApplicationError("Name the label column, or leave it out for 'label'.", field="label_column")

    data_dir = Path(settings.SAMPLEWISE_DATA_DIR)
    scratch = data_dir / "uploads"
    scratch.mkdir(parents=True, exist_ok=True)
    suffix = "".join(Path(upload.name).suffixes[-2:]) or ".bin"
    handle, temp_name = tempfile.mkstemp(dir=scratch, suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as destination:
            for chunk in upload.chunks():
                destination.write(chunk)
        options = {"label_column": label_column.strip()} if label_column else {}
        try:
            info = import_dataset(
                Path(temp_name), data_dir, format=dataset_format, original_name=upload.name, **options
            )
        except DatasetError as error:
            raise ApplicationError(str(error), field="file") from None
    finally:
        Path(temp_name).unlink(missing_ok=True)
    return _save_row(
        team=team,
        user=user,
        name=name,
        description=description,
        dataset_format=dataset_format,
        source=upload.name,
        info=info,
    )


def dataset_delete(*, dataset: Dataset, user) -> None:
    """Delete a dataset row no experiment uses; its stored arrays stay (another row may share the hash)."""
    from backend.deletion import delete_unless_used

    check_team_access(user=user, team=dataset.team_id, access=Access.WRITE)
    delete_unless_used(dataset, label=f"Dataset {dataset.name!r}", experiments_using=dataset.experiments.count())

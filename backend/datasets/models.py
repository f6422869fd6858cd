from __future__ import annotations

from django.conf import settings
from django.db import models

from backend.teams.models import Team


class DatasetFormat(models.TextChoices):
    BUILTIN = "builtin", "Built-in"
    IMAGE_FOLDER = "image_folder", "Image folder archive"
    NPZ = "npz", "NumPy .npz"
    CSV = "csv", "CSV"


class InputKind(models.TextChoices):
    IMAGE = "image", "Images"
    SEQUENCE = "sequence", "1-D signals"
    FEATURES = "features", "Feature vectors"


class DatasetStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IMPORTING = "importing", "Importing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


IMPORT_STATUSES = (DatasetStatus.PENDING, DatasetStatus.IMPORTING)


class Dataset(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    format = models.CharField(max_length=20, choices=DatasetFormat.choices)
    # Built-in generator key (e.g. "mnist1d") or the uploaded file's name.
    source = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=DatasetStatus.choices, default=DatasetStatus.PENDING)
    error = models.TextField(blank=True)
    # An upload's import, run by a worker (backend.datasets.imports): how far it has got, 0 to 1,
    # and what it is doing; the stored upload's file name under the uploads folder until it is done.
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=100, blank=True)
    stored_upload = models.CharField(max_length=100, blank=True)
    import_options = models.JSONField(default=dict, blank=True)
    # Each claim by a worker is a new attempt; only the current one may write.
    import_attempt = models.PositiveIntegerField(default=0)
    import_enqueued_at = models.DateTimeField(null=True, blank=True)
    import_heartbeat_at = models.DateTimeField(null=True, blank=True)
    import_started_at = models.DateTimeField(null=True, blank=True)
    import_finished_at = models.DateTimeField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    # What the models read: they declare the input kinds they take.
    input_kind = models.CharField(max_length=10, choices=InputKind.choices, blank=True)
    input_shape = models.JSONField(default=list, blank=True)
    class_names = models.JSONField(default=list, blank=True)
    class_counts = models.JSONField(default=list, blank=True)
    train_size = models.PositiveIntegerField(default=0)
    test_size = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="dataset_unique_team_name"),
            models.CheckConstraint(
                condition=~models.Q(status="ready") | models.Q(sha256__regex=r"^[0-9a-f]{64}$"),
                name="dataset_ready_has_sha256",
            ),
            models.CheckConstraint(
                condition=models.Q(progress__gte=0.0, progress__lte=1.0), name="dataset_progress_is_a_fraction"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

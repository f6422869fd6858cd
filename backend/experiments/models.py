from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from backend.datasets.models import Dataset
from backend.policies.models import SamplingPolicy
from backend.teams.models import Team


class Queue(models.TextChoices):
    CPU = "cpu", "CPU"
    GPU = "gpu", "GPU"


class Experiment(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="experiments")
    model = models.CharField(max_length=64)
    # The training recipe resolved against the engine's defaults; recipe_hash
    # groups experiments whose runs are comparable on one leaderboard.
    recipe = models.JSONField()
    recipe_hash = models.CharField(max_length=64)
    policies = models.ManyToManyField(SamplingPolicy, related_name="experiments")
    budgets = ArrayField(models.FloatField())
    seeds = ArrayField(models.IntegerField())
    queue = models.CharField(max_length=8, choices=Queue.choices, default=Queue.CPU)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(seeds__len__gte=1), name="experiment_has_seed"),
            models.CheckConstraint(condition=models.Q(budgets__len__gte=1), name="experiment_has_budget"),
            models.CheckConstraint(condition=models.Q(queue__in=Queue.values), name="experiment_queue_valid"),
        ]
        indexes = [
            models.Index(fields=["team", "-created_at"], name="experiment_team_recent"),
            models.Index(fields=["dataset", "model", "recipe_hash"], name="experiment_comparable"),
        ]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED)


class Run(models.Model):
    """One (policy, budget, seed) cell of an experiment's grid."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    policy = models.ForeignKey(SamplingPolicy, on_delete=models.PROTECT, related_name="runs")
    budget = models.FloatField()
    seed = models.IntegerField()
    config = models.JSONField()
    config_hash = models.CharField(max_length=64)
    # A run whose identical config already ran (or is running) elsewhere reads
    # its results through the original instead of recomputing them.
    reused_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reused_by")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    queue = models.CharField(max_length=8, choices=Queue.choices, default=Queue.CPU)
    worker = models.CharField(max_length=255, blank=True)
    attempt = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    selection_seconds = models.FloatField(null=True, blank=True)
    training_seconds = models.FloatField(null=True, blank=True)
    evaluation_seconds = models.FloatField(null=True, blank=True)
    final_accuracy = models.FloatField(null=True, blank=True)
    best_accuracy = models.FloatField(null=True, blank=True)
    time_to_target_seconds = models.FloatField(null=True, blank=True)
    samples_trained = models.BigIntegerField(null=True, blank=True)
    checkpoint = models.CharField(max_length=500, blank=True)
    # The round the last attempt resumed from (None: it started from scratch).
    resumed_from_round = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["experiment_id", "policy_id", "budget", "seed"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "config_hash"], name="run_unique_config_per_experiment"),
            models.CheckConstraint(condition=models.Q(budget__gt=0, budget__lte=1), name="run_budget_in_range"),
            models.CheckConstraint(condition=models.Q(status__in=RunStatus.values), name="run_status_valid"),
            models.CheckConstraint(
                condition=models.Q(final_accuracy__isnull=True)
                | models.Q(final_accuracy__gte=0, final_accuracy__lte=1),
                name="run_final_accuracy_in_range",
            ),
        ]
        indexes = [
            models.Index(fields=["experiment", "status"], name="run_experiment_status"),
            models.Index(fields=["experiment", "budget", "policy"], name="run_leaderboard"),
            models.Index(fields=["config_hash", "status"], name="run_config_status"),
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"{self.policy.name} r={self.budget:g} seed={self.seed}"

    @property
    def source(self) -> Run:
        """The run whose results this run shows (itself unless reused)."""
        return self.reused_from or self


class RunMetric(models.Model):
    """One evaluation of a run: the points of its learning curve."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metrics")
    epoch = models.PositiveIntegerField()
    step = models.PositiveIntegerField()
    samples_seen = models.BigIntegerField()
    # Cumulative selection + training seconds up to this evaluation
    # (evaluation time is excluded, as in time-to-accuracy).
    wall_clock_seconds = models.FloatField()
    evaluation_seconds = models.FloatField(default=0)
    train_loss = models.FloatField(null=True, blank=True)
    test_accuracy = models.FloatField()
    test_loss = models.FloatField(null=True, blank=True)
    lr = models.FloatField()
    data_fraction = models.FloatField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run_id", "epoch"]
        constraints = [
            models.UniqueConstraint(fields=["run", "epoch"], name="metric_unique_run_epoch"),
            models.CheckConstraint(
                condition=models.Q(test_accuracy__gte=0, test_accuracy__lte=1), name="metric_accuracy_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}@{self.epoch}"


def new_share_token() -> str:
    return secrets.token_urlsafe(32)


class ShareLink(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="share_links")
    token = models.CharField(max_length=64, unique=True, default=new_share_token)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"share link for {self.experiment}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

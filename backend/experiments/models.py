from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

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


class DeviceKind(models.TextChoices):
    CPU = "cpu", "CPU"
    CUDA = "cuda", "CUDA"


# The device kind each queue's workers train on; it is part of an execution's identity.
QUEUE_DEVICE_KINDS = {Queue.CPU: DeviceKind.CPU, Queue.GPU: DeviceKind.CUDA}
DEVICE_KIND_QUEUES = {kind: queue for queue, kind in QUEUE_DEVICE_KINDS.items()}


class Execution(models.Model):
    """The training of one fully resolved configuration in a team, shared by every cell that asks for it.

    Its identity (``key_hash``) covers the dataset checksum, model, training
    recipe, strategy and parameters, budget and seed, and the provenance that
    changes results: the device kind and the engine version. It owns everything
    a run produces; cells only point at it.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="executions")
    key_hash = models.CharField(max_length=64)
    config = models.JSONField()
    device_kind = models.CharField(max_length=8, choices=DeviceKind.choices, default=DeviceKind.CPU)
    engine_version = models.CharField(max_length=32)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    # The lease: each claim increments it, and every write of a worker names the
    # attempt it holds, so a worker that lost its claim can change nothing.
    attempt = models.PositiveIntegerField(default=0)
    # Attempts given back (worker lost, persistent transient error) since it was last queued.
    requeues = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(default=timezone.now)
    # When a message for it was last sent to the broker; the reaper re-sends one
    # for an execution that stays queued too long after it.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    selection_seconds = models.FloatField(null=True, blank=True)
    training_seconds = models.FloatField(null=True, blank=True)
    evaluation_seconds = models.FloatField(null=True, blank=True)
    final_accuracy = models.FloatField(null=True, blank=True)
    best_accuracy = models.FloatField(null=True, blank=True)
    samples_trained = models.BigIntegerField(null=True, blank=True)
    rounds_completed = models.PositiveIntegerField(null=True, blank=True)
    rounds_planned = models.PositiveIntegerField(null=True, blank=True)
    # The round the current (or last) attempt resumed from; None: it started from scratch.
    resumed_from_round = models.PositiveIntegerField(null=True, blank=True)
    # The newest checkpoint of this execution's attempts and the round it resumes at.
    checkpoint = models.CharField(max_length=500, blank=True)
    checkpoint_round = models.PositiveIntegerField(null=True, blank=True)
    # The final model's predicted class for every test example, one small unsigned integer each.
    test_predictions = models.BinaryField(null=True, blank=True)
    test_predictions_dtype = models.CharField(max_length=8, blank=True)
    error = models.TextField(blank=True)
    # Provenance recorded by the worker that ran the last attempt.
    engine_commit = models.CharField(max_length=64, blank=True)
    torch_version = models.CharField(max_length=64, blank=True)
    device_name = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "key_hash"], name="execution_unique_key_per_team"),
            models.CheckConstraint(condition=models.Q(status__in=RunStatus.values), name="execution_status_valid"),
            models.CheckConstraint(
                condition=models.Q(device_kind__in=DeviceKind.values), name="execution_device_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(final_accuracy__isnull=True)
                | models.Q(final_accuracy__gte=0, final_accuracy__lte=1),
                name="execution_final_accuracy_in_range",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="execution_status_heartbeat"),
            models.Index(fields=["status", "device_kind", "enqueued_at"], name="execution_waiting"),
        ]

    def __str__(self) -> str:
        config = self.config
        return f"{config.get('strategy')} r={config.get('budget')} seed={config.get('seed')} ({self.status})"

    @property
    def queue(self) -> str:
        return DEVICE_KIND_QUEUES[self.device_kind]

    @property
    def budget(self) -> float:
        return float(self.config["budget"])

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    @property
    def strategy(self) -> str:
        return self.config["strategy"]


class AttemptOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"
    LOST = "lost", "Worker lost"
    RELEASED = "released", "Given back"


class Attempt(models.Model):
    """One lease on an execution: which worker held it, on what, from when to when, and how it ended."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=255, blank=True)
    device_name = models.CharField(max_length=128, blank=True)
    torch_version = models.CharField(max_length=64, blank=True)
    engine_commit = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING)
    resumed_from_round = models.PositiveIntegerField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["execution_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "number"], name="attempt_unique_number"),
            models.CheckConstraint(condition=models.Q(outcome__in=AttemptOutcome.values), name="attempt_outcome_valid"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of execution {self.execution_id}"


class Run(models.Model):
    """One (policy, budget, seed) cell of an experiment's grid, shown through the execution it points at.

    A cell holds no results of its own. Canceling it withdraws this
    experiment's claim on the execution; the execution itself stops only when
    no other experiment's cell still needs it.
    """

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    policy = models.ForeignKey(SamplingPolicy, on_delete=models.PROTECT, related_name="runs")
    budget = models.FloatField()
    seed = models.IntegerField()
    execution = models.ForeignKey(Execution, on_delete=models.PROTECT, related_name="cells")
    # The execution already existed when this cell was created (its work is shared, not repeated).
    reused = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["experiment_id", "policy_id", "budget", "seed"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "execution"], name="run_unique_execution_per_experiment"),
            models.UniqueConstraint(fields=["experiment", "policy", "budget", "seed"], name="run_unique_cell"),
            models.CheckConstraint(condition=models.Q(budget__gt=0, budget__lte=1), name="run_budget_in_range"),
        ]
        indexes = [
            models.Index(fields=["experiment", "budget", "policy"], name="run_leaderboard"),
        ]

    def __str__(self) -> str:
        return f"{self.policy.name} r={self.budget:g} seed={self.seed}"

    @property
    def status(self) -> str:
        """The execution's status, except that a withdrawn cell of an unfinished execution reads canceled."""
        status = self.execution.status
        if self.canceled_at is not None and status in ACTIVE_RUN_STATUSES:
            return RunStatus.CANCELED
        return status


def run_status_expression(prefix: str = "") -> models.Case:
    """``Run.status`` as a database expression over cells (``prefix`` reaches them from another model)."""
    execution_status = models.F(f"{prefix}execution__status")
    return models.Case(
        models.When(
            models.Q(**{f"{prefix}canceled_at__isnull": False, f"{prefix}execution__status__in": ACTIVE_RUN_STATUSES}),
            then=models.Value(RunStatus.CANCELED.value),
        ),
        default=execution_status,
        output_field=models.CharField(),
    )


def run_status_filter(status: str, prefix: str = "") -> models.Q:
    """A filter on cells whose ``Run.status`` is ``status``, usable inside aggregates."""
    withdrawn = models.Q(**{f"{prefix}canceled_at__isnull": False})
    active_execution = models.Q(**{f"{prefix}execution__status__in": ACTIVE_RUN_STATUSES})
    of_execution = models.Q(**{f"{prefix}execution__status": status})
    if status in ACTIVE_RUN_STATUSES:
        return of_execution & ~withdrawn
    if status == RunStatus.CANCELED:
        return of_execution | (withdrawn & active_execution)
    return of_execution


class RunMetric(models.Model):
    """One evaluation of an execution: the points of its learning curve."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="metrics")
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
        ordering = ["execution_id", "epoch"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "epoch"], name="metric_unique_execution_epoch"),
            models.CheckConstraint(
                condition=models.Q(test_accuracy__gte=0, test_accuracy__lte=1), name="metric_accuracy_in_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.execution_id}@{self.epoch}"


class WorkerPresence(models.Model):
    """A live worker process: the queues it consumes, its device kind and engine version, when last seen."""

    name = models.CharField(max_length=255, unique=True)
    queues = ArrayField(models.CharField(max_length=200), default=list)
    device_kind = models.CharField(max_length=8, choices=DeviceKind.choices)
    engine_version = models.CharField(max_length=32)
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


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

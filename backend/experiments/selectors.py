"""Reads for experiments, their cells and the executions behind them."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db.models import Case, Count, F, FloatField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from backend.experiments.models import (
    DEVICE_KIND_QUEUES,
    QUEUE_DEVICE_KINDS,
    Attempt,
    DeviceKind,
    Execution,
    Experiment,
    Run,
    RunMetric,
    RunStatus,
    ShareLink,
    WorkerPresence,
    run_status_expression,
    run_status_filter,
)
from backend.experiments.presence import presence_timeout


def experiments_with_status_counts(queryset: QuerySet[Experiment]) -> QuerySet[Experiment]:
    """Annotate each experiment with ``runs_total``, ``runs_reused`` and ``runs_<status>`` counts."""
    counts = {
        f"runs_{status}": Count("runs", filter=run_status_filter(status, prefix="runs__"))
        for status in RunStatus.values
    }
    return queryset.annotate(runs_total=Count("runs"), runs_reused=Count("runs", filter=Q(runs__reused=True)), **counts)


def time_to_target_subquery(target) -> Subquery:
    """Seconds of selection + training until the cell's execution first reached ``target`` (None: never).

    ``target`` is a number or an ``OuterRef`` to the cell's target annotation.
    """
    reached = RunMetric.objects.filter(execution=OuterRef("execution"), test_accuracy__gte=target).order_by("epoch")
    return Subquery(reached.values("wall_clock_seconds")[:1], output_field=FloatField())


def data_fraction_expression() -> Case:
    """The fraction of the training set a cell's execution trained on per round of the recipe, once it has succeeded.

    That is the examples it trained on over (the recipe's rounds × the
    training set): a policy that kept to its budget r reads r, including one
    that trains on all the data for r × the rounds, and a dynamic policy
    whose rounds vary reads what it really used. It comes from the
    execution's ``samples_trained`` where the dataset records its size, else
    from its last evaluation (the engine's mean fraction per round × the
    rounds it averages). None for an execution that has not succeeded.
    """
    recipe_rounds = Cast(KeyTextTransform("rounds", "experiment__recipe"), FloatField())
    latest = RunMetric.objects.filter(execution=OuterRef("execution")).order_by("-epoch")
    # Training sets' worth of examples seen by the last evaluation.
    seen = Subquery(latest.annotate(seen=F("data_fraction") * F("epoch")).values("seen")[:1], output_field=FloatField())
    return Case(
        # Until the last round the total is part of a run, and the planned rounds are not yet recorded.
        When(~Q(execution__status=RunStatus.SUCCEEDED), then=Value(None)),
        When(
            Q(execution__samples_trained__isnull=False, experiment__dataset__train_size__gt=0),
            then=Cast("execution__samples_trained", FloatField())
            / (recipe_rounds * Cast("experiment__dataset__train_size", FloatField())),
        ),
        default=seen / recipe_rounds,
        output_field=FloatField(),
    )


def runs_with_progress(queryset: QuerySet[Run]) -> QuerySet[Run]:
    """Cells with their execution (its stored test predictions deferred) and the figures read from its curve.

    Annotates ``run_status`` (the cell's status), ``last_epoch`` and
    ``last_accuracy`` (the latest evaluation), ``target_accuracy`` (the
    experiment's), ``time_to_target_seconds`` for it and ``data_fraction``
    (``data_fraction_expression``).
    """
    latest = RunMetric.objects.filter(execution=OuterRef("execution")).order_by("-epoch")
    return (
        queryset.select_related("execution", "policy")
        # One byte per test example per row adds up on a polled table; the run page reads them on demand.
        .defer("execution__test_predictions")
        .annotate(
            run_status=run_status_expression(),
            last_epoch=Subquery(latest.values("epoch")[:1]),
            last_accuracy=Subquery(latest.values("test_accuracy")[:1]),
            target_accuracy=Cast(KeyTextTransform("target_accuracy", "experiment__recipe"), FloatField()),
            data_fraction=data_fraction_expression(),
        )
        .annotate(time_to_target_seconds=time_to_target_subquery(OuterRef("target_accuracy")))
    )


def execution_metrics(execution: Execution) -> QuerySet[RunMetric]:
    return RunMetric.objects.filter(execution=execution).order_by("epoch")


def execution_attempts(execution: Execution) -> QuerySet[Attempt]:
    return Attempt.objects.filter(execution=execution).order_by("number")


@dataclass(frozen=True)
class Waiting:
    """Executions queued for a device kind that no live worker can take."""

    device_kind: str
    queue: str
    runs: int
    reason: str


def live_workers() -> QuerySet[WorkerPresence]:
    return WorkerPresence.objects.filter(seen_at__gte=timezone.now() - presence_timeout())


def waiting_without_worker(cells: QuerySet[Run] | None = None) -> list[Waiting]:
    """Why queued runs wait: for each device kind with queued executions, say so when no live worker serves it.

    ``cells`` limits the count to those cells (an experiment's); otherwise
    every queued execution counts. Two queries.
    """
    from backend.experiments.execution import queue_name

    if cells is not None:
        queued = (
            cells.filter(run_status_filter(RunStatus.QUEUED))
            .values("execution__device_kind", "execution__engine_version")
            .annotate(runs=Count("id"))
        )
        rows = [(row["execution__device_kind"], row["execution__engine_version"], row["runs"]) for row in queued]
    else:
        queued = (
            Execution.objects.filter(status=RunStatus.QUEUED)
            .values("device_kind", "engine_version")
            .annotate(runs=Count("id"))
        )
        rows = [(row["device_kind"], row["engine_version"], row["runs"]) for row in queued]
    if not rows:
        return []
    workers = list(live_workers().values("device_kind", "engine_version", "queues"))
    waiting = []
    for device_kind, engine_version, runs in rows:
        queue = DEVICE_KIND_QUEUES[device_kind]
        name = queue_name(queue)
        serving = [worker for worker in workers if worker["device_kind"] == device_kind and name in worker["queues"]]
        label = "GPU" if device_kind == DeviceKind.CUDA else "CPU"
        if not serving:
            reason = f"No {label} worker is online"
        elif not any(worker["engine_version"] == engine_version for worker in serving):
            reason = f"No {label} worker runs engine {engine_version}"
        else:
            continue
        waiting.append(Waiting(device_kind=device_kind, queue=name, runs=runs, reason=reason))
    return waiting


def queue_overview() -> dict:
    """Queue depth from the broker and the database, the live workers, and the executions they hold."""
    from django.db.models import Max

    from backend.experiments.execution import broker_queue_depths, queue_name

    depths = broker_queue_depths()
    queued = dict(
        Execution.objects.filter(status=RunStatus.QUEUED)
        .values_list("device_kind")
        .annotate(count=Count("id"))
        .values_list("device_kind", "count")
    )
    queues = [
        {"name": queue_name(queue), "messages": depths.get(queue), "runs_queued": queued.get(device_kind, 0)}
        for device_kind, queue in DEVICE_KIND_QUEUES.items()
    ]
    running = list(
        Execution.objects.filter(status=RunStatus.RUNNING)
        .values("worker")
        .annotate(running=Count("id"), last_heartbeat=Max("heartbeat_at"))
        .order_by("worker")
    )
    workers = list(live_workers().values("name", "queues", "device_kind", "engine_version", "seen_at"))
    return {"queues": queues, "running": running, "workers": workers, "waiting": waiting_without_worker()}


def experiments_sharing_execution(run: Run) -> QuerySet[Experiment]:
    """The other experiments whose cells point at this run's execution (executions never cross teams)."""
    return (
        Experiment.objects.filter(runs__execution_id=run.execution_id, team_id=run.experiment.team_id)
        .exclude(pk=run.experiment_id)
        .distinct()
        .order_by("-created_at", "-id")
    )


CURVE_METRICS = ("test_accuracy", "test_loss", "train_loss", "lr")


def execution_curve_rows(execution: Execution) -> list[dict]:
    """The learning curve in long form: one row per (evaluation, metric) with a value, as the plots take it."""
    rows = []
    for metric in execution_metrics(execution).values("epoch", "wall_clock_seconds", *CURVE_METRICS):
        for name in CURVE_METRICS:
            if metric[name] is not None:
                rows.append(
                    {
                        "round": metric["epoch"],
                        "seconds": metric["wall_clock_seconds"],
                        "metric": name,
                        "value": metric[name],
                    }
                )
    return rows


def experiment_share_links(experiment: Experiment) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(experiment=experiment).select_related("created_by")


def active_share_link(token: str) -> ShareLink | None:
    """The share link with this token, unless it was revoked (then, like an unknown token, None)."""
    return (
        ShareLink.objects.filter(token=token, revoked_at__isnull=True)
        .select_related("experiment__team", "experiment__dataset")
        .first()
    )


@dataclass(frozen=True)
class ClassAccuracy:
    name: str
    support: int  # test examples of this class
    correct: int
    accuracy: float | None  # None when the test set holds no example of the class


@dataclass(frozen=True)
class Confusion:
    """Counts of (true class, predicted class) over the test set: ``matrix[true][predicted]``."""

    class_names: list[str]
    matrix: list[list[int]]
    per_class: list[ClassAccuracy]
    total: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total


def confusion_from_predictions(*, predictions: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> Confusion:
    """The exact confusion matrix and per-class accuracy of ``predictions`` against ``labels``.

    Both are 1-D arrays of class indices of the same length; ValueError says
    what does not fit.
    """
    predictions = np.asarray(predictions)
    labels = np.asarray(labels)
    classes = len(class_names)
    if predictions.ndim != 1 or labels.ndim != 1:
        raise ValueError("predictions and labels must be 1-D arrays of class indices")
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} test examples")
    if len(labels) == 0:
        raise ValueError("the test set is empty")
    for name, values in (("predictions", predictions), ("labels", labels)):
        if values.dtype.kind not in "iu":
            raise ValueError(f"{name} must be integers, not {values.dtype}")
        if values.min() < 0 or values.max() >= classes:
            raise ValueError(f"{name} hold class indices outside 0..{classes - 1}")
    pairs = labels.astype(np.int64) * classes + predictions.astype(np.int64)
    matrix = np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)
    support = matrix.sum(axis=1)
    correct = np.diagonal(matrix)
    per_class = [
        ClassAccuracy(
            name=str(name),
            support=int(support[index]),
            correct=int(correct[index]),
            accuracy=float(correct[index] / support[index]) if support[index] else None,
        )
        for index, name in enumerate(class_names)
    ]
    return Confusion(
        class_names=[str(name) for name in class_names],
        matrix=matrix.tolist(),
        per_class=per_class,
        total=int(len(labels)),
        correct=int(correct.sum()),
    )


NO_PREDICTIONS_STORED = "no predictions stored (run from an older engine)"


@dataclass(frozen=True)
class RunConfusion:
    """A run's confusion matrix, or why there is none (``reason``)."""

    confusion: Confusion | None
    reason: str = ""


def execution_test_predictions(execution: Execution) -> np.ndarray | None:
    """The stored predicted class of every test example, or None when the execution stored none."""
    if execution.test_predictions is None or not execution.test_predictions_dtype:
        return None
    dtype = np.dtype(execution.test_predictions_dtype)
    if dtype.kind not in "iu":
        raise ValueError(f"stored predictions have dtype {dtype}, not an integer type")
    return np.frombuffer(bytes(execution.test_predictions), dtype=dtype)


def run_confusion(run: Run) -> RunConfusion:
    """Per-class test accuracy and the confusion matrix of the run's final model, read from what is stored.

    The predictions are the execution's; the labels are the dataset's stored
    ``y_test`` (never unpickled), in the order the engine evaluated them.
    """
    from workers.engine.datasets import load_test_labels
    from workers.engine.errors import DatasetError

    execution = run.execution
    if execution.status != RunStatus.SUCCEEDED:
        if execution.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            return RunConfusion(None, "available once the run has succeeded")
        ended = "failed" if execution.status == RunStatus.FAILED else "was canceled"
        return RunConfusion(None, f"no predictions: the run {ended}")
    try:
        predictions = execution_test_predictions(execution)
    except ValueError as error:
        return RunConfusion(None, f"the stored predictions cannot be read: {error}")
    if predictions is None:
        return RunConfusion(None, NO_PREDICTIONS_STORED)
    try:
        labels = load_test_labels(execution.config["dataset_sha256"], settings.SAMPLEWISE_DATA_DIR)
    except DatasetError:
        return RunConfusion(None, "the dataset's test labels are not in this server's store")
    try:
        confusion = confusion_from_predictions(
            predictions=predictions, labels=labels, class_names=run.experiment.dataset.class_names
        )
    except ValueError as error:
        return RunConfusion(None, f"the stored predictions do not fit the dataset's test set: {error}")
    return RunConfusion(confusion)


# ---------------------------------------------------------------------------
# Previews: what creating, cloning or extending a grid would queue, reuse and cost
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CostSample:
    """The seconds one succeeded execution spent, and on what."""

    params: str  # its strategy parameters, as canonical JSON
    budget: float
    selection_seconds: float
    training_seconds: float


def _params_key(params: dict) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def execution_cost_history(
    *, team_id: int, dataset_sha256: str, model: str, recipe: dict, device_kind: str
) -> dict[str, list[CostSample]]:
    """By strategy, the selection and training seconds of the team's succeeded executions of this dataset,
    model and training recipe on this device kind (the comparable ones: others train a different amount)."""
    rows = Execution.objects.filter(
        team_id=team_id,
        status=RunStatus.SUCCEEDED,
        device_kind=device_kind,
        config__dataset_sha256=dataset_sha256,
        config__model=model,
        config__recipe=recipe,
        selection_seconds__isnull=False,
        training_seconds__isnull=False,
    ).values_list("config__strategy", "config__params", "config__budget", "selection_seconds", "training_seconds")
    history: dict[str, list[CostSample]] = {}
    for strategy, params, budget, selection, training in rows:
        history.setdefault(strategy, []).append(
            CostSample(
                params=_params_key(params),
                budget=float(budget),
                selection_seconds=selection,
                training_seconds=training,
            )
        )
    return history


def cell_cost_estimate(samples: Sequence[CostSample], *, params: dict, budget: float) -> float | None:
    """Selection + training seconds of one cell, from earlier executions of its strategy (None: none ran).

    Executions with the same parameters count first, then the strategy's
    others. At the same budget the estimate is their mean; otherwise the
    budget is scaled: training takes steps in proportion to it (the number of
    rounds is the recipe's), while selection (a proxy trained on the whole
    set, a score over every example) does not depend on it.
    """
    key = _params_key(params)
    for pool in ([sample for sample in samples if sample.params == key], list(samples)):
        if not pool:
            continue
        at_budget = [sample for sample in pool if math.isclose(sample.budget, budget)]
        if at_budget:
            return float(np.mean([sample.selection_seconds + sample.training_seconds for sample in at_budget]))
        selection = np.mean([sample.selection_seconds for sample in pool])
        training_per_budget = np.mean([sample.training_seconds / sample.budget for sample in pool])
        return float(selection + training_per_budget * budget)
    return None


@dataclass(frozen=True)
class GridPreview:
    """What an operation on a grid would do, before it is submitted."""

    runs: int  # cells it creates
    reused: int  # of those, cells that share an execution the team already has
    finished: int  # of the reused, cells whose execution has succeeded: nothing to train
    to_train: int  # cells whose execution would be queued: new ones, and stopped ones queued again
    estimated_runs: int  # of those to train, the ones an earlier execution gives an estimate for
    estimated_seconds: float | None  # their selection + training seconds; None when none has an estimate
    basis: int  # comparable earlier executions the estimate reads

    @property
    def unestimated_runs(self) -> int:
        return self.to_train - self.estimated_runs


def grid_preview(grid) -> GridPreview:
    """The runs a planned grid (``services.Grid``) creates, how many reuse an execution, and their estimated cost.

    Two queries, whatever the size of the grid.
    """
    from workers.engine.recipe import training_recipe

    keys = [cell.spec.key_hash for cell in grid.cells]
    statuses = dict(Execution.objects.filter(team=grid.team, key_hash__in=keys).values_list("key_hash", "status"))
    to_train = [
        cell for cell in grid.cells if statuses.get(cell.spec.key_hash) in (None, RunStatus.FAILED, RunStatus.CANCELED)
    ]
    history = execution_cost_history(
        team_id=grid.team.pk,
        dataset_sha256=grid.dataset.sha256,
        model=grid.model,
        recipe=training_recipe(grid.recipe),
        device_kind=QUEUE_DEVICE_KINDS[grid.queue],
    )
    estimates = [
        cell_cost_estimate(
            history.get(cell.spec.config["strategy"], []),
            params=cell.spec.config["params"],
            budget=cell.spec.config["budget"],
        )
        for cell in to_train
    ]
    known = [estimate for estimate in estimates if estimate is not None]
    return GridPreview(
        runs=len(grid.cells),
        reused=sum(1 for key in keys if key in statuses),
        finished=sum(1 for key in keys if statuses.get(key) == RunStatus.SUCCEEDED),
        to_train=len(to_train),
        estimated_runs=len(known),
        estimated_seconds=float(sum(known)) if known else None,
        basis=sum(len(samples) for samples in history.values()),
    )


def experiment_preview(**grid_arguments) -> GridPreview:
    """The preview of creating an experiment (``services.experiment_grid``'s arguments; its errors name the field)."""
    from backend.experiments.services import experiment_grid

    return grid_preview(experiment_grid(**grid_arguments))


def experiment_clone_preview(*, experiment: Experiment, **changes) -> GridPreview:
    """The preview of cloning ``experiment`` with these changes (``services.clone_arguments``)."""
    from backend.experiments.services import clone_arguments

    arguments = clone_arguments(experiment=experiment, **changes)
    arguments.pop("name")
    arguments.pop("description")
    return experiment_preview(**arguments)


def experiment_extend_preview(*, experiment: Experiment, policies=(), budgets=(), seeds=()) -> GridPreview:
    """The preview of extending ``experiment``: only the cells it adds."""
    from backend.experiments.services import experiment_extension_grid

    return grid_preview(
        experiment_extension_grid(experiment=experiment, policies=policies, budgets=budgets, seeds=seeds)
    )

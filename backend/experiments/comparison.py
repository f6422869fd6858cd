"""Reads behind the comparisons: leaderboards, the budget table, the plots' data and version stamps.

Every read loads the cells it needs with their executions in one query and,
where it reads the curves, their metric rows in one more; the statistics are
then computed in Python (``backend.experiments.statistics``). The number of
queries never depends on the number of runs.

Strategies that ignore the budget (``full``) store their cells at budget 1.0;
they appear in every budget's leaderboard as reference rows, unranked.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from django.db.models import Count, F, FloatField, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from backend.errors import ApplicationError
from backend.experiments.models import (
    ACTIVE_RUN_STATUSES,
    Execution,
    Experiment,
    Run,
    RunMetric,
    RunStatus,
    run_status_expression,
)
from backend.experiments.selectors import data_fraction_expression
from backend.experiments.statistics import (
    Estimate,
    PairedComparison,
    leader_of,
    mean_ci,
    paired_comparison,
    pareto_front,
    tied_for_first,
    time_to_target,
)
from backend.teams.models import Team
from workers.engine.strategies import STRATEGIES

BASELINE_STRATEGY = "rs2_without_replacement"
FULL_DATA_STRATEGY = "full"
# Strategies whose cells are stored at budget 1.0 whatever the experiment's budgets.
UNBUDGETED_STRATEGIES = tuple(sorted(key for key, strategy in STRATEGIES.items() if not strategy.uses_budget))
# Executions whose curves the time plot shows: finished ones and those still arriving.
CURVE_STATUSES = (RunStatus.SUCCEEDED, RunStatus.RUNNING)
CURVE_METRICS = ("test_accuracy", "test_loss", "train_loss", "lr")
# Part of every version stamp, so a change in what the pages compute invalidates cached copies.
STAMP_FORMAT = "comparison-2"


# ---------------------------------------------------------------------------
# Loading: one query for cells, one for curves
# ---------------------------------------------------------------------------

_CELL_FIELDS = (
    "policy_id",
    "policy__name",
    "policy__strategy",
    "policy__team_id",
    "budget",
    "seed",
    "execution_id",
    "cell_status",
    "execution__final_accuracy",
    "execution__best_accuracy",
    "execution__selection_seconds",
    "execution__training_seconds",
    "experiment_id",
    "experiment_target",
    "data_fraction",
)


@dataclass(frozen=True)
class Cell:
    """One cell with the figures of its execution, as loaded for a comparison."""

    policy_id: int
    policy_name: str
    strategy: str
    policy_builtin: bool
    budget: float
    seed: int
    execution_id: int
    status: str
    final_accuracy: float | None
    best_accuracy: float | None
    selection_seconds: float | None
    training_seconds: float | None
    experiment_id: int
    experiment_target: float | None
    # Of the training set per round of the recipe, as trained (``data_fraction_expression``); None until it succeeds.
    data_fraction: float | None

    @property
    def reference(self) -> bool:
        return self.strategy in UNBUDGETED_STRATEGIES

    @property
    def finished(self) -> bool:
        return self.status == RunStatus.SUCCEEDED and self.final_accuracy is not None

    @property
    def total_seconds(self) -> float | None:
        if self.training_seconds is None:
            return None
        return (self.selection_seconds or 0.0) + self.training_seconds


def _load_cells(cells: QuerySet[Run], *, status=None) -> list[Cell]:
    rows = (
        cells.annotate(
            cell_status=status if status is not None else run_status_expression(),
            experiment_target=Cast(KeyTextTransform("target_accuracy", "experiment__recipe"), FloatField()),
            data_fraction=data_fraction_expression(),
        )
        .order_by("policy__name", "policy_id", "budget", "seed", "execution_id")
        .values_list(*_CELL_FIELDS)
    )
    return [
        Cell(
            policy_id=policy_id,
            policy_name=name,
            strategy=strategy,
            policy_builtin=policy_team is None,
            budget=budget,
            seed=seed,
            execution_id=execution_id,
            status=cell_status,
            final_accuracy=final,
            best_accuracy=best,
            selection_seconds=selection,
            training_seconds=training,
            experiment_id=experiment_id,
            experiment_target=target,
            data_fraction=data_fraction,
        )
        for (
            policy_id,
            name,
            strategy,
            policy_team,
            budget,
            seed,
            execution_id,
            cell_status,
            final,
            best,
            selection,
            training,
            experiment_id,
            target,
            data_fraction,
        ) in rows
    ]


def _active(cells: Iterable[Cell]) -> int:
    return sum(1 for cell in cells if cell.status in ACTIVE_RUN_STATUSES)


def _at_budget(budget: float) -> Q:
    """Cells of one budget, and the reference cells that ignore the budget."""
    return Q(budget=budget) | Q(policy__strategy__in=UNBUDGETED_STRATEGIES)


def _curves(execution_ids: Iterable[int], *, reaching: float | None = None) -> dict[int, list[tuple[float, float]]]:
    """(seconds, accuracy) per evaluation of each execution, in order; ``reaching`` keeps only those at or above it."""
    ids = sorted(set(execution_ids))
    if not ids:
        return {}
    metrics = RunMetric.objects.filter(execution_id__in=ids)
    if reaching is not None:
        metrics = metrics.filter(test_accuracy__gte=reaching)
    curves: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for execution_id, seconds, accuracy in metrics.order_by("execution_id", "epoch").values_list(
        "execution_id", "wall_clock_seconds", "test_accuracy"
    ):
        curves[execution_id].append((seconds, accuracy))
    return curves


# ---------------------------------------------------------------------------
# Leaderboards
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyRef:
    id: int
    name: str
    strategy: str
    builtin: bool


@dataclass
class LeaderboardRow:
    policy: PolicyRef
    reference: bool
    # The budget its cells ran at: the leaderboard's, or 1.0 for a reference row.
    budget: float
    seeds_finished: int
    seeds_planned: int
    partial: bool
    final_accuracy: Estimate
    best_accuracy_mean: float | None
    time_to_target_mean: float | None
    target_reached: int
    selection_seconds_mean: float | None
    training_seconds_mean: float | None
    total_seconds_mean: float | None
    # The fraction of the training set used per round, as trained, over the finished seeds: the budget kept or not.
    data_fraction_mean: float | None = None
    speedup_vs_full: float | None = None
    is_baseline: bool = False
    paired: PairedComparison | None = None
    tied_for_first: bool = False
    rank: int | None = None
    # Final accuracy by seed (the mean where pooled executions share a seed): what pairing reads.
    by_seed: dict[int, float] = field(default_factory=dict, repr=False)

    @property
    def verdict(self) -> str | None:
        if self.is_baseline:
            return "baseline"
        return self.paired.verdict if self.paired is not None else None


@dataclass
class Leaderboard:
    budget: float
    target: float | None
    baseline: PolicyRef | None
    rows: list[LeaderboardRow]
    has_full_data: bool
    # Cells still queued or running: the page keeps polling while there are any.
    active: int = 0


def _mean(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return fmean(known) if known else None


def _by_seed(cells: Sequence[Cell]) -> dict[int, float]:
    values: dict[int, list[float]] = defaultdict(list)
    for cell in cells:
        values[cell.seed].append(cell.final_accuracy)
    return {seed: fmean(finals) for seed, finals in values.items()}


def _policy_ref(cell: Cell) -> PolicyRef:
    return PolicyRef(id=cell.policy_id, name=cell.policy_name, strategy=cell.strategy, builtin=cell.policy_builtin)


def _row(cells: Sequence[Cell], times: dict[int, float | None]) -> LeaderboardRow:
    finished = [cell for cell in cells if cell.finished]
    reached = [times[cell.execution_id] for cell in finished if times.get(cell.execution_id) is not None]
    return LeaderboardRow(
        policy=_policy_ref(cells[0]),
        reference=cells[0].reference,
        budget=cells[0].budget,
        seeds_finished=len(finished),
        seeds_planned=len(cells),
        partial=len(finished) < len(cells),
        final_accuracy=mean_ci(cell.final_accuracy for cell in finished),
        best_accuracy_mean=_mean(cell.best_accuracy for cell in finished),
        time_to_target_mean=_mean(reached),
        target_reached=len(reached),
        selection_seconds_mean=_mean(cell.selection_seconds for cell in finished),
        training_seconds_mean=_mean(cell.training_seconds for cell in finished),
        total_seconds_mean=_mean(cell.total_seconds for cell in finished),
        data_fraction_mean=_mean(cell.data_fraction for cell in finished),
        by_seed=_by_seed(finished),
    )


def _grouped(cells: Iterable[Cell]) -> dict[int, list[Cell]]:
    groups: dict[int, list[Cell]] = defaultdict(list)
    for cell in cells:
        groups[cell.policy_id].append(cell)
    return groups


def _default_baseline(cells: Sequence[Cell]) -> int | None:
    """RS2 without replacement: the built-in policy if present, else the lowest id of that strategy."""
    candidates = sorted(
        {(not cell.policy_builtin, cell.policy_id) for cell in cells if cell.strategy == BASELINE_STRATEGY}
    )
    return candidates[0][1] if candidates else None


def _leaderboard(
    cells: Sequence[Cell], *, budget: float, baseline_policy_id: int | None, target: float | None
) -> Leaderboard:
    """Rank the policies of these cells; reads the curves (one query) only when there is a target."""
    finished_ids = [cell.execution_id for cell in cells if cell.finished]
    times: dict[int, float | None] = {}
    if target is not None:
        curves = _curves(finished_ids, reaching=target)
        times = {execution_id: time_to_target(curves.get(execution_id, ()), target) for execution_id in finished_ids}
    rows = [_row(group, times) for group in _grouped(cells).values()]
    full = next((row for row in rows if row.policy.strategy == FULL_DATA_STRATEGY), None)
    baseline = next((row for row in rows if row.policy.id == baseline_policy_id), None)
    for row in rows:
        if full is not None and full.total_seconds_mean and row.total_seconds_mean:
            row.speedup_vs_full = full.total_seconds_mean / row.total_seconds_mean
        if baseline is not None:
            row.is_baseline = row is baseline
            row.paired = paired_comparison(row.by_seed, baseline.by_seed)

    ranked = sorted(
        (row for row in rows if not row.reference and row.final_accuracy.mean is not None),
        key=lambda row: (-row.final_accuracy.mean, row.policy.name),
    )
    for rank, row in enumerate(ranked, start=1):
        row.rank = rank
    tied = tied_for_first({row.policy.id: row.by_seed for row in ranked})
    for row in ranked:
        row.tied_for_first = row.policy.id in tied
    waiting = sorted((row for row in rows if not row.reference and row.rank is None), key=lambda row: row.policy.name)
    references = sorted((row for row in rows if row.reference), key=lambda row: row.policy.name)
    return Leaderboard(
        budget=budget,
        target=target,
        baseline=baseline.policy if baseline is not None else None,
        rows=[*ranked, *waiting, *references],
        has_full_data=full is not None,
        active=_active(cells),
    )


def _check_target(target: float | None) -> float | None:
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not math.isfinite(target):
        raise ApplicationError("Must be a number between 0 and 1.", field="target")
    if not 0 < target <= 1:
        raise ApplicationError(f"Must be in (0, 1]; got {target:g}.", field="target")
    return float(target)


def _check_baseline(cells: Sequence[Cell], baseline_policy_id: int | None) -> int | None:
    if baseline_policy_id is None:
        return _default_baseline(cells)
    if baseline_policy_id not in {cell.policy_id for cell in cells}:
        raise ApplicationError(f"Policy {baseline_policy_id} is not one of the compared policies.", field="baseline")
    return baseline_policy_id


def experiment_default_budget(experiment: Experiment) -> float:
    return min(experiment.budgets)


def check_experiment_budget(experiment: Experiment, budget: float | None) -> float:
    """The budget asked for if the experiment has it (the smallest by default); a bad one names ``budget``."""
    if budget is None:
        return experiment_default_budget(experiment)
    if budget not in experiment.budgets:
        listed = ", ".join(f"{value:g}" for value in sorted(experiment.budgets))
        raise ApplicationError(f"The experiment's budgets are {listed}; got {budget:g}.", field="budget")
    return float(budget)


def experiment_leaderboard(
    experiment: Experiment,
    budget: float | None = None,
    baseline_policy: int | None = None,
    target: float | None = None,
) -> Leaderboard:
    """The experiment's policies at one budget, ranked by mean final accuracy over seeds.

    ``baseline_policy`` (an id) defaults to the experiment's RS2 without
    replacement policy; ``target`` to the recipe's target accuracy. Two
    queries: the cells, and the curves' evaluations at or above the target.
    Raises ``ApplicationError`` naming ``budget``, ``baseline`` or ``target``.
    """
    budget = check_experiment_budget(experiment, budget)
    target = _check_target(target if target is not None else experiment.recipe.get("target_accuracy"))
    cells = _load_cells(Run.objects.filter(experiment=experiment).filter(_at_budget(budget)))
    baseline_policy = _check_baseline(cells, baseline_policy)
    return _leaderboard(cells, budget=budget, baseline_policy_id=baseline_policy, target=target)


# ---------------------------------------------------------------------------
# Team leaderboards: executions pooled across experiments
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonSet:
    """A (dataset, model, training recipe, budget) the team has run, and how much of it."""

    dataset_id: int
    dataset_name: str
    model: str
    recipe_hash: str
    budget: float
    experiments: int
    executions: int
    # The recipe's place among the distinct recipes listed for this dataset and model (0, 1, ...).
    recipe_index: int = 0


def team_comparison_sets(team: Team) -> list[ComparisonSet]:
    """Every (dataset, model, recipe, budget) with budgeted cells in the team's experiments; one query.

    Ordered by dataset name, model, recipe hash and budget.
    """
    rows = (
        Run.objects.filter(experiment__team=team)
        .exclude(policy__strategy__in=UNBUDGETED_STRATEGIES)
        .values("experiment__dataset_id", "experiment__dataset__name", "experiment__model", "experiment__recipe_hash")
        .annotate(experiments=Count("experiment", distinct=True), executions=Count("execution", distinct=True))
        .values_list(
            "experiment__dataset_id",
            "experiment__dataset__name",
            "experiment__model",
            "experiment__recipe_hash",
            "budget",
            "experiments",
            "executions",
        )
        .order_by("experiment__dataset__name", "experiment__model", "experiment__recipe_hash", "budget")
    )
    recipes: dict[tuple[int, str], list[str]] = defaultdict(list)
    sets = []
    for row in rows:
        dataset_id, _, model, recipe_hash = row[:4]
        listed = recipes[dataset_id, model]
        if recipe_hash not in listed:
            listed.append(recipe_hash)
        sets.append(ComparisonSet(*row, recipe_index=listed.index(recipe_hash)))
    return sets


def resolve_comparison_set(
    team: Team, *, dataset_id: int, model: str, recipe: str | None, budget: float
) -> ComparisonSet:
    """The team's comparison set named by a request; ``recipe`` is a recipe hash, the ``recipe_index`` of one,
    or None when the dataset and model were run with one recipe only. Errors name the field. One query.
    """
    sets = [item for item in team_comparison_sets(team) if item.dataset_id == dataset_id and item.model == model]
    if not sets:
        raise ApplicationError(f"The team has no runs of model {model!r} on dataset {dataset_id}.", field="dataset")
    # In recipe_index order: the sets are listed by recipe hash within a dataset and model.
    hashes = list(dict.fromkeys(item.recipe_hash for item in sets))
    if recipe is None:
        if len(hashes) > 1:
            raise ApplicationError(
                f"This dataset and model were run with {len(hashes)} recipes; name one by hash or index.",
                field="recipe",
            )
        recipe_hash = hashes[0]
    elif recipe.isdigit() and len(recipe) < 10:
        if int(recipe) >= len(hashes):
            raise ApplicationError(f"Recipe index must be below {len(hashes)}.", field="recipe")
        recipe_hash = hashes[int(recipe)]
    elif recipe in hashes:
        recipe_hash = recipe
    else:
        raise ApplicationError("No runs of this dataset and model with that recipe.", field="recipe")
    for item in sets:
        if item.recipe_hash == recipe_hash and item.budget == budget:
            return item
    listed = ", ".join(f"{item.budget:g}" for item in sets if item.recipe_hash == recipe_hash)
    raise ApplicationError(f"The team ran this recipe at budgets {listed}; got {budget:g}.", field="budget")


def _team_cells(team: Team, *, dataset_id: int, model: str, recipe_hash: str) -> QuerySet[Run]:
    return Run.objects.filter(
        experiment__team=team,
        experiment__dataset_id=dataset_id,
        experiment__model=model,
        experiment__recipe_hash=recipe_hash,
    )


def team_leaderboard(
    team: Team,
    *,
    dataset_id: int,
    model: str,
    recipe_hash: str,
    budget: float,
    baseline_policy: int | None = None,
    target: float | None = None,
) -> Leaderboard:
    """Every policy's executions in the team's experiments on this dataset, model, recipe and budget, pooled.

    An execution that several experiments share counts once per policy. A
    pooled cell reads its execution's status (one experiment withdrawing from
    it does not hide another's result). The target defaults to the most
    recent experiment's. Two queries.
    """
    target = _check_target(target)
    cells = _load_cells(
        _team_cells(team, dataset_id=dataset_id, model=model, recipe_hash=recipe_hash).filter(_at_budget(budget)),
        status=F("execution__status"),
    )
    if not any(cell.budget == budget and not cell.reference for cell in cells):
        raise ApplicationError("The team has no runs of this dataset, model, recipe and budget.", field="budget")
    unique: dict[tuple[int, int], Cell] = {}
    for cell in sorted(cells, key=lambda cell: -cell.experiment_id):
        unique.setdefault((cell.policy_id, cell.execution_id), cell)
    pooled = sorted(unique.values(), key=lambda cell: (cell.policy_name, cell.policy_id, cell.seed, cell.execution_id))
    if target is None:
        target = next((cell.experiment_target for cell in unique.values() if cell.experiment_target is not None), None)
    baseline_policy = _check_baseline(pooled, baseline_policy)
    return _leaderboard(pooled, budget=budget, baseline_policy_id=baseline_policy, target=target)


# ---------------------------------------------------------------------------
# The budget table (the RS2 paper's main table)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetCell:
    budget: float
    estimate: Estimate
    best: bool
    within_noise_of_best: bool
    # Over the same finished seeds as the estimate.
    data_fraction_mean: float | None = None


@dataclass(frozen=True)
class BudgetTableRow:
    policy: PolicyRef
    reference: bool
    # One per budget of the table, None where no seed has finished.
    cells: list[BudgetCell | None]
    partial: bool

    @property
    def results(self) -> list[BudgetCell]:
        return [cell for cell in self.cells if cell is not None]


@dataclass(frozen=True)
class BudgetTable:
    budgets: list[float]
    rows: list[BudgetTableRow]
    active: int = 0


def experiment_budget_table(experiment: Experiment) -> BudgetTable:
    """Policy × budget: mean final accuracy ± half-width over seeds, each column's best and those tied with it,
    and the data the seeds used.

    A reference policy (full data) shows its one result in every column and
    takes no part in a column's best. One query.
    """
    budgets = sorted(experiment.budgets)
    cells = _load_cells(Run.objects.filter(experiment=experiment))
    groups = _grouped(cells)
    finals: dict[tuple[int, float], dict[int, float]] = {}
    fractions: dict[tuple[int, float], float | None] = {}
    for policy_id, group in groups.items():
        for budget in budgets:
            at = [cell for cell in group if cell.finished and (cell.reference or cell.budget == budget)]
            finals[policy_id, budget] = _by_seed(at)
            fractions[policy_id, budget] = _mean(cell.data_fraction for cell in at)
    winners: dict[float, tuple[int | None, set[int]]] = {}
    for budget in budgets:
        column = {policy_id: finals[policy_id, budget] for policy_id, group in groups.items() if not group[0].reference}
        winners[budget] = (leader_of(column), tied_for_first(column))
    rows = []
    for policy_id, group in groups.items():
        reference = group[0].reference
        row_cells: list[BudgetCell | None] = []
        for budget in budgets:
            values = finals[policy_id, budget]
            leader, tied = winners[budget]
            row_cells.append(
                BudgetCell(
                    budget=budget,
                    estimate=mean_ci(values.values()),
                    best=not reference and policy_id == leader,
                    within_noise_of_best=not reference and policy_id in tied,
                    data_fraction_mean=fractions[policy_id, budget],
                )
                if values
                else None
            )
        rows.append(
            BudgetTableRow(
                policy=_policy_ref(group[0]),
                reference=reference,
                cells=row_cells,
                partial=any(not cell.finished for cell in group),
            )
        )
    rows.sort(key=lambda row: (row.reference, row.policy.name))
    return BudgetTable(budgets=budgets, rows=rows, active=_active(cells))


# ---------------------------------------------------------------------------
# The plots' data (``backend.experiments.plots`` draws them)
# ---------------------------------------------------------------------------


def _point(estimate: Estimate) -> dict[str, Any]:
    return {"mean": estimate.mean, "low": estimate.low, "high": estimate.high}


def experiment_budget_points(experiment: Experiment) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Accuracy by budget: a point per (budgeted policy, budget) with finished seeds, and full data's result.

    Points are {"policy", "budget", "mean", "low", "high", "n"}; full data is
    {"mean", "low", "high"} or None when the experiment has no finished
    full-data run. One query.
    """
    cells = _load_cells(Run.objects.filter(experiment=experiment))
    points = []
    full = None
    for group in _grouped(cells).values():
        finished = [cell for cell in group if cell.finished]
        if group[0].strategy == FULL_DATA_STRATEGY:
            if finished and full is None:
                full = _point(mean_ci(cell.final_accuracy for cell in finished))
            continue
        if group[0].reference:
            continue
        by_budget: dict[float, list[float]] = defaultdict(list)
        for cell in finished:
            by_budget[cell.budget].append(cell.final_accuracy)
        for budget in sorted(by_budget):
            estimate = mean_ci(by_budget[budget])
            points.append({"policy": group[0].policy_name, "budget": budget, **_point(estimate), "n": estimate.n})
    return points, full


def experiment_time_rows(experiment: Experiment, budget: float | None = None) -> list[dict[str, Any]]:
    """Accuracy by wall-clock time at one budget (and full data): a row per policy and evaluated round.

    Rows are {"policy", "round", "seconds", "mean", "low", "high", "n"}:
    ``seconds`` is the mean over seeds of the cumulative selection + training
    seconds at that evaluation, so a policy that spends long on selection
    starts late; ``mean``/``low``/``high`` are its accuracy over the seeds
    that reached that round. Finished and running executions count, so the
    plot grows while runs train. Two queries.
    """
    budget = check_experiment_budget(experiment, budget)
    cells = _load_cells(Run.objects.filter(experiment=experiment).filter(_at_budget(budget)))
    shown = [cell for cell in cells if cell.status in CURVE_STATUSES]
    curves = _full_curves(cell.execution_id for cell in shown)
    rows = []
    for group in _grouped(shown).values():
        by_round: dict[int, list[tuple[float, float]]] = defaultdict(list)
        for cell in group:
            for epoch, seconds, accuracy in curves.get(cell.execution_id, ()):
                by_round[epoch].append((seconds, accuracy))
        for epoch in sorted(by_round):
            points = by_round[epoch]
            estimate = mean_ci(accuracy for _, accuracy in points)
            rows.append(
                {
                    "policy": group[0].policy_name,
                    "round": epoch,
                    "seconds": fmean(seconds for seconds, _ in points),
                    **_point(estimate),
                    "n": estimate.n,
                }
            )
    return rows


def _full_curves(execution_ids: Iterable[int]) -> dict[int, list[tuple[int, float, float]]]:
    ids = sorted(set(execution_ids))
    curves: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    if not ids:
        return curves
    for execution_id, epoch, seconds, accuracy in (
        RunMetric.objects.filter(execution_id__in=ids)
        .order_by("execution_id", "epoch")
        .values_list("execution_id", "epoch", "wall_clock_seconds", "test_accuracy")
    ):
        curves[execution_id].append((epoch, seconds, accuracy))
    return curves


def experiment_cost_points(experiment: Experiment) -> list[dict[str, Any]]:
    """Accuracy by total cost across every budget, with the Pareto front marked.

    Points are {"policy", "budget", "cost_seconds", "mean", "low", "high",
    "pareto"}: ``cost_seconds`` is the mean selection + training seconds over
    finished seeds; a point is on the front when no other is at least as cheap
    and at least as accurate. Full data is one point at budget 1. One query.
    """
    cells = _load_cells(Run.objects.filter(experiment=experiment))
    points = []
    for group in _grouped(cells).values():
        by_budget: dict[float, list[Cell]] = defaultdict(list)
        for cell in group:
            if cell.finished:
                by_budget[cell.budget].append(cell)
        for budget in sorted(by_budget):
            finished = by_budget[budget]
            points.append(
                {
                    "policy": group[0].policy_name,
                    "budget": budget,
                    "cost_seconds": _mean(cell.total_seconds for cell in finished),
                    **_point(mean_ci(cell.final_accuracy for cell in finished)),
                }
            )
    front = pareto_front([(point["cost_seconds"], point["mean"]) for point in points])
    for point, on_front in zip(points, front, strict=True):
        point["pareto"] = on_front
    return points


def run_curve_rows(execution: Execution) -> list[dict[str, Any]]:
    """One execution's curves in long form: {"round", "seconds", "metric", "value"} per recorded metric. One query."""
    rows = []
    for metric in (
        RunMetric.objects.filter(execution=execution)
        .order_by("epoch")
        .values("epoch", "wall_clock_seconds", *CURVE_METRICS)
    ):
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


# ---------------------------------------------------------------------------
# Version stamps: what an ETag is made of
# ---------------------------------------------------------------------------


def _per_execution(aggregate) -> Subquery:
    metrics = RunMetric.objects.filter(execution=OuterRef("execution")).order_by().values("execution")
    return Subquery(metrics.annotate(value=aggregate).values("value"))


def cells_version(cells: QuerySet[Run]) -> str:
    """A stamp that changes whenever anything a comparison of these cells shows can have changed. One query.

    It covers the cells (added, withdrawn), their executions' status changes,
    attempts and results, and their metric rows (count and newest id), but
    not heartbeats, so a running experiment whose curves have not moved keeps
    its stamp.
    """
    counts = {f"status_{status}": Count("id", filter=Q(execution__status=status)) for status in RunStatus.values}
    figures = cells.annotate(
        metric_count=_per_execution(Count("id")), metric_newest=_per_execution(Max("id"))
    ).aggregate(
        cells=Count("id"),
        withdrawn=Max("canceled_at"),
        queued=Max("execution__queued_at"),
        started=Max("execution__started_at"),
        finished=Max("execution__finished_at"),
        attempts=Sum("execution__attempt"),
        metrics=Sum("metric_count"),
        metrics_newest=Max("metric_newest"),
        **counts,
    )
    payload = repr((STAMP_FORMAT, sorted(figures.items())))
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def experiment_version(experiment: Experiment) -> str:
    """The version stamp of an experiment's comparisons (leaderboards, table, plots). One query."""
    return cells_version(Run.objects.filter(experiment=experiment))


def team_version(team: Team, *, dataset_id: int, model: str, recipe_hash: str) -> str:
    """The version stamp of a team leaderboard's pooled cells. One query."""
    return cells_version(_team_cells(team, dataset_id=dataset_id, model=model, recipe_hash=recipe_hash))

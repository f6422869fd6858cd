"""How numbers read on the pages: fractions as percentages, seconds with units.

The pages compute these in Python rather than in template filters so that a
table cell and its test agree on one formatting function.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from backend.experiments.models import ACTIVE_RUN_STATUSES, Run, RunStatus

MISSING = "—"
# How far, in percentage points, the data a run used may stray from its budget before the pages say so:
# rounding r·N to whole examples accounts for less on any but the smallest training sets.
OFF_BUDGET_POINTS = 0.5


def percent(fraction: float | None, *, digits: int = 1) -> str:
    if fraction is None:
        return MISSING
    return f"{fraction * 100:.{digits}f} %"


def budget_label(fraction: float) -> str:
    """A budget as a short percentage: 0.1 -> "10 %", 0.125 -> "12.5 %"."""
    return f"{fraction * 100:.4g} %"


@dataclass(frozen=True)
class DataUsed:
    """The fraction of the training set a run used per round, against the budget it ran at."""

    fraction: float | None
    text: str
    off_budget: bool
    # "of a 10 % budget", shown beside the text when it is off budget.
    note: str


def data_used(fraction: float | None, budget: float) -> DataUsed:
    """``data_used(0.473, 0.1)`` reads "47.3 %", off budget, "of a 10 % budget"; None reads "—"."""
    # Rounded so that a gap of exactly half a point, which floats may hold as a hair more, counts as within.
    off = fraction is not None and round(abs(fraction - budget) * 100, 6) > OFF_BUDGET_POINTS
    return DataUsed(
        fraction=fraction, text=percent(fraction), off_budget=off, note=f"of a {budget_label(budget)} budget"
    )


def seconds(value: float | None) -> str:
    if value is None:
        return MISSING
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(value, 60)
    if minutes < 60:
        return f"{int(minutes)} min {rest:02.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)} h {int(minutes):02d} min"


def first_line(text: str, *, limit: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def short_sha(sha256: str) -> str:
    return sha256[:12] if sha256 else MISSING


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


def status_counts(counts: dict[str, int]) -> list[StatusCount]:
    """Every run status in a fixed order, so badges line up from row to row."""
    return [StatusCount(status, label, counts.get(status, 0)) for status, label in RunStatus.choices]


def annotated_status_counts(experiment) -> list[StatusCount]:
    """Status counts of an experiment annotated by ``experiments_with_status_counts``."""
    return status_counts({status: getattr(experiment, f"runs_{status}") for status in RunStatus.values})


@dataclass(frozen=True)
class RunRow:
    run: Run
    policy: str
    budget: str
    seed: int
    status: str
    status_label: str
    progress: str
    final_accuracy: str
    best_accuracy: str
    time_to_target: str
    selection: str
    training: str
    data_used: DataUsed
    reused: bool
    error: str
    cancelable: bool


def progress_label(run: Run) -> str:
    """Where a running run is: its latest evaluated round and accuracy, and where this attempt resumed."""
    last_epoch = getattr(run, "last_epoch", None)
    if run.status != RunStatus.RUNNING:
        return ""
    parts = []
    if last_epoch is not None:
        parts.append(f"round {last_epoch} · {percent(run.last_accuracy)}")
    if run.execution.resumed_from_round:
        parts.append(f"resumed from round {run.execution.resumed_from_round}")
    return " · ".join(parts)


def run_rows(runs: Iterable[Run]) -> list[RunRow]:
    rows = []
    for run in runs:
        execution = run.execution
        status = run.status
        rows.append(
            RunRow(
                run=run,
                policy=run.policy.name,
                budget=budget_label(run.budget),
                seed=run.seed,
                status=status,
                status_label=RunStatus(status).label,
                progress=progress_label(run),
                final_accuracy=percent(execution.final_accuracy),
                best_accuracy=percent(execution.best_accuracy),
                time_to_target=seconds(getattr(run, "time_to_target_seconds", None)),
                selection=seconds(execution.selection_seconds),
                training=seconds(execution.training_seconds),
                data_used=data_used(getattr(run, "data_fraction", None), run.budget),
                reused=run.reused,
                error=first_line(execution.error),
                cancelable=status in ACTIVE_RUN_STATUSES,
            )
        )
    return rows


def percent_with_interval(estimate) -> str:
    """A mean accuracy with its CI half-width: "81.0 ± 2.5 %" (just "81.0 %" for one seed)."""
    if estimate.mean is None:
        return MISSING
    if estimate.half_width is None:
        return percent(estimate.mean)
    return f"{estimate.mean * 100:.1f} ± {estimate.half_width * 100:.1f} %"


def points(difference: float | None) -> str:
    """A difference of accuracies in percentage points, signed: "+2.3 pp"."""
    if difference is None:
        return MISSING
    return f"{difference * 100:+.1f} pp"


def speedup(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}×"


@dataclass(frozen=True)
class LeaderboardDisplayRow:
    policy_id: int
    policy: str
    strategy: str
    rank: str
    reference: bool
    partial: bool
    seeds: str
    accuracy: str
    interval: str
    best_accuracy: str
    time_to_target: str
    target_reached: str
    selection: str
    training: str
    total: str
    data_used: DataUsed
    speedup: str
    verdict: str
    verdict_key: str
    difference: str
    difference_interval: str
    tied_for_first: bool


def leaderboard_rows(leaderboard) -> list[LeaderboardDisplayRow]:
    rows = []
    for row in leaderboard.rows:
        estimate = row.final_accuracy
        paired = row.paired
        difference = paired.difference if paired is not None and not row.is_baseline else None
        rows.append(
            LeaderboardDisplayRow(
                policy_id=row.policy.id,
                policy=row.policy.name,
                strategy=row.policy.strategy,
                rank=str(row.rank) if row.rank is not None else ("ref." if row.reference else MISSING),
                reference=row.reference,
                partial=row.partial,
                seeds=f"{row.seeds_finished}/{row.seeds_planned}",
                accuracy=percent_with_interval(estimate),
                interval=(f"{percent(estimate.low)} to {percent(estimate.high)}" if estimate.low is not None else ""),
                best_accuracy=percent(row.best_accuracy_mean),
                time_to_target=seconds(row.time_to_target_mean),
                target_reached=(
                    f"{row.target_reached}/{row.seeds_finished} reached"
                    if leaderboard.target is not None and row.seeds_finished
                    else ""
                ),
                selection=seconds(row.selection_seconds_mean),
                training=seconds(row.training_seconds_mean),
                total=seconds(row.total_seconds_mean),
                data_used=data_used(row.data_fraction_mean, row.budget),
                speedup=speedup(row.speedup_vs_full),
                verdict=row.verdict or MISSING,
                verdict_key=(row.verdict or "none").replace(" ", "-").replace("/", ""),
                difference=points(difference.mean) if difference is not None else "",
                difference_interval=(
                    f"{points(difference.low)} to {points(difference.high)}"
                    if difference is not None and difference.low is not None
                    else ""
                ),
                tied_for_first=row.tied_for_first,
            )
        )
    return rows


@dataclass(frozen=True)
class BudgetTableDisplayCell:
    text: str
    n: int
    best: bool
    within_noise: bool
    data_used: DataUsed


@dataclass(frozen=True)
class BudgetTableDisplayRow:
    policy: str
    reference: bool
    partial: bool
    cells: list[BudgetTableDisplayCell | None]


def budget_table_rows(table) -> list[BudgetTableDisplayRow]:
    return [
        BudgetTableDisplayRow(
            policy=row.policy.name,
            reference=row.reference,
            partial=row.partial,
            cells=[
                BudgetTableDisplayCell(
                    text=percent_with_interval(cell.estimate),
                    n=cell.estimate.n,
                    best=cell.best,
                    within_noise=cell.within_noise_of_best,
                    # A reference row ran at r = 1 (all the data) whatever the column's budget.
                    data_used=data_used(cell.data_fraction_mean, 1.0 if row.reference else cell.budget),
                )
                if cell is not None
                else None
                for cell in row.cells
            ],
        )
        for row in table.rows
    ]

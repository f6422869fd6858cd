"""Flat tables of an experiment's runs (with their curves) and of leaderboards, for CSV and JSON downloads.

The API, the pages and the share pages export through these, so a download
holds the same numbers wherever it comes from.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from backend.experiments.comparison import Leaderboard
from backend.experiments.execution import METRIC_FIELDS, RESULT_FIELDS
from backend.experiments.models import Experiment, Run, RunMetric, run_status_expression
from backend.experiments.selectors import data_fraction_expression

LEADERBOARD_COLUMNS = (
    "budget",
    "target",
    "rank",
    "policy_id",
    "policy",
    "strategy",
    "reference",
    "seeds_finished",
    "seeds_planned",
    "partial",
    "final_accuracy_mean",
    "final_accuracy_low",
    "final_accuracy_high",
    "final_accuracy_half_width",
    "best_accuracy_mean",
    "time_to_target_seconds_mean",
    "target_reached",
    "selection_seconds_mean",
    "training_seconds_mean",
    "total_seconds_mean",
    "speedup_vs_full",
    "data_fraction",
    "baseline_policy_id",
    "verdict",
    "shared_seeds",
    "difference_mean",
    "difference_low",
    "difference_high",
    "tied_for_first",
)

RUN_COLUMNS = (
    "run_id",
    "policy_id",
    "policy",
    "strategy",
    "budget",
    "seed",
    "status",
    "execution_id",
    "config_hash",
    "reused",
    *RESULT_FIELDS,
    "data_fraction",
)
CURVE_COLUMNS = ("epoch", *METRIC_FIELDS)
# A row of the runs CSV is also one evaluation, whose own data_fraction (the mean so far) keeps that name.
RUN_CSV_COLUMNS = tuple("run_data_fraction" if name == "data_fraction" else name for name in RUN_COLUMNS)


def leaderboard_table(leaderboard: Leaderboard) -> list[dict[str, Any]]:
    """One flat row per leaderboard row, with the budget, target and baseline repeated on each."""
    baseline_id = leaderboard.baseline.id if leaderboard.baseline is not None else None
    rows = []
    for row in leaderboard.rows:
        paired = row.paired
        rows.append(
            {
                "budget": leaderboard.budget,
                "target": leaderboard.target,
                "rank": row.rank,
                "policy_id": row.policy.id,
                "policy": row.policy.name,
                "strategy": row.policy.strategy,
                "reference": row.reference,
                "seeds_finished": row.seeds_finished,
                "seeds_planned": row.seeds_planned,
                "partial": row.partial,
                "final_accuracy_mean": row.final_accuracy.mean,
                "final_accuracy_low": row.final_accuracy.low,
                "final_accuracy_high": row.final_accuracy.high,
                "final_accuracy_half_width": row.final_accuracy.half_width,
                "best_accuracy_mean": row.best_accuracy_mean,
                "time_to_target_seconds_mean": row.time_to_target_mean,
                "target_reached": row.target_reached,
                "selection_seconds_mean": row.selection_seconds_mean,
                "training_seconds_mean": row.training_seconds_mean,
                "total_seconds_mean": row.total_seconds_mean,
                "speedup_vs_full": row.speedup_vs_full,
                "data_fraction": row.data_fraction_mean,
                "baseline_policy_id": baseline_id,
                "verdict": row.verdict,
                "shared_seeds": paired.shared_seeds if paired else None,
                "difference_mean": paired.difference.mean if paired else None,
                "difference_low": paired.difference.low if paired else None,
                "difference_high": paired.difference.high if paired else None,
                "tied_for_first": row.tied_for_first,
            }
        )
    return rows


def experiment_runs_export(experiment: Experiment) -> list[dict[str, Any]]:
    """Every run of the experiment with its figures and its curve (``curve``: one dict per evaluation). Two queries."""
    runs = list(
        Run.objects.filter(experiment=experiment)
        .annotate(cell_status=run_status_expression(), data_fraction=data_fraction_expression())
        .order_by("policy__name", "budget", "seed")
        .values_list(
            "pk",
            "policy_id",
            "policy__name",
            "policy__strategy",
            "budget",
            "seed",
            "cell_status",
            "execution_id",
            "execution__key_hash",
            "reused",
            *(f"execution__{name}" for name in RESULT_FIELDS),
            "data_fraction",
        )
    )
    curves: dict[int, list[dict[str, Any]]] = defaultdict(list)
    metrics = RunMetric.objects.filter(execution__cells__experiment=experiment).order_by("execution_id", "epoch")
    for metric in metrics.values("execution_id", *CURVE_COLUMNS):
        curves[metric.pop("execution_id")].append(metric)
    exported = []
    for values in runs:
        run = dict(zip(RUN_COLUMNS, values, strict=True))
        run["curve"] = curves.get(run["execution_id"], [])
        exported.append(run)
    return exported


def runs_curve_table(runs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs as exported, in long form: one row per evaluation, the run's columns (``RUN_CSV_COLUMNS``) repeated
    (one row if no curve)."""
    rows = []
    empty = dict.fromkeys(CURVE_COLUMNS)
    for run in runs:
        columns = {csv_name: run[name] for name, csv_name in zip(RUN_COLUMNS, RUN_CSV_COLUMNS, strict=True)}
        for metric in run["curve"] or [empty]:
            rows.append({**columns, **metric})
    return rows


def table_to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV text with a header row; None is written as an empty field."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: "" if row.get(name) is None else row[name] for name in columns})
    return buffer.getvalue()

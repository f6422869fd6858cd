"""Helpers shared by the benchmark scripts: provenance, tables, policy comparisons."""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from workers.engine.cli import code_version, machine_description, write_json

POLICIES = ("full", "full_short", "random_static", "rs2_without_replacement", "rs2_with_replacement")


def describe_run(device: torch.device) -> dict[str, Any]:
    """Command, date, code version and machine, saved with every benchmark result."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "command": ["python", "-m", *sys.argv],
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "machine": {**machine_description(device), "load_average_at_end": load},
    }


def save_json(path: str | Path, payload: dict[str, Any]) -> None:
    write_json(path, payload)
    print(f"wrote {path}")


def print_markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def realised_fraction(result: dict[str, Any]) -> float:
    """The share of the training set a run trained on per round, averaged over its rounds (its last metric row's)."""
    return result["metrics"][-1]["data_fraction"]


def policy_table(
    records: Sequence[dict[str, Any]], budgets: Sequence[float], policies: Sequence[str] = POLICIES
) -> tuple[list[str], list[list[str]]]:
    """One row per (budget, policy): accuracy and time-to-target over seeds, and side-by-side ratios.

    Ratios are taken within one run of the script: accuracy minus RS2 without
    replacement's at the same budget (paired by seed), and full data's
    time-to-target divided by the policy's (> 1: the policy gets there sooner).
    """
    by_cell: dict[tuple[str, float], dict[int, dict[str, Any]]] = {}
    for record in records:
        config = record["config"]
        by_cell.setdefault((config["strategy"], config["budget"]), {})[config["seed"]] = record["result"]
    full = by_cell.get(("full", 1.0), {})
    full_times = [r["time_to_target_seconds"] for r in full.values() if r["time_to_target_seconds"] is not None]
    full_time = statistics.fmean(full_times) if full_times else None

    header = [
        "r",
        "policy",
        "final acc (%)",
        "Δ vs RS2 w/o (pp)",
        "time to target (s)",
        "reached",
        "speed-up vs full",
        "selection (s)",
        "training (s)",
        "data used (%)",
    ]
    rows = []
    for budget in budgets:
        rs2 = by_cell.get(("rs2_without_replacement", budget), {})
        for policy in policies:
            cell_budget = 1.0 if policy == "full" else budget
            results = by_cell.get((policy, cell_budget))
            if not results:
                continue
            accuracy, spread = mean_std([100 * r["final_accuracy"] for r in results.values()])
            shared = [seed for seed in results if seed in rs2]
            delta = "—"
            if policy != "rs2_without_replacement" and shared:
                diffs = [100 * (results[s]["final_accuracy"] - rs2[s]["final_accuracy"]) for s in shared]
                delta = "{:+.2f} ± {:.2f}".format(*mean_std(diffs))
            times = [r["time_to_target_seconds"] for r in results.values() if r["time_to_target_seconds"] is not None]
            to_target, speed_up = "—", "—"
            if times:
                to_target = "{:.1f} ± {:.1f}".format(*mean_std(times))
                if full_time:
                    speed_up = f"{full_time / statistics.fmean(times):.2f}×"
            rows.append(
                [
                    f"{budget:g}",
                    policy,
                    f"{accuracy:.2f} ± {spread:.2f}",
                    delta,
                    to_target,
                    f"{len(times)}/{len(results)}",
                    speed_up,
                    f"{statistics.fmean(r['selection_seconds'] for r in results.values()):.3f}",
                    f"{statistics.fmean(r['training_seconds'] for r in results.values()):.1f}",
                    f"{statistics.fmean(100 * realised_fraction(r) for r in results.values()):.1f}",
                ]
            )
    return header, rows

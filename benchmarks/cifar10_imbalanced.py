"""Class balance on long-tailed CIFAR-10: temperature sampling against the random-subset controls.

The engine's CPU protocol (``benchmarks.cifar10_rs2``: small_cnn, 100 rounds, batch 75,
evaluation every 20 rounds, target 50 %, the full balanced 10,000-image test set), but
trained on a long-tailed subset of the CIFAR-10 training images with the exponential
profile of the long-tailed CIFAR literature (Cui et al., 2019; Cao et al., 2019):
class c keeps ⌊n_0 · ρ^(−c/9)⌋ images, n_0 = 300 and imbalance ratio ρ = 10 by default
(ρ = 100, the literature's other usual value, leaves the rarest class 3 images here).

Policies, at r = 10 % and 30 %, seeds 0, 1, 2:

* ``class_temperature`` with its defaults (T cooled from 5 to 1 over the run);
* ``rs2_without_replacement``;
* ``rs2_with_replacement``, plain and ``class_balanced`` (each class's natural share);
* ``random_static`` ``class_balanced``.

The table gives final accuracy on the balanced test set, accuracy on the test images
of the five rarest training classes (from each run's final test predictions), and
time-to-target with selection included. Results go to a JSON-lines file as each run
ends, tagged with the training subset they were measured on; a rerun skips the runs
already there, so a long sweep can be stopped and continued.

    python -m benchmarks.cifar10_imbalanced --data-dir /work/main/var/data
    python -m benchmarks.cifar10_imbalanced --imbalance-ratio 100 --budgets 0.1
    python -m benchmarks.cifar10_imbalanced --rounds 2 --train-per-class 10 --seeds 0   # smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.cifar10_rs2 import ARCHIVE, PROTOCOLS
from benchmarks.common import describe_run, mean_std, print_markdown, save_json
from workers.engine.arrays import ArrayDataset
from workers.engine.cli import grid_configs, run_grid
from workers.engine.datasets import import_dataset, load_dataset, load_info
from workers.engine.recipe import resolve_recipe
from workers.engine.strategies import resolve_strategy_params
from workers.engine.training import check_run_config, resolve_device

# (label, strategy, params): the policies compared, in table order.
POLICIES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("class_temperature", "class_temperature", {}),
    ("rs2_without_replacement", "rs2_without_replacement", {}),
    ("rs2_with_replacement", "rs2_with_replacement", {}),
    ("rs2_with_replacement (class-balanced)", "rs2_with_replacement", {"class_balanced": True}),
    ("random_static (class-balanced)", "random_static", {"class_balanced": True}),
)
REFERENCE = "rs2_without_replacement"
RARE_CLASSES = 5


def long_tailed_counts(head: int, imbalance_ratio: float, num_classes: int) -> list[int]:
    """⌊head · ρ^(−c/(C−1))⌋ images of class c, at least one: the exponential long-tailed profile."""
    return [max(1, int(head * imbalance_ratio ** (-label / (num_classes - 1)))) for label in range(num_classes)]


def long_tailed_subset(dataset: ArrayDataset, counts: Sequence[int], *, seed: int) -> ArrayDataset:
    """``counts[c]`` random training images of class c, in their original order; the test set is kept whole."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label, count in enumerate(counts):
        rows = np.flatnonzero(dataset.y_train == label)
        if len(rows) < count:
            raise SystemExit(f"class {dataset.class_names[label]!r} has {len(rows)} training images, not {count}")
        chosen.append(rng.choice(rows, size=count, replace=False))
    rows = np.sort(np.concatenate(chosen))
    return ArrayDataset(
        dataset.x_train[rows], dataset.y_train[rows], dataset.x_test, dataset.y_test, dataset.class_names, dataset.kind
    )


def class_accuracy(predictions: Sequence[int], labels: np.ndarray, classes: Sequence[int]) -> float:
    """Accuracy over the test images whose label is one of ``classes``."""
    predictions = np.asarray(predictions)
    chosen = np.isin(labels, classes)
    return float((predictions[chosen] == labels[chosen]).mean())


def policy_key(strategy: str, params: dict[str, Any]) -> str:
    return json.dumps([strategy, resolve_strategy_params(strategy, params)], sort_keys=True)


def accuracy_table(records: Sequence[dict[str, Any]], budgets: Sequence[float]) -> tuple[list[str], list[list[str]]]:
    """One row per (budget, policy): accuracies and time-to-target over seeds, and the paired Δ vs RS2 w/o."""
    labels = {policy_key(strategy, params): label for label, strategy, params in POLICIES}
    cells: dict[tuple[str, float], dict[int, dict[str, Any]]] = {}
    for record in records:
        config = record["config"]
        label = labels[policy_key(config["strategy"], config["params"])]
        cells.setdefault((label, config["budget"]), {})[config["seed"]] = record
    header = [
        "r",
        "policy",
        "final acc (%)",
        f"{RARE_CLASSES} rarest classes (%)",
        "Δ vs RS2 w/o (pp)",
        "time to target (s)",
        "reached",
        "selection (s)",
        "training (s)",
    ]
    rows = []
    for budget in budgets:
        reference = cells.get((REFERENCE, budget), {})
        for label, _, _ in POLICIES:
            runs = cells.get((label, budget))
            if not runs:
                continue
            results = [run["result"] for run in runs.values()]
            accuracy = mean_std([100 * result["final_accuracy"] for result in results])
            rare = mean_std([100 * run["rare_class_accuracy"] for run in runs.values()])
            delta = "—"
            shared = [seed for seed in runs if seed in reference]
            if label != REFERENCE and shared:
                differences = [
                    100 * (runs[s]["result"]["final_accuracy"] - reference[s]["result"]["final_accuracy"])
                    for s in shared
                ]
                delta = "{:+.2f} ± {:.2f}".format(*mean_std(differences))
            times = [r["time_to_target_seconds"] for r in results if r["time_to_target_seconds"] is not None]
            rows.append(
                [
                    f"{budget:g}",
                    label,
                    "{:.2f} ± {:.2f}".format(*accuracy),
                    "{:.2f} ± {:.2f}".format(*rare),
                    delta,
                    "{:.1f} ± {:.1f}".format(*mean_std(times)) if times else "—",
                    f"{len(times)}/{len(results)}",
                    f"{statistics.fmean(r['selection_seconds'] for r in results):.3f}",
                    f"{statistics.fmean(r['training_seconds'] for r in results):.1f}",
                ]
            )
    return header, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", default=ARCHIVE, help="CIFAR-10 image-folder archive (train/ and test/)")
    parser.add_argument("--sha256", help="an already imported copy in --data-dir; skips decoding the archive")
    parser.add_argument("--data-dir", default="var/data")
    parser.add_argument("--imbalance-ratio", type=float, default=10.0, help="ρ: the largest class over the smallest")
    parser.add_argument(
        "--train-per-class",
        type=int,
        default=PROTOCOLS["cpu"]["train_per_class"],
        help="training images of the largest class, n_0 (the others shrink from it)",
    )
    parser.add_argument("--budgets", default="0.1,0.3")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--device", default="auto", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--results", default="benchmarks/results/cifar10_imbalanced.jsonl")
    parser.add_argument("--json", default="benchmarks/results/cifar10_imbalanced.json")
    args = parser.parse_args(argv)
    if args.imbalance_ratio < 1:
        parser.error("--imbalance-ratio must be at least 1")
    device = resolve_device(args.device)
    protocol = PROTOCOLS["cpu"]
    budgets = [float(item) for item in args.budgets.split(",")]
    seeds = [int(item) for item in args.seeds.split(",")]

    started = time.perf_counter()
    info = load_info(args.sha256, args.data_dir) if args.sha256 else import_dataset(args.archive, args.data_dir)
    full = load_dataset(info.sha256, args.data_dir)
    counts = long_tailed_counts(args.train_per_class, args.imbalance_ratio, full.num_classes)
    dataset = long_tailed_subset(full, counts, seed=0)
    rare = sorted(np.argsort(counts, kind="stable")[:RARE_CLASSES].tolist())
    recipe = resolve_recipe({**protocol["recipe"], **({"rounds": args.rounds} if args.rounds else {})})
    subset = {"sha256": info.sha256, "imbalance_ratio": args.imbalance_ratio, "train_counts": counts, "seed": 0}
    print(
        f"dataset {info.sha256[:12]}: {len(dataset.y_train)} long-tailed training images "
        f"(ρ = {args.imbalance_ratio:g}, per class {counts}) / {len(dataset.y_test)} test images"
    )

    results_path = Path(args.results)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    records = []
    if results_path.exists():
        records = [json.loads(line) for line in results_path.read_text().splitlines() if line.strip()]
    # A run counts as done only on the same training subset: ρ and n_0 do not enter the config.
    records = [record for record in records if record.get("subset") == subset]
    done = {check_run_config(record["config"]).fingerprint() for record in records}
    configs = grid_configs(
        model=protocol["model"],
        recipe=recipe,
        policies=[(strategy, params) for _, strategy, params in POLICIES],
        budgets=budgets,
        seeds=seeds,
    )
    pending = [config for config in configs if config.fingerprint() not in done]
    print(f"{len(configs)} runs, {len(configs) - len(pending)} already in {results_path}")

    def keep(_config, record) -> None:
        record["subset"] = subset
        record["rare_classes"] = rare
        record["rare_class_accuracy"] = class_accuracy(record["result"]["test_predictions"], dataset.y_test, rare)
        with results_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    records += run_grid(pending, dataset, device=device, on_result=keep)
    wanted = {config.fingerprint() for config in configs}
    records = [record for record in records if check_run_config(record["config"]).fingerprint() in wanted]
    elapsed = time.perf_counter() - started

    rare_names = ", ".join(dataset.class_names[label] for label in rare)
    print(
        f"\nLong-tailed CIFAR-10 (CPU protocol), {protocol['model']}, {len(dataset.y_train)} training images "
        f"(ρ = {args.imbalance_ratio:g}), balanced test set, {recipe['rounds']} rounds, "
        f"target {100 * recipe['target_accuracy']:g} %, device {device}; rarest classes: {rare_names}; "
        f"{elapsed / 60:.1f} min this invocation"
    )
    table = accuracy_table(records, budgets)
    print_markdown(*table)
    save_json(
        args.json,
        {
            **describe_run(device),
            "protocol": "cpu, long-tailed",
            "dataset": {**subset, "train_size": len(dataset.y_train), "rare_classes": rare},
            "recipe": recipe,
            "accuracy_table": [table[0], *table[1]],
            "runs": records,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Every strategy on real CIFAR-10, side by side: selection overhead, final accuracy, time-to-target.

The engine's CPU protocol (``benchmarks.cifar10_rs2``): small_cnn on a class-balanced
3,000-image training subset, the full 10,000-image test set, 100 rounds, evaluation
every 20 rounds, target 50 %. Every strategy runs with its default parameters at
each budget and seed, beside ``rs2_without_replacement`` and ``random_static``.

Two tables come out of one run:

* overhead: each strategy's selection seconds (proxy training, scoring, search),
  and that time as a multiple of one full-data training round measured in the
  same run;
* accuracy: final accuracy and time-to-target (selection included) over seeds,
  with the paired difference against RS2 without replacement.

Results go to a JSON-lines file as each run ends, and a rerun skips the runs
already there, so a long sweep can be stopped and continued.

    python -m benchmarks.cifar10_strategies
    python -m benchmarks.cifar10_strategies --budgets 0.1 --seeds 0 --strategies el2n,kcenter_greedy
    python -m benchmarks.cifar10_strategies --rounds 2 --train-per-class 10 --seeds 0   # smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict
from pathlib import Path

import torch

from benchmarks.cifar10_rs2 import ARCHIVE, PROTOCOLS
from benchmarks.common import describe_run, mean_std, policy_table, print_markdown, save_json
from workers.engine.cli import grid_configs, run_grid
from workers.engine.datasets import balanced_subset, import_dataset, load_dataset, load_info
from workers.engine.recipe import resolve_recipe
from workers.engine.strategies import STRATEGIES
from workers.engine.training import check_run_config, resolve_device, train_run

CONTROLS = ("full", "full_short", "rs2_with_replacement")
DEFAULT_STRATEGIES = [key for key in STRATEGIES if key not in CONTROLS]


def one_full_round_seconds(dataset, recipe, model: str, device: torch.device) -> float:
    """Training seconds of one round over all the data, on the same schedule settings."""
    config = check_run_config(
        {
            "model": model,
            "recipe": {**recipe, "rounds": 1, "eval_every": 1},
            "strategy": "full",
            "params": {},
            "budget": 1.0,
            "seed": 0,
        }
    )
    return train_run(asdict(config), dataset, device=device).training_seconds


def overhead_table(records, full_round: float, strategies) -> tuple[list[str], list[list[str]]]:
    header = ["policy", "r", "selection (s)", "× one full-data round", "training (s)", "runs"]
    rows = []
    cells: dict[tuple[str, float], list[dict]] = {}
    for record in records:
        cells.setdefault((record["config"]["strategy"], record["config"]["budget"]), []).append(record["result"])
    order = sorted(cells, key=lambda cell: (cell[1], strategies.index(cell[0]) if cell[0] in strategies else -1))
    for strategy, budget in order:
        results = cells[(strategy, budget)]
        selection, spread = mean_std([result["selection_seconds"] for result in results])
        rows.append(
            [
                strategy,
                f"{budget:g}",
                f"{selection:.2f} ± {spread:.2f}",
                f"{selection / full_round:.2f}×",
                f"{statistics.fmean(result['training_seconds'] for result in results):.1f}",
                str(len(results)),
            ]
        )
    return header, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", default=ARCHIVE)
    parser.add_argument("--sha256", help="an already imported copy in --data-dir; skips decoding the archive")
    parser.add_argument("--data-dir", default="var/data")
    parser.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES))
    parser.add_argument("--budgets", default="0.1,0.3")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--train-per-class", type=int, default=PROTOCOLS["cpu"]["train_per_class"])
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--device", default="auto", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--results", default="benchmarks/results/cifar10_strategies.jsonl")
    parser.add_argument("--json", default="benchmarks/results/cifar10_strategies.json")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    protocol = PROTOCOLS["cpu"]
    strategies = args.strategies.split(",")
    budgets = [float(item) for item in args.budgets.split(",")]
    seeds = [int(item) for item in args.seeds.split(",")]

    started = time.perf_counter()
    info = load_info(args.sha256, args.data_dir) if args.sha256 else import_dataset(args.archive, args.data_dir)
    dataset = balanced_subset(load_dataset(info.sha256, args.data_dir), train_per_class=args.train_per_class, seed=0)
    recipe = resolve_recipe({**protocol["recipe"], **({"rounds": args.rounds} if args.rounds else {})})
    print(f"dataset {info.sha256[:12]}: {len(dataset.y_train)} training / {len(dataset.y_test)} test images")

    full_round = one_full_round_seconds(dataset, recipe, protocol["model"], device)
    print(f"one full-data training round: {full_round:.2f} s")

    results_path = Path(args.results)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    records = []
    if results_path.exists():
        records = [json.loads(line) for line in results_path.read_text().splitlines() if line.strip()]
    done = {check_run_config(record["config"]).fingerprint() for record in records}
    configs = grid_configs(
        model=protocol["model"],
        recipe=recipe,
        policies=[(key, {}) for key in strategies],
        budgets=budgets,
        seeds=seeds,
    )
    pending = [config for config in configs if config.fingerprint() not in done]
    print(f"{len(configs)} runs, {len(configs) - len(pending)} already in {results_path}")

    def keep(_config, record) -> None:
        with results_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    records += run_grid(pending, dataset, device=device, on_result=keep)
    wanted = {config.fingerprint() for config in configs}
    records = [record for record in records if check_run_config(record["config"]).fingerprint() in wanted]
    elapsed = time.perf_counter() - started

    print(
        f"\nCIFAR-10 (CPU protocol), {protocol['model']}, {len(dataset.y_train)} training images, "
        f"{recipe['rounds']} rounds, target {100 * recipe['target_accuracy']:g} %, device {device}; "
        f"one full-data round {full_round:.2f} s; {elapsed / 60:.1f} min this invocation"
    )
    overhead = overhead_table(records, full_round, strategies)
    print_markdown(*overhead)
    print()
    accuracy = policy_table(records, budgets, strategies)
    print_markdown(*accuracy)
    save_json(
        args.json,
        {
            **describe_run(device),
            "protocol": "cpu",
            "dataset": {"sha256": info.sha256, "train_size": len(dataset.y_train)},
            "recipe": recipe,
            "one_full_round_seconds": full_round,
            "overhead_table": [overhead[0], *overhead[1]],
            "accuracy_table": [accuracy[0], *accuracy[1]],
            "runs": records,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

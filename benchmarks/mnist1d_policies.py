"""Sampling policies on MNIST-1D with the 1-D CNN: final accuracy and time-to-accuracy over seeds.

Five policies (full data, full data for r × rounds, a random static subset, RS2
without and with replacement) at r = 10 % and 30 %, three seeds each, all in
one process so that every figure and ratio is measured side by side.

The batch size (100) divides every round size (400, 1,200 and 4,000 examples),
so no round ends in a small partial batch and every policy at a budget takes
exactly the same number of optimizer steps.

    python -m benchmarks.mnist1d_policies
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import POLICIES, describe_run, policy_table, print_markdown, save_json
from workers.engine.cli import grid_configs, load_cli_dataset, run_grid
from workers.engine.recipe import resolve_recipe
from workers.engine.training import resolve_device


def _floats(text: str) -> list[float]:
    return [float(item) for item in text.split(",")]


def _ints(text: str) -> list[int]:
    return [int(item) for item in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", type=_floats, default=[0.1, 0.3])
    parser.add_argument("--seeds", type=_ints, default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--target-accuracy", type=float, default=0.85)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads; the model is too small to use more")
    parser.add_argument("--data-dir", default="var/data")
    parser.add_argument("--json", default="benchmarks/results/mnist1d_policies.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    dataset, description = load_cli_dataset("mnist1d", args.data_dir)
    recipe = resolve_recipe(
        {
            "rounds": args.rounds,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "eval_every": args.eval_every,
            "target_accuracy": args.target_accuracy,
        }
    )
    configs = grid_configs(
        model="cnn1d",
        recipe=recipe,
        policies=[(policy, {}) for policy in POLICIES],
        budgets=args.budgets,
        seeds=args.seeds,
    )
    records = run_grid(configs, dataset, device=device)

    header, rows = policy_table(records, args.budgets)
    print(f"\nMNIST-1D, cnn1d, {args.rounds} rounds, target {100 * args.target_accuracy:g} %, device {device}")
    print_markdown(header, rows)
    save_json(
        args.json,
        {**describe_run(device), "dataset": description, "recipe": recipe, "table": [header, *rows], "runs": records},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

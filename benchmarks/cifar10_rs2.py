"""RS2 on real CIFAR-10: the five control policies across budgets, three seeds, side by side.

Two protocols:

* CPU-sized (default): small_cnn on a class-balanced 3,000-image training subset,
  the full 10,000-image test set, 100 rounds, evaluation every 20 rounds,
  r ∈ {5 %, 10 %, 30 %}. RS2's edge over a static subset only shows when each
  static example is revisited many times, so rounds stay high and the training
  set shrinks instead. The batch size (75) divides every round size (150, 300,
  900, 3,000), so no round ends in a small partial batch.
* ``--paper``: the RS2 paper's CIFAR-10 setting on a GPU: ResNet-18 (CIFAR
  variant), all 50,000 training images, 200 rounds, batch 128, SGD with Nesterov
  momentum 0.9, lr 0.1, weight decay 5e-4, cosine schedule over the reduced
  steps, random crop (pad 4) and flip, evaluation every round; its table is
  printed beside the measured one.

The archive is imported through the dataset store (decoded once, kept under its
SHA-256 in ``--data-dir``); it is never copied into the repository.

    python -m benchmarks.cifar10_rs2
    python -m benchmarks.cifar10_rs2 --paper --device cuda
    python -m benchmarks.cifar10_rs2 --rounds 3 --train-per-class 20   # smoke test
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import POLICIES, describe_run, policy_table, print_markdown, save_json
from workers.engine.cli import grid_configs, run_grid
from workers.engine.datasets import balanced_subset, import_dataset, load_dataset, load_info
from workers.engine.recipe import resolve_recipe
from workers.engine.training import resolve_device

ARCHIVE = "/work/shared/datasets/cifar10-jpeg.tar.gz"

# Final test accuracy (%) of the RS2 paper's CIFAR-10 / ResNet-18 / 200-round runs.
PAPER_ACCURACY = {
    "rs2_without_replacement": {0.01: 51.8, 0.05: 87.1, 0.1: 91.7, 0.2: 94.0, 0.3: 94.3, 0.5: 95.2},
    "random_static": {0.01: 36.7, 0.05: 64.5, 0.1: 78.4, 0.2: 88.1, 0.3: 91.0, 0.5: 93.2},
    "full": {budget: 95.5 for budget in (0.01, 0.05, 0.1, 0.2, 0.3, 0.5)},
}

PROTOCOLS = {
    "cpu": {
        "model": "small_cnn",
        "train_per_class": 300,
        "budgets": [0.05, 0.1, 0.3],
        "recipe": {
            "rounds": 100,
            "batch_size": 75,
            "lr": 0.1,
            "momentum": 0.9,
            "nesterov": True,
            "weight_decay": 5e-4,
            "label_smoothing": 0.2,
            "schedule": "cosine",
            "augment_flip": True,
            "augment_translate": 2,
            "eval_every": 20,
            "target_accuracy": 0.5,
        },
    },
    "paper": {
        "model": "resnet18",
        "train_per_class": None,
        "budgets": [0.01, 0.05, 0.1, 0.2, 0.3, 0.5],
        "recipe": {
            "rounds": 200,
            "batch_size": 128,
            "lr": 0.1,
            "momentum": 0.9,
            "nesterov": True,
            "weight_decay": 5e-4,
            "label_smoothing": 0.0,
            "schedule": "cosine",
            "augment_flip": True,
            "augment_translate": 4,
            "eval_every": 1,
            "target_accuracy": 0.9,
        },
    },
}


def _floats(text: str) -> list[float]:
    return [float(item) for item in text.split(",")]


def _ints(text: str) -> list[int]:
    return [int(item) for item in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper", action="store_true", help="the paper's full protocol (for a GPU)")
    parser.add_argument("--archive", default=ARCHIVE, help="CIFAR-10 image-folder archive (train/ and test/)")
    parser.add_argument("--sha256", help="an already imported copy in --data-dir; skips decoding the archive")
    parser.add_argument("--data-dir", default="var/data")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--budgets", type=_floats)
    parser.add_argument("--seeds", type=_ints, default=[0, 1, 2])
    parser.add_argument("--model")
    parser.add_argument("--train-per-class", type=int, help="class-balanced training subset size per class")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--eval-every", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--target-accuracy", type=float)
    parser.add_argument("--device", default="auto", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", help="default: benchmarks/results/cifar10_rs2_<protocol>.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    protocol_name = "paper" if args.paper else "cpu"
    protocol = PROTOCOLS[protocol_name]
    device = resolve_device(args.device)

    started = time.perf_counter()
    info = load_info(args.sha256, args.data_dir) if args.sha256 else import_dataset(args.archive, args.data_dir)
    dataset = load_dataset(info.sha256, args.data_dir)
    train_per_class = args.train_per_class or protocol["train_per_class"]
    if train_per_class:
        dataset = balanced_subset(dataset, train_per_class=train_per_class, seed=0)
    print(
        f"dataset {info.sha256[:12]}: {len(dataset.y_train)} training / {len(dataset.y_test)} test images "
        f"(imported in {time.perf_counter() - started:.1f} s; reuse with --sha256 {info.sha256})"
    )

    overrides = {
        "rounds": args.rounds,
        "eval_every": args.eval_every,
        "batch_size": args.batch_size,
        "target_accuracy": args.target_accuracy,
    }
    recipe = resolve_recipe({**protocol["recipe"], **{k: v for k, v in overrides.items() if v is not None}})
    budgets = args.budgets or protocol["budgets"]
    policies = [(policy, {}) for policy in args.policies.split(",")]
    configs = grid_configs(
        model=args.model or protocol["model"], recipe=recipe, policies=policies, budgets=budgets, seeds=args.seeds
    )
    records = run_grid(configs, dataset, device=device)
    elapsed = time.perf_counter() - started

    header, rows = policy_table(records, budgets)
    if args.paper:
        header.append("paper (%)")
        for row in rows:
            row.append(f"{PAPER_ACCURACY.get(row[1], {}).get(float(row[0]), '—')}")
    print(
        f"\nCIFAR-10 ({protocol_name} protocol), {args.model or protocol['model']}, {len(dataset.y_train)} training "
        f"images, {recipe['rounds']} rounds, target {100 * recipe['target_accuracy']:g} %, device {device}; "
        f"{elapsed / 60:.1f} min in all"
    )
    print_markdown(header, rows)
    save_json(
        args.json or f"benchmarks/results/cifar10_rs2_{protocol_name}.json",
        {
            **describe_run(device),
            "protocol": protocol_name,
            "dataset": {"sha256": info.sha256, "train_size": len(dataset.y_train), "train_per_class": train_per_class},
            "recipe": recipe,
            "elapsed_seconds": elapsed,
            "table": [header, *rows],
            "runs": records,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

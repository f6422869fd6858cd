"""A plain, independent RS2 / static-subset trainer, to cross-check the engine's accuracy.

Written the textbook way, sharing no code with the engine's loop: the
training set is normalised once, each round's subset is shuffled and cut into
batches (the partial batch dropped, as the RS2 paper's code does), random crops
and flips are drawn per example in a Python loop, and a per-step
``CosineAnnealingLR`` spans the reduced steps. With ``--torchvision`` the model
is torchvision's ResNet-18 given a 3×3 stem and no max-pool, so the engine's own
ResNet-18 is cross-checked too. The engine's result for the same setting runs
in the same process, side by side.

    python -m benchmarks.reference_loop --device cuda --budget 0.1 --rounds 200 --torchvision
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.common import describe_run, print_markdown, save_json
from workers.engine.arrays import ArrayDataset
from workers.engine.datasets import balanced_subset, import_dataset, load_dataset, load_info
from workers.engine.models import build_model
from workers.engine.training import resolve_device, train_run


def torchvision_resnet18(num_classes: int) -> nn.Module:
    from torchvision.models import resnet18

    model = resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def reference_accuracy(
    dataset: ArrayDataset,
    *,
    policy: str,
    budget: float,
    rounds: int,
    batch_size: int,
    seed: int,
    device: torch.device,
    use_torchvision: bool,
) -> tuple[float, float]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(dataset.x_train).float()
    mean = images.mean(dim=(0, 2, 3), keepdim=True)
    std = images.std(dim=(0, 2, 3), keepdim=True)
    x_train = ((images - mean) / std).to(device)
    x_test = ((torch.from_numpy(dataset.x_test).float() - mean) / std).to(device)
    y_train = torch.from_numpy(dataset.y_train).to(device)
    y_test = torch.from_numpy(dataset.y_test).to(device)
    if use_torchvision:
        model = torchvision_resnet18(dataset.num_classes).to(device)
    else:
        model = build_model("resnet18", input_shape=dataset.input_shape, num_classes=dataset.num_classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    size = round(budget * len(y_train))
    steps_per_round = size // batch_size
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps_per_round * rounds)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    permutation, position = rng.permutation(len(y_train)), 0
    static_subset = rng.choice(len(y_train), size=size, replace=False)
    started = time.perf_counter()
    model.train()
    for _ in range(rounds):
        if policy == "random_static":
            chosen = static_subset
        else:
            if position + size > len(permutation):
                permutation, position = rng.permutation(len(y_train)), 0
            chosen = permutation[position : position + size]
            position += size
        order = rng.permutation(chosen)
        for step in range(steps_per_round):
            batch = torch.from_numpy(order[step * batch_size : (step + 1) * batch_size]).to(device)
            padded = F.pad(x_train[batch], (4, 4, 4, 4))
            offsets = rng.integers(0, 9, size=(len(batch), 2))
            crops = torch.stack([padded[i, :, dy : dy + 32, dx : dx + 32] for i, (dy, dx) in enumerate(offsets)])
            flips = torch.from_numpy(rng.random(len(batch)) < 0.5).to(device)
            inputs = torch.where(flips.view(-1, 1, 1, 1), crops.flip(3), crops)
            with autocast:
                loss = F.cross_entropy(model(inputs).float(), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    seconds = time.perf_counter() - started

    model.eval()
    correct = 0
    with torch.no_grad(), autocast:
        for start in range(0, len(y_test), 1000):
            correct += (model(x_test[start : start + 1000]).argmax(1) == y_test[start : start + 1000]).sum().item()
    return correct / len(y_test), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", default="/work/shared/datasets/cifar10-jpeg.tar.gz")
    parser.add_argument("--sha256")
    parser.add_argument("--data-dir", default="var/data")
    parser.add_argument("--train-per-class", type=int)
    parser.add_argument("--policies", default="rs2_without_replacement")
    parser.add_argument("--budget", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torchvision", action="store_true", help="use torchvision's ResNet-18 in the reference")
    parser.add_argument("--device", default="auto", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--json", default="benchmarks/results/reference_loop.json")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    info = load_info(args.sha256, args.data_dir) if args.sha256 else import_dataset(args.archive, args.data_dir)
    dataset = load_dataset(info.sha256, args.data_dir)
    if args.train_per_class:
        dataset = balanced_subset(dataset, train_per_class=args.train_per_class, seed=0)

    rows, results = [], []
    for policy in args.policies.split(","):
        reference, reference_seconds = reference_accuracy(
            dataset,
            policy=policy,
            budget=args.budget,
            rounds=args.rounds,
            batch_size=args.batch_size,
            seed=args.seed,
            device=device,
            use_torchvision=args.torchvision,
        )
        config = {
            "model": "resnet18",
            "recipe": {
                "rounds": args.rounds,
                "batch_size": args.batch_size,
                "lr": 0.1,
                "weight_decay": 5e-4,
                "augment_flip": True,
                "augment_translate": 4,
                "eval_every": args.rounds,
            },
            "strategy": policy,
            "params": {},
            "budget": args.budget,
            "seed": args.seed,
        }
        engine = train_run(config, dataset, device=device)
        steps = math.ceil(round(args.budget * len(dataset.y_train)) / args.batch_size) * args.rounds
        rows.append(
            [
                policy,
                f"{args.budget:g}",
                f"{100 * engine.final_accuracy:.2f}",
                f"{100 * reference:.2f}",
                f"{100 * (engine.final_accuracy - reference):+.2f}",
                f"{engine.training_seconds:.1f}",
                f"{reference_seconds:.1f}",
                str(steps),
            ]
        )
        results.append({"policy": policy, "engine": engine.to_dict(), "reference_accuracy": reference})
        print(f"{policy}: engine {engine.final_accuracy:.4f}, reference {reference:.4f}", flush=True)
    header = ["policy", "r", "engine (%)", "reference (%)", "Δ (pp)", "engine (s)", "reference (s)", "engine steps"]
    print_markdown(header, rows)
    save_json(args.json, {**describe_run(device), "args": vars(args), "table": [header, *rows], "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

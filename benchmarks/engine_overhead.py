"""Engine overhead: training images/s of ``train_run`` against a bare hand-written PyTorch loop.

Both train the same model at the same batch size on the same device-resident
data with the same optimizer, in interleaved repeats so that drift in the
machine's load hits both alike. The bare loop is the least a training loop can
do: shuffle, gather a batch, forward, loss, backward, step (with the same
optimizer settings as the engine: fused on CUDA). The engine adds
per-batch normalisation of uint8 images, the learning-rate schedule, per-sample
loss recording, cancellation checks and its phase timers.

    python -m benchmarks.engine_overhead --device cpu --model small_cnn
    python -m benchmarks.engine_overhead --device cuda --model resnet18 --train-size 25600 --epochs 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.common import describe_run, print_markdown, save_json
from workers.engine.arrays import ArrayDataset
from workers.engine.models import build_model
from workers.engine.training import resolve_device, train_run


def synthetic_images(train_size: int, test_size: int, seed: int = 0) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    return ArrayDataset(
        x_train=rng.integers(0, 256, size=(train_size, 3, 32, 32), dtype=np.uint8),
        y_train=rng.integers(0, 10, size=train_size).astype(np.int64),
        x_test=rng.integers(0, 256, size=(test_size, 3, 32, 32), dtype=np.uint8),
        y_test=rng.integers(0, 10, size=test_size).astype(np.int64),
        class_names=[str(index) for index in range(10)],
        kind="image",
    )


def engine_images_per_second(dataset: ArrayDataset, *, model: str, batch_size: int, epochs: int, device) -> float:
    config = {
        "model": model,
        "recipe": {"rounds": epochs, "batch_size": batch_size, "eval_every": epochs},
        "strategy": "full",
        "params": {},
        "budget": 1.0,
        "seed": 0,
    }
    result = train_run(config, dataset, device=device)
    return result.samples_trained / result.training_seconds


def bare_images_per_second(
    dataset: ArrayDataset, *, model: str, batch_size: int, epochs: int, device: torch.device, channels_last: bool
) -> float:
    torch.manual_seed(0)
    network = build_model(model, input_shape=dataset.input_shape, num_classes=dataset.num_classes).to(device)
    images = torch.from_numpy(dataset.x_train).to(device).float()
    mean = images.mean(dim=(0, 2, 3), keepdim=True)
    std = images.std(dim=(0, 2, 3), keepdim=True)
    images = (images - mean) / std
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.from_numpy(dataset.y_train).to(device)
    cuda = device.type == "cuda"
    optimizer = torch.optim.SGD(
        network.parameters(),
        lr=0.1,
        momentum=0.9,
        nesterov=True,
        weight_decay=5e-4,
        **({"fused": True} if cuda else {}),
    )

    def step(batch: torch.Tensor) -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            logits = network(images[batch])
        loss = F.cross_entropy(logits.float(), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    count = len(labels)
    step(torch.arange(batch_size, device=device))  # warm-up, untimed, as the engine does
    if count % batch_size:
        step(torch.arange(count % batch_size, device=device))
    if cuda:
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(count, device=device)
        for start in range(0, count, batch_size):
            step(order[start : start + batch_size])
    if cuda:
        torch.cuda.synchronize(device)
    return count * epochs / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-size", type=int, default=2560)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", default="benchmarks/results/engine_overhead.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    dataset = synthetic_images(args.train_size, 256)
    shared = {"model": args.model, "batch_size": args.batch_size, "epochs": args.epochs}

    measured: dict[str, list[float]] = {"engine": [], "bare (channels-last)": [], "bare (contiguous)": []}
    for repeat in range(args.repeats):
        measured["engine"].append(engine_images_per_second(dataset, device=device, **shared))
        measured["bare (channels-last)"].append(
            bare_images_per_second(dataset, device=device, channels_last=True, **shared)
        )
        measured["bare (contiguous)"].append(
            bare_images_per_second(dataset, device=device, channels_last=False, **shared)
        )
        print(
            f"repeat {repeat + 1}/{args.repeats}: " + ", ".join(f"{k} {v[-1]:.0f} img/s" for k, v in measured.items())
        )

    paired = [e / b for e, b in zip(measured["engine"], measured["bare (channels-last)"], strict=True)]
    medians = {name: statistics.median(values) for name, values in measured.items()}
    rows = [[name, f"{medians[name]:.0f}", f"{min(values):.0f}–{max(values):.0f}"] for name, values in measured.items()]
    print()
    print_markdown(["loop", "median img/s", "range"], rows)
    ratio = statistics.median(paired)
    layout_gain = medians["bare (channels-last)"] / medians["bare (contiguous)"]
    print(f"\nengine / bare loop (median of paired repeats): {ratio:.3f}  (target ≥ 0.95)")
    print(f"channels-last / contiguous, bare loop: {layout_gain:.2f}×")
    save_json(
        args.json,
        {
            **describe_run(device),
            "settings": {**shared, "train_size": args.train_size, "repeats": args.repeats},
            "images_per_second": measured,
            "engine_over_bare_paired": paired,
            "engine_over_bare_median": ratio,
            "channels_last_gain": layout_gain,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

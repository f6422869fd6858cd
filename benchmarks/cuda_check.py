"""Checks of the engine's CUDA path that the CPU test suite cannot make.

On a machine with a GPU: bf16 autocast and channels-last training learn,
evaluation and selection are timed apart with CUDA events, a run stopped part
way resumes from its checkpoint to the same round count and step count, and the
per-sample losses are recorded on the device. Exits non-zero on any failure.

    python -m benchmarks.cuda_check
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from workers.engine.arrays import ArrayDataset
from workers.engine.training import Callbacks, train_run


def learnable_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Colour-coded classes: the class sets which channel is bright."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    images = rng.integers(0, 120, size=(count, 3, 32, 32))
    images[np.arange(count), labels] += 120
    return images.astype(np.uint8), labels.astype(np.int64)


class StopAfter(Callbacks):
    def __init__(self, rounds: int):
        self.rounds = rounds
        self.done = 0

    def on_round_end(self, round_index: int) -> None:
        self.done = round_index + 1

    def should_stop(self) -> bool:
        return self.done >= self.rounds


def check(condition: bool, message: str, failures: list[str]) -> None:
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device; nothing to check")
        return 1
    x_train, y_train = learnable_images(1200, 0)
    x_test, y_test = learnable_images(600, 1)
    dataset = ArrayDataset(x_train, y_train, x_test, y_test, ["r", "g", "b"], "image")
    failures: list[str] = []
    for model in ("small_cnn", "resnet18"):
        config = {
            "model": model,
            "recipe": {"rounds": 6, "batch_size": 64, "eval_every": 2, "augment_flip": True, "augment_translate": 2},
            "strategy": "rs2_without_replacement",
            "params": {},
            "budget": 0.3,
            "seed": 0,
        }
        result = train_run(config, dataset, device="cuda")
        steps = math.ceil(360 / 64) * 6
        check(result.optimizer_steps == steps, f"{model}: {result.optimizer_steps} steps, expected {steps}", failures)
        check(result.final_accuracy > 0.9, f"{model}: learns on CUDA (accuracy {result.final_accuracy:.3f})", failures)
        last = result.metrics[-1]
        check(
            math.isclose(last["wall_clock_seconds"], result.selection_seconds + result.training_seconds),
            f"{model}: clock = selection + training ({last['wall_clock_seconds']:.3f} s)",
            failures,
        )
        check(
            result.evaluation_seconds > 0,
            f"{model}: evaluation timed apart ({result.evaluation_seconds:.3f} s)",
            failures,
        )
        check(last["lr"] == 0.0, f"{model}: schedule ends at its final value", failures)

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "run.pt"
            stopped = train_run(config, dataset, device="cuda", callbacks=StopAfter(3), checkpoint_path=path,
                                checkpoint_every_seconds=0)  # fmt: skip
            resumed = train_run(config, dataset, device="cuda", checkpoint_path=path)
        check(stopped.canceled and stopped.rounds_completed == 3, f"{model}: stops after 3 rounds", failures)
        check(
            resumed.resumed_from_round == 3 and resumed.optimizer_steps == steps and not resumed.canceled,
            f"{model}: resumes from round 3 to {resumed.optimizer_steps} steps",
            failures,
        )
        drift = abs(resumed.final_accuracy - result.final_accuracy)
        check(
            drift < 0.05,
            f"{model}: resumed accuracy {resumed.final_accuracy:.3f} vs {result.final_accuracy:.3f}",
            failures,
        )
    print(f"{len(failures)} failure(s) on {torch.cuda.get_device_name()}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

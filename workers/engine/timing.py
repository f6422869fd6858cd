"""Phase timers and the learning-rate schedule."""

from __future__ import annotations

import math
import time

import torch


class PhaseTimer:
    """Seconds spent in one phase (selection, training or evaluation).

    On CUDA, work is queued asynchronously, so host clocks would stop before the
    GPU finishes: the phase is bracketed by CUDA events and ``stop`` waits for
    the closing one. Phases are timed back to back, so the queue is empty when
    the opening event is recorded and host work between the events is counted too.
    """

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self._started_at = 0.0
        self._start_event: torch.cuda.Event | None = None

    def start(self) -> None:
        if self.cuda:
            self._start_event = torch.cuda.Event(enable_timing=True)
            self._start_event.record()
        else:
            self._started_at = time.perf_counter()

    def stop(self) -> float:
        if self.cuda:
            end_event = torch.cuda.Event(enable_timing=True)
            end_event.record()
            end_event.synchronize()
            return self._start_event.elapsed_time(end_event) / 1000.0
        return time.perf_counter() - self._started_at


class LearningRateSchedule:
    """Learning rate at every optimizer step of a run of ``total_steps`` steps.

    ``lr(step)`` is the rate used for step ``step`` (0-based); ``lr(total_steps)``
    is the final value, which the optimizer holds after the last step. Warm-up
    rises linearly to the peak over ``warmup_fraction`` of the steps; then
    ``cosine`` decays to zero along a half cosine, ``onecycle`` decays linearly to
    zero, and ``constant`` stays at the peak.
    """

    KINDS = ("cosine", "onecycle", "constant")

    def __init__(self, peak: float, total_steps: int, kind: str, warmup_fraction: float = 0.0):
        if kind not in self.KINDS:
            raise ValueError(f"unknown schedule {kind!r}")
        self.peak = peak
        self.total_steps = max(1, total_steps)
        self.kind = kind
        self.warmup_steps = min(self.total_steps - 1, round(warmup_fraction * self.total_steps))

    def factor(self, step: int) -> float:
        step = min(max(step, 0), self.total_steps)
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        if self.kind == "constant":
            return 1.0
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        if self.kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0 - progress

    def lr(self, step: int) -> float:
        return self.peak * self.factor(step)

    @property
    def final_lr(self) -> float:
        return self.lr(self.total_steps)

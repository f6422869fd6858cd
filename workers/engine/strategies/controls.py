"""Controls: full data, and the random subsets RS2 (Okanovic et al., ICLR 2024) is measured with.

Each sampler cites what it reproduces; none of them trains a proxy, so their
selection cost is a permutation or a draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from workers.engine.strategies.base import (
    Sampler,
    Selection,
    SelectionContext,
    StaticSampler,
    budget_count,
    draw_subset,
)


class FullSampler(Sampler):
    """Every training example every round: the reference the budgets are cut from."""

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        super().__init__(params, num_samples=num_samples, budget=budget, labels=labels)
        self.round_size = num_samples

    def select(self, context: SelectionContext) -> Selection:
        return Selection(np.arange(self.num_samples, dtype=np.int64))


class FullShortSampler(FullSampler):
    """All the data, but only budget × rounds rounds: the same number of steps as a budget-r subset."""

    def planned_rounds(self, rounds: int) -> int:
        return budget_count(self.budget, rounds)


class RandomStaticSampler(StaticSampler):
    """One subset drawn before training and reused every round."""

    def choose(self, context: SelectionContext) -> Selection:
        return Selection(draw_subset(context.rng, self.labels, self.round_size, self.params["class_balanced"]))


class RS2WithoutReplacementSampler(Sampler):
    """Walk a shuffled permutation in chunks of r·N; reshuffle when it is exhausted.

    Every example is seen once before any is seen twice. When a chunk crosses
    the end of a pass, it takes what is left of the old permutation and fills
    up from the front of a fresh one, skipping the examples it already holds,
    so a round never repeats an example and the new pass still holds every
    example exactly once.
    """

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        super().__init__(params, num_samples=num_samples, budget=budget, labels=labels)
        self.permutation: np.ndarray | None = None
        self.position = 0

    def select(self, context: SelectionContext) -> Selection:
        if self.permutation is None:
            self.permutation = context.rng.permutation(self.num_samples).astype(np.int64)
            self.position = 0
        chunk = self.permutation[self.position : self.position + self.round_size]
        self.position += len(chunk)
        missing = self.round_size - len(chunk)
        if missing:
            fresh = context.rng.permutation(self.num_samples).astype(np.int64)
            fill = fresh[~np.isin(fresh, chunk)][:missing]
            rest = fresh[~np.isin(fresh, fill)]
            self.permutation = np.concatenate([fill, rest])
            self.position = missing
            chunk = np.concatenate([chunk, fill])
        return Selection(chunk.copy())

    def state_dict(self) -> dict[str, Any]:
        import torch

        permutation = None if self.permutation is None else torch.from_numpy(self.permutation)
        return {"permutation": permutation, "position": self.position}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        permutation = state["permutation"]
        self.permutation = None if permutation is None else permutation.numpy().astype(np.int64)
        self.position = int(state["position"])


class RS2WithReplacementSampler(Sampler):
    """A fresh, independent subset every round (distinct examples within a round)."""

    def select(self, context: SelectionContext) -> Selection:
        return Selection(draw_subset(context.rng, self.labels, self.round_size, self.params["class_balanced"]))

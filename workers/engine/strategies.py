"""Sampling strategies: the registry the product offers as policies, and their selection rules.

Each strategy declares a key, a family (static / dynamic / weighted), a
parameter schema with defaults, and whether the data budget applies to it.
Its sampler picks the examples of every round from a ``SelectionContext``
and keeps whatever it needs between rounds in a checkpointable state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from workers.engine.errors import ConfigError
from workers.engine.params import Param, resolve

if TYPE_CHECKING:
    # Only for annotations: the registry is read by the web app, which never loads torch.
    import torch
    from torch import nn

STATIC = "static"
DYNAMIC = "dynamic"
WEIGHTED = "weighted"


def budget_count(fraction: float, total: int) -> int:
    """round(fraction × total), halves rounded up, never below 1.

    Python's round() sends halves to even (round(2.5) == 2), which would make
    budgets of 0.5 on odd sizes drift; a budget is never allowed to vanish.
    """
    return max(1, math.floor(fraction * total + 0.5))


@dataclass
class Selection:
    """The examples to train on this round; ``weights`` (if any) multiply their per-sample losses."""

    indices: np.ndarray
    weights: np.ndarray | None = None


@dataclass
class ProxyRun:
    """What a proxy training run gives a strategy: the trained model and its per-sample losses."""

    model: nn.Module
    losses: np.ndarray
    result: Any


@dataclass
class SelectionContext:
    """Everything a strategy may look at when it picks a round's examples.

    ``losses`` holds the last training loss seen for every example (NaN where
    an example was never trained on); it is copied from the device only when
    a strategy reads it. ``train_proxy(rounds=..., budget=..., model=...)``
    trains a separate model through the same engine; its time counts as
    selection time because selection is what calls it.
    """

    round_index: int
    num_samples: int
    budget: float
    labels: np.ndarray
    rng: np.random.Generator
    model: nn.Module
    device: torch.device
    read_losses: Callable[[], np.ndarray]
    train_proxy: Callable[..., ProxyRun]

    @cached_property
    def losses(self) -> np.ndarray:
        return self.read_losses()


def class_quotas(labels: np.ndarray, total: int) -> dict[int, int]:
    """Split ``total`` over the classes in proportion to their sizes (largest remainders).

    The quotas sum to ``total`` exactly, so a class-balanced subset has the same
    size as an unbalanced one and trains for the same number of steps.
    """
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * (total / len(labels))
    quotas = np.floor(exact).astype(np.int64)
    remainder = total - int(quotas.sum())
    # Stable sort so ties go to the lower class index, whatever the RNG.
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[:remainder]] += 1
    return {int(label): int(quota) for label, quota in zip(classes, quotas, strict=True)}


def draw_subset(rng: np.random.Generator, labels: np.ndarray, size: int, class_balanced: bool) -> np.ndarray:
    """``size`` distinct examples, optionally the same share of every class, in random order."""
    if not class_balanced:
        return rng.choice(len(labels), size=size, replace=False).astype(np.int64)
    picks = [
        rng.choice(np.flatnonzero(labels == label), size=quota, replace=False)
        for label, quota in class_quotas(labels, size).items()
    ]
    return rng.permutation(np.concatenate(picks)).astype(np.int64)


class Sampler:
    """Selection rule of one strategy for one run.

    ``round_size`` is fixed for the whole run so the engine can lay the
    learning-rate schedule over the exact number of steps before training.
    """

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        self.params = dict(params)
        self.num_samples = num_samples
        self.budget = budget
        self.labels = labels
        self.round_size = budget_count(budget, num_samples)

    def planned_rounds(self, rounds: int) -> int:
        return rounds

    def select(self, context: SelectionContext) -> Selection:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` saved; stateless samplers have nothing to restore."""


class FullSampler(Sampler):
    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        super().__init__(params, num_samples=num_samples, budget=budget, labels=labels)
        self.round_size = num_samples

    def select(self, context: SelectionContext) -> Selection:
        return Selection(np.arange(self.num_samples, dtype=np.int64))


class FullShortSampler(FullSampler):
    """All the data, but only budget × rounds rounds: the same number of steps as a budget-r subset."""

    def planned_rounds(self, rounds: int) -> int:
        return budget_count(self.budget, rounds)


class RandomStaticSampler(Sampler):
    """One subset drawn before training and reused every round."""

    def __init__(self, params: Mapping[str, Any], *, num_samples: int, budget: float, labels: np.ndarray):
        super().__init__(params, num_samples=num_samples, budget=budget, labels=labels)
        self.subset: np.ndarray | None = None

    def select(self, context: SelectionContext) -> Selection:
        if self.subset is None:
            self.subset = draw_subset(context.rng, self.labels, self.round_size, self.params["class_balanced"])
        return Selection(self.subset.copy())

    def state_dict(self) -> dict[str, Any]:
        import torch

        return {"subset": None if self.subset is None else torch.from_numpy(self.subset)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        subset = state["subset"]
        self.subset = None if subset is None else subset.numpy().astype(np.int64)


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


@dataclass(frozen=True)
class Strategy:
    key: str
    family: str
    title: str
    description: str
    params: tuple[Param, ...] = ()
    uses_budget: bool = True
    sampler: type[Sampler] = field(default=Sampler, repr=False, compare=False)

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "family": self.family,
            "title": self.title,
            "description": self.description,
            "uses_budget": self.uses_budget,
            "params": [param.describe() for param in self.params],
        }


CLASS_BALANCED = Param("class_balanced", "bool", False, "Draw the same share of every class.")

STRATEGIES: dict[str, Strategy] = {
    strategy.key: strategy
    for strategy in (
        Strategy(
            "full",
            STATIC,
            "Full data",
            "Train on the whole training set every round; the budget does not apply.",
            uses_budget=False,
            sampler=FullSampler,
        ),
        Strategy(
            "full_short",
            STATIC,
            "Full data, fewer rounds",
            "Train on the whole training set for budget × rounds rounds.",
            sampler=FullShortSampler,
        ),
        Strategy(
            "random_static",
            STATIC,
            "Random static subset",
            "One random subset of r·N examples chosen before training and reused every round.",
            params=(CLASS_BALANCED,),
            sampler=RandomStaticSampler,
        ),
        Strategy(
            "rs2_without_replacement",
            DYNAMIC,
            "RS2 without replacement",
            "Walk a shuffled permutation in chunks of r·N; reshuffle when it is exhausted.",
            sampler=RS2WithoutReplacementSampler,
        ),
        Strategy(
            "rs2_with_replacement",
            DYNAMIC,
            "RS2 with replacement",
            "A fresh independent random subset of r·N examples every round.",
            params=(CLASS_BALANCED,),
            sampler=RS2WithReplacementSampler,
        ),
    )
}


def get_strategy(key: str, *, field: str = "strategy") -> Strategy:
    if not isinstance(key, str) or key not in STRATEGIES:
        known = ", ".join(sorted(STRATEGIES))
        raise ConfigError(field, f"unknown strategy {key!r}; known strategies: {known}")
    return STRATEGIES[key]


def resolve_strategy_params(key: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a strategy's parameters and fill defaults; errors name ``params.<field>``."""
    return resolve(get_strategy(key).params, params, prefix="params")


def make_sampler(key: str, params: Mapping[str, Any], *, budget: float, labels: np.ndarray) -> Sampler:
    """The sampler of strategy ``key`` for one run over a training set with these ``labels``."""
    strategy = get_strategy(key)
    resolved = resolve_strategy_params(key, params)
    # A strategy the budget does not apply to always runs at r = 1.
    effective_budget = float(budget) if strategy.uses_budget else 1.0
    return strategy.sampler(resolved, num_samples=len(labels), budget=effective_budget, labels=labels)

"""Sampling strategies: the registry the product offers as policies.

Each strategy declares a key, a family (static / dynamic / weighted), a
parameter schema with defaults, and whether the data budget applies to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workers.engine.errors import ConfigError
from workers.engine.params import Param, resolve

STATIC = "static"
DYNAMIC = "dynamic"
WEIGHTED = "weighted"


@dataclass(frozen=True)
class Strategy:
    key: str
    family: str
    title: str
    description: str
    params: tuple[Param, ...] = ()
    uses_budget: bool = True

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
        ),
        Strategy(
            "full_short",
            STATIC,
            "Full data, fewer rounds",
            "Train on the whole training set for budget × rounds rounds.",
        ),
        Strategy(
            "random_static",
            STATIC,
            "Random static subset",
            "One random subset of r·N examples chosen before training and reused every round.",
            params=(CLASS_BALANCED,),
        ),
        Strategy(
            "rs2_without_replacement",
            DYNAMIC,
            "RS2 without replacement",
            "Walk a shuffled permutation in chunks of r·N; reshuffle when it is exhausted.",
        ),
        Strategy(
            "rs2_with_replacement",
            DYNAMIC,
            "RS2 with replacement",
            "A fresh independent random subset of r·N examples every round.",
            params=(CLASS_BALANCED,),
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

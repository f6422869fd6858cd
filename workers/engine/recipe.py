"""The training recipe: what is fixed across every policy and budget of an experiment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.engine.params import Param, resolve

RECIPE_SCHEMA: tuple[Param, ...] = (
    Param("rounds", "int", 100, "Rounds (epochs); the same for every budget.", minimum=1, maximum=10000),
    Param("batch_size", "int", 128, "Mini-batch size.", minimum=1, maximum=65536),
    Param("optimizer", "choice", "sgd", "Optimizer.", choices=("sgd", "adamw")),
    Param("lr", "float", 0.1, "Peak learning rate.", minimum=0, exclusive_minimum=True, maximum=100),
    Param("momentum", "float", 0.9, "SGD momentum.", minimum=0, maximum=1),
    Param("nesterov", "bool", True, "Nesterov momentum for SGD."),
    Param("weight_decay", "float", 5e-4, "Weight decay.", minimum=0, maximum=1),
    Param("label_smoothing", "float", 0.0, "Label smoothing.", minimum=0, maximum=0.5),
    Param(
        "schedule",
        "choice",
        "cosine",
        "Learning-rate schedule over the budget's reduced number of steps.",
        choices=("cosine", "onecycle", "constant"),
    ),
    Param("warmup_fraction", "float", 0.0, "Fraction of steps spent warming up.", minimum=0, maximum=0.5),
    Param("augment_flip", "bool", False, "Random horizontal flip (images only)."),
    Param("augment_translate", "int", 0, "Random translation in pixels with padding.", minimum=0, maximum=16),
    Param(
        "target_accuracy",
        "float",
        None,
        "Accuracy (0-1) for time-to-target.",
        minimum=0,
        exclusive_minimum=True,
        maximum=1,
        nullable=True,
    ),
    Param("eval_every", "int", 1, "Evaluate every k rounds (and always after the last).", minimum=1),
)


def resolve_recipe(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a recipe and fill its defaults; raises ConfigError naming ``recipe.<field>``."""
    return resolve(RECIPE_SCHEMA, values, prefix="recipe")


# Settings that read the curves rather than shape training: a run's identity leaves them out,
# so changing the target of an experiment never trains anything again.
READING_KEYS = ("target_accuracy",)


def training_recipe(recipe: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a resolved recipe that decides how a run trains."""
    return {key: value for key, value in recipe.items() if key not in READING_KEYS}

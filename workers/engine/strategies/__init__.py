"""Sampling strategies: the registry the product offers as policies, and their selection rules.

``registry`` declares every strategy; ``base`` holds what samplers share; the
samplers live by family in ``controls``, ``scores`` and ``geometry``.
"""

from workers.engine.strategies.base import (
    DYNAMIC,
    STATIC,
    WEIGHTED,
    FixedSubsetSampler,
    ModelOutputs,
    ProxyRun,
    Sampler,
    Selection,
    SelectionContext,
    StaticSampler,
    Strategy,
    budget_count,
    class_quotas,
    draw_subset,
)
from workers.engine.strategies.registry import (
    CLASS_BALANCED,
    STRATEGIES,
    get_strategy,
    make_sampler,
    resolve_strategy_params,
)

__all__ = [
    "CLASS_BALANCED",
    "DYNAMIC",
    "STATIC",
    "STRATEGIES",
    "WEIGHTED",
    "FixedSubsetSampler",
    "ModelOutputs",
    "ProxyRun",
    "Sampler",
    "Selection",
    "SelectionContext",
    "StaticSampler",
    "Strategy",
    "budget_count",
    "class_quotas",
    "draw_subset",
    "get_strategy",
    "make_sampler",
    "resolve_strategy_params",
]

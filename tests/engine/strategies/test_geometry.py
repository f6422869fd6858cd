"""The geometry samplers on planted proxy outputs, and on a real proxy."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.strategies.conftest import choose, planted_context, planted_outputs, real_context
from tests.engine.training.conftest import blobs
from workers.engine.errors import ConfigError
from workers.engine.strategies import class_quotas, resolve_strategy_params

KEYS = ("kcenter_greedy", "contextual_diversity", "herding", "submodular")


def clustered(labels: np.ndarray, groups: np.ndarray, *, classes: int = 4, dims: int = 16, seed: int = 0):
    """Embeddings around orthogonal directions by ``groups``; uniform logits, so gradients keep the groups."""
    rng = np.random.default_rng(seed)
    embeddings = 10 * np.eye(dims)[groups] + 0.3 * rng.normal(size=(len(labels), dims))
    return planted_outputs(np.zeros((len(labels), classes)), embeddings)


def test_kcenter_strategy_picks_one_example_per_planted_embedding_cluster():
    groups = np.repeat(np.arange(5), [30, 10, 50, 20, 90])
    labels = np.arange(200) % 4
    _, selection = choose("kcenter_greedy", planted_context(labels, clustered(labels, groups)), 5 / 200)
    assert sorted(groups[selection.indices].tolist()) == [0, 1, 2, 3, 4]


def test_contextual_diversity_picks_across_distinct_predicted_distribution_groups():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 60)
    predicted = np.tile(np.repeat(np.arange(4), [5, 10, 15, 30]), 2)
    logits = 6 * np.eye(4)[predicted] + 0.2 * rng.normal(size=(120, 4))
    context = planted_context(labels, planted_outputs(logits, rng.normal(size=(120, 3))))
    _, selection = choose("contextual_diversity", context, 8 / 120)
    for label in (0, 1):
        mine = selection.indices[labels[selection.indices] == label]
        assert sorted(predicted[mine].tolist()) == [0, 1, 2, 3]


@pytest.mark.parametrize("class_balanced", [False, True])
def test_herding_strategy_matches_the_mean_embedding_better_than_random_subsets(class_balanced):
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 2
    embeddings = rng.normal(size=(200, 6)) * np.linspace(0.5, 3, 6) + labels[:, None] * 4
    context = planted_context(labels, planted_outputs(np.zeros((200, 2)), embeddings))
    _, selection = choose("herding", context, 0.1, {"class_balanced": class_balanced})
    parts = [np.flatnonzero(labels == c) for c in (0, 1)] if class_balanced else [np.arange(200)]
    for members in parts:
        chosen = np.intersect1d(selection.indices, members)
        mean = embeddings[members].mean(0)
        error = np.linalg.norm(embeddings[chosen].mean(0) - mean)
        random_errors = [
            np.linalg.norm(embeddings[rng.choice(members, len(chosen), replace=False)].mean(0) - mean)
            for _ in range(50)
        ]
        assert error < np.mean(random_errors) / 3


@pytest.mark.parametrize("function", ["facility_location", "graph_cut", "log_determinant"])
def test_submodular_strategy_covers_every_gradient_cluster_of_every_class(function):
    labels = np.repeat([0, 1], 80)
    groups = np.tile(np.repeat(np.arange(4), 20), 2)
    context = planted_context(labels, clustered(labels, groups, classes=2))
    _, selection = choose("submodular", context, 8 / 160, {"function": function, "epsilon": 0.0})
    for label in (0, 1):
        mine = selection.indices[labels[selection.indices] == label]
        assert sorted(groups[mine].tolist()) == [0, 1, 2, 3]


CASES = [
    ("kcenter_greedy", {"class_balanced": False}),
    ("kcenter_greedy", {"class_balanced": True}),
    ("contextual_diversity", {"class_balanced": False}),
    ("contextual_diversity", {"class_balanced": True}),
    ("herding", {"class_balanced": False}),
    ("herding", {"class_balanced": True}),
    ("submodular", {"function": "facility_location"}),
    ("submodular", {"function": "graph_cut"}),
    ("submodular", {"function": "log_determinant"}),
]


@pytest.mark.parametrize(("key", "params"), CASES)
def test_selection_has_exactly_r_n_examples_with_exact_class_quotas_and_is_seeded(key, params):
    rng = np.random.default_rng(1)
    labels = rng.choice(3, size=157, p=[0.5, 0.3, 0.2])
    outputs = planted_outputs(rng.normal(size=(157, 3)), rng.normal(size=(157, 8)))
    sampler, selection = choose(key, planted_context(labels, outputs, seed=4), 0.3, params)
    assert len(selection.indices) == sampler.round_size == 47
    assert len(np.unique(selection.indices)) == 47
    if params.get("class_balanced", key == "submodular"):
        counts = np.bincount(labels[selection.indices], minlength=3)
        assert dict(enumerate(counts.tolist())) == class_quotas(labels, 47)
    _, again = choose(key, planted_context(labels, outputs, seed=4), 0.3, params)
    assert np.array_equal(selection.indices, again.indices)


@pytest.mark.parametrize(
    ("key", "params", "field"),
    [
        ("kcenter_greedy", {"proxy_rounds": -1}, "params.proxy_rounds"),
        ("contextual_diversity", {"proxy_repeats": 0}, "params.proxy_repeats"),
        ("herding", {"class_balanced": "yes"}, "params.class_balanced"),
        ("submodular", {"function": "entropy"}, "params.function"),
        ("submodular", {"epsilon": 0.9}, "params.epsilon"),
        ("submodular", {"lam": 0.0}, "params.lam"),
    ],
)
def test_out_of_range_parameters_are_refused_by_name(key, params, field):
    with pytest.raises(ConfigError) as raised:
        resolve_strategy_params(key, params)
    assert raised.value.field == field


def test_geometry_defaults_train_one_proxy_for_ten_rounds():
    for key in KEYS:
        resolved = resolve_strategy_params(key, {})
        assert (resolved["proxy_rounds"], resolved["proxy_repeats"]) == (10, 1), key


def test_every_geometry_strategy_runs_on_a_real_proxy():
    dataset = blobs(train_size=120)
    for key in KEYS:
        sampler, selection = choose(key, real_context(dataset), 0.25, {"proxy_rounds": 1})
        assert len(np.unique(selection.indices)) == sampler.round_size == 30, key

"""Gradient matching: CRAIG, GRAD-MATCH and GLISTER on gradients whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import nnls

from tests.engine.strategies.conftest import choose, planted_context, planted_outputs, real_context
from tests.engine.training.conftest import blobs
from workers.engine.errors import ConfigError
from workers.engine.strategies import class_quotas, resolve_strategy_params
from workers.engine.strategies.gradients import GlisterSampler, mean_gradient, nonnegative_least_squares
from workers.engine.strategies.proxy import last_layer_gradients

PROXY = {"proxy_rounds": 0}


def clustered_model(*, per_class: int = 60, classes: int = 3, dims: int = 6, seed: int = 0):
    """A fixed linear model's outputs on examples in a few tight clusters of unequal sizes per class."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    sizes = np.array([30, 15, 10, 5]) * per_class // 60
    centres = rng.normal(scale=3.0, size=(classes, len(sizes), dims))
    cluster = np.concatenate([np.repeat(np.arange(len(sizes)), sizes)] * classes)
    embeddings = centres[labels, cluster] + rng.normal(scale=0.05, size=(len(labels), dims))
    weight = rng.normal(size=(dims, classes))
    return labels, planted_outputs(embeddings @ weight, embeddings)


def gradient_error(outputs, labels: np.ndarray, indices: np.ndarray, weights: np.ndarray) -> float:
    """‖Σ_all g − (N/k)·Σ_subset w_i g_i‖ with the weights at mean 1, as training sees them."""
    gradients = last_layer_gradients(outputs, torch.as_tensor(labels)).double()
    weights = torch.as_tensor(weights, dtype=torch.float64) * len(labels) / len(indices)
    return float((gradients.sum(0) - weights @ gradients[torch.as_tensor(indices)]).norm())


@pytest.mark.parametrize("key", ["craig", "gradmatch"])
def test_weighted_subsets_match_the_full_gradient_of_a_fixed_model_better_than_random_subsets(key):
    labels, outputs = clustered_model()
    _, selection = choose(key, planted_context(labels, outputs), 0.1, PROXY)
    error = gradient_error(outputs, labels, selection.indices, selection.weights)
    rng = np.random.default_rng(1)
    random_errors = [
        gradient_error(outputs, labels, rng.choice(len(labels), size=18, replace=False), np.ones(18)) for _ in range(10)
    ]
    assert error < 0.5 * np.mean(random_errors)
    # The weights carry the match: the same subset unweighted does far worse.
    assert error < 0.5 * gradient_error(outputs, labels, selection.indices, np.ones(18))


def test_craig_weights_count_every_example_of_its_class_once():
    labels, outputs = clustered_model()
    _, selection = choose("craig", planted_context(labels, outputs), 0.1, PROXY)
    counts = selection.weights.astype(np.float64) * len(labels) / len(selection.indices)
    assert np.allclose(counts, np.round(counts), atol=1e-4) and counts.min() >= 1
    for label in range(3):
        assert np.isclose(counts[labels[selection.indices] == label].sum(), (labels == label).sum())


def test_nonnegative_least_squares_agrees_with_scipy_from_a_warm_start():
    rng = np.random.default_rng(0)
    matrix, target = rng.normal(size=(30, 12)), rng.normal(size=30)
    gram = matrix.T @ matrix + 0.5 * np.eye(12)
    correlations = matrix.T @ target
    expected = nnls(np.vstack([matrix, np.sqrt(0.5) * np.eye(12)]), np.concatenate([target, np.zeros(12)]))[0]
    assert (expected == 0).any() and (expected > 0).any()
    solution = nonnegative_least_squares(
        torch.as_tensor(gram), torch.as_tensor(correlations), torch.zeros(12, dtype=torch.float64)
    )
    np.testing.assert_allclose(solution.numpy(), expected, atol=1e-8)
    warm = nonnegative_least_squares(torch.as_tensor(gram), torch.as_tensor(correlations), solution)
    np.testing.assert_allclose(warm.numpy(), expected, atol=1e-8)


def test_gradmatch_weights_are_positive_and_only_on_examples_that_move_towards_the_class_sum():
    # Two classes, equal logits: a class-0 gradient is p₁·(−h, h). Twenty examples have h along +e₁, twenty
    # along −e₁ at half the length, so the class sum points along the first twenty's gradient.
    helpful = np.tile([1.0, 0.0], (20, 1))
    embeddings = np.concatenate([helpful, -0.5 * helpful, np.tile([0.0, 1.0], (40, 1))])
    labels = np.repeat([0, 1], 40)
    outputs = planted_outputs(np.zeros((80, 2)), embeddings, has_bias=False)
    _, selection = choose("gradmatch", planted_context(labels, outputs), 0.375, PROXY)
    class_zero = selection.indices[labels[selection.indices] == 0]
    assert len(selection.indices) == 30 and len(class_zero) == 15
    assert (selection.weights > 0).all()
    assert (class_zero < 20).all()


def test_gradmatch_stops_early_and_fills_at_random_when_one_direction_is_exhausted():
    helpful = np.tile([1.0, 0.0], (5, 1))
    embeddings = np.concatenate([helpful, -0.5 * helpful[:4], np.tile([0.0, 1.0], (9, 1))])
    labels = np.repeat([0, 1], 9)
    outputs = planted_outputs(np.zeros((18, 2)), embeddings, has_bias=False)
    _, selection = choose("gradmatch", planted_context(labels, outputs), 7 / 9, PROXY)
    class_zero = selection.indices[labels[selection.indices] == 0]
    weights = selection.weights[labels[selection.indices] == 0]
    # All five helpful examples, then two of the four that would need a negative weight, each with weight 1.
    # The class sum is 3a (a = a helpful gradient, ‖a‖² = ½), so each helpful one weighs 3‖a‖² / (5‖a‖² + λ) = ½.
    assert set(range(5)) <= set(class_zero) and len(class_zero) == 7
    np.testing.assert_allclose(weights[class_zero >= 5] / weights[class_zero < 5].mean(), [2.0, 2.0], rtol=1e-4)


def test_glister_picks_examples_aligned_with_the_validation_gradient_over_larger_orthogonal_ones():
    # In class 0, 48 examples lie along e₁ and 16 three times longer each along its own axis, so a candidate
    # among the 16 is orthogonal to every validation example's gradient.
    embeddings = np.zeros((128, 17))
    embeddings[:48, 0] = 1.0
    embeddings[np.arange(48, 64), np.arange(1, 17)] = 3.0
    embeddings[64:, 0] = 1.0
    labels = np.repeat([0, 1], [64, 64])
    outputs = planted_outputs(np.zeros((128, 2)), embeddings, has_bias=False)
    params = {**PROXY, "eta": 0.01, "class_balanced": True, "validation_fraction": 0.25}
    _, selection = choose("glister", planted_context(labels, outputs), 0.25, params)
    class_zero = selection.indices[labels[selection.indices] == 0]
    assert len(class_zero) == 16 and (class_zero < 48).all()
    gradients = last_layer_gradients(outputs, torch.as_tensor(labels))
    assert gradients[48].norm() > 2 * gradients[0].norm()


def test_glister_holds_out_a_stratified_validation_set_and_never_selects_it():
    labels, outputs = clustered_model()
    params = resolve_strategy_params("glister", {**PROXY, "validation_fraction": 0.2})
    sampler, selection = choose("glister", planted_context(labels, outputs, seed=3), 0.8, params)
    validation = GlisterSampler(params, num_samples=180, budget=0.8, labels=labels)._split(np.random.default_rng(3))
    assert np.bincount(labels[validation]).tolist() == [12, 12, 12]
    assert set(selection.indices) == set(np.flatnonzero(~validation))
    with pytest.raises(ConfigError) as error:
        choose("glister", planted_context(labels, outputs), 0.85, params)
    assert error.value.field == "params.validation_fraction"


def test_the_validation_gradient_is_the_mean_of_the_last_layer_gradients():
    labels, outputs = clustered_model(per_class=12)
    labels_tensor = torch.as_tensor(labels)
    for has_bias in (True, False):
        outputs.has_bias = has_bias
        expected = last_layer_gradients(outputs, labels_tensor).mean(0)
        actual = mean_gradient(outputs.logits, outputs.embeddings, labels_tensor, logit_scale=1.0, has_bias=has_bias)
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("key", "params"),
    [
        ("craig", {}),
        ("craig", {"epsilon": 0.0}),
        ("gradmatch", {"class_balanced": True}),
        ("gradmatch", {"class_balanced": False}),
        ("glister", {"class_balanced": True}),
        ("glister", {"class_balanced": False, "epsilon": 0.1}),
    ],
)
def test_selection_size_is_the_budget_exactly_with_the_class_quotas_where_balanced(key, params):
    labels, outputs = clustered_model(per_class=60)
    labels = np.concatenate([labels, np.full(7, 2)])
    outputs = planted_outputs(
        np.concatenate([outputs.logits.numpy(), np.zeros((7, 3))]),
        np.concatenate([outputs.embeddings.numpy(), np.ones((7, 6))]),
    )
    sampler, selection = choose(key, planted_context(labels, outputs), 0.23, {**PROXY, **params})
    assert sampler.round_size == round(0.23 * 187) == len(np.unique(selection.indices)) == len(selection.indices)
    if key == "craig" or params["class_balanced"]:
        quotas = class_quotas(labels, sampler.round_size)
        assert np.bincount(labels[selection.indices]).tolist() == [quotas[label] for label in range(3)]


@pytest.mark.parametrize("key", ["craig", "gradmatch", "glister"])
def test_the_same_seed_gives_the_same_subset_and_weights(key):
    params = {"proxy_rounds": 1}
    _, first = choose(key, real_context(blobs(), seed=4), 0.2, params)
    _, again = choose(key, real_context(blobs(), seed=4), 0.2, params)
    np.testing.assert_array_equal(first.indices, again.indices)
    if key == "glister":
        assert first.weights is None and again.weights is None
    else:
        np.testing.assert_array_equal(first.weights, again.weights)


@pytest.mark.parametrize(
    ("key", "field", "value"),
    [
        ("craig", "epsilon", 0.6),
        ("gradmatch", "lam", 0.0),
        ("gradmatch", "proxy_rounds", -1),
        ("glister", "validation_fraction", 0.0),
        ("glister", "eta", -0.1),
        ("glister", "epsilon", -0.1),
    ],
)
def test_an_out_of_range_parameter_is_a_config_error_naming_it(key, field, value):
    with pytest.raises(ConfigError) as error:
        resolve_strategy_params(key, {field: value})
    assert error.value.field == f"params.{field}"

"""Score-based samplers on real tiny proxies and on planted outputs whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.engine.strategies.conftest import choose, planted_context, planted_outputs, real_context
from tests.engine.training.conftest import blobs
from workers.engine.errors import ConfigError
from workers.engine.strategies import ProxyRun, SelectionContext, class_quotas, make_sampler, resolve_strategy_params
from workers.engine.strategies.registry import SCORE_STRATEGIES

SCORE_KEYS = [strategy.key for strategy in SCORE_STRATEGIES]
# Untrained proxies keep the every-strategy checks fast; the behaviour tests train real ones.
QUICK = {"proxy_rounds": 0, "proxy_repeats": 1}


def model_context(model: nn.Module, inputs: torch.Tensor, labels: np.ndarray, *, seed: int = 0) -> SelectionContext:
    """A context whose every proxy is ``model`` and whose training inputs are ``inputs``."""
    labels = np.asarray(labels, dtype=np.int64)
    return SelectionContext(
        round_index=0,
        num_samples=len(labels),
        budget=0.0,
        labels=labels,
        rng=np.random.default_rng(seed),
        model=model,
        device=torch.device("cpu"),
        read_losses=lambda: np.full(len(labels), np.nan),
        train_proxy=lambda **_: ProxyRun(model=model, losses=np.zeros(len(labels)), result=None),
        num_classes=int(labels.max()) + 1,
        train_inputs=lambda indices: inputs[indices],
    )


def noisy_blobs(flipped: int = 24):
    """Blobs with the labels of the first ``flipped`` examples moved to the next class."""
    dataset = blobs()
    dataset.y_train = dataset.y_train.copy()
    dataset.y_train[:flipped] = (dataset.y_train[:flipped] + 1) % dataset.num_classes
    return dataset


@pytest.mark.parametrize(("key", "params"), [("el2n", {"proxy_rounds": 4}), ("forgetting", {"proxy_rounds": 6})])
def test_mislabelled_examples_rank_hardest_on_a_trained_proxy(key, params):
    _, selection = choose(key, real_context(noisy_blobs()), 0.1, params)
    # 24 of the 240 examples are mislabelled; a random 10% would hold about 2.4 of them.
    assert np.isin(selection.indices, np.arange(24)).sum() >= 15


def test_never_learned_examples_rank_above_every_forgotten_one():
    labels = np.zeros(8, dtype=np.int64)
    counts = np.array([0, 5, 1, 0, 7, 0, 2, 0])
    learned = np.array([True, True, True, False, True, False, True, True])
    outputs = planted_outputs(np.zeros((8, 2)), np.zeros((8, 1)))
    context = planted_context(labels, outputs, forgetting_counts=counts, ever_learned=learned)
    _, selection = choose("forgetting", context, 0.5)
    assert sorted(selection.indices.tolist()) == [1, 3, 4, 5]


@pytest.mark.parametrize("score", ["least_confidence", "entropy", "margin"])
def test_uncertainty_keeps_the_most_uncertain_examples(score):
    # Examples 0-4 are confident, 5-9 nearly uniform over three classes.
    logits = np.zeros((10, 3))
    logits[:5, 0] = 8.0
    logits[5:] = np.random.default_rng(0).normal(scale=0.05, size=(5, 3))
    context = planted_context(np.zeros(10), planted_outputs(logits, np.zeros((10, 1))))
    _, selection = choose("uncertainty", context, 0.5, {"score": score})
    assert sorted(selection.indices.tolist()) == [5, 6, 7, 8, 9]


def test_moderate_keeps_the_middle_band_of_distances_to_the_class_median():
    # One class on a line: distances to the median (0) are 0, 1, ..., 8 for examples 0..8.
    embeddings = np.array([[0.0], [1.0], [-2.0], [3.0], [-4.0], [5.0], [-6.0], [7.0], [-8.0]])
    context = planted_context(np.zeros(9), planted_outputs(np.zeros((9, 2)), embeddings))
    _, selection = choose("moderate", context, 3 / 9)
    assert sorted(selection.indices.tolist()) == [3, 4, 5]


def test_ccs_keeps_every_stratum_and_nothing_above_its_cutoff():
    counts = np.concatenate([np.repeat([0, 1, 2, 3], 60), np.full(20, 9)])
    labels = np.arange(260) % 2
    context = planted_context(
        labels,
        planted_outputs(np.zeros((260, 2)), np.zeros((260, 1))),
        forgetting_counts=counts,
        ever_learned=np.ones(260, dtype=bool),
    )
    params = {"score": "forgetting", "strata": 4}
    _, selection = choose("ccs", context, 0.2, params)
    assert np.bincount(counts[selection.indices], minlength=10).tolist() == [13, 13, 13, 13, 0, 0, 0, 0, 0, 0]
    _, balanced = choose("ccs", context, 0.2, {**params, "class_balanced": True})
    assert (counts[balanced.indices] < 9).all() and set(counts[balanced.indices]) == {0, 1, 2, 3}


def test_supervised_prototypes_keep_the_points_far_from_or_near_their_class_centroid():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 10)
    embeddings = np.where(labels[:, None] == 0, -10.0, 10.0) + rng.normal(scale=0.1, size=(20, 2))
    far = [3, 14]
    embeddings[far] += 5.0
    context = planted_context(labels, planted_outputs(np.zeros((20, 2)), embeddings))
    _, hard = choose("supervised_prototypes", context, 0.1)
    assert sorted(hard.indices.tolist()) == far
    _, easy = choose("supervised_prototypes", context, 0.8, {"keep": "easy"})
    assert not np.isin(far, easy.indices).any()


def test_self_supervised_prototypes_keep_the_points_far_from_their_cluster_centre():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    embeddings = centres[np.arange(60) % 3] + rng.normal(scale=0.2, size=(60, 2))
    far = [4, 31, 50]
    embeddings[far] += 3.0
    # Labels say nothing about the clusters: the prototypes come from k-means alone.
    context = planted_context(np.zeros(60), planted_outputs(np.zeros((60, 2)), embeddings))
    _, hard = choose("self_supervised_prototypes", context, 0.05, {"clusters": 3})
    assert sorted(hard.indices.tolist()) == far
    _, easy = choose("self_supervised_prototypes", context, 0.5, {"clusters": 3, "keep": "easy"})
    assert not np.isin(far, easy.indices).any()


def test_deepfool_finds_the_distance_to_a_linear_boundary_and_keeps_the_nearest():
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        model.bias.zero_()
    inputs = torch.tensor([[3.0, 1.0], [-0.2, 5.0], [0.5, -1.0], [-4.0, 0.0], [0.1, 2.0], [-1.5, 1.0]])
    context = model_context(model, inputs, np.array([0, 1, 0, 1, 0, 1]))
    sampler, selection = choose("deepfool", context, 0.5)
    assert sorted(selection.indices.tolist()) == [1, 2, 4]
    # One step reaches the boundary x₀ = 0, pushed 2% past it.
    expected = 1.02 * inputs[:, 0].abs().numpy()
    np.testing.assert_allclose(sampler.score(model_context(model, inputs, context.labels)), expected, rtol=1e-3)


def test_grand_over_all_parameters_equals_per_example_autograd_gradient_norms():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    inputs = torch.randn(12, 5)
    labels = np.arange(12) % 3
    sampler = make_sampler("grand", {"proxy_repeats": 1}, budget=0.5, labels=labels)
    scores = sampler.score(model_context(model, inputs, labels))
    expected = []
    for index in range(12):
        model.zero_grad()
        F.cross_entropy(model(inputs[index : index + 1]), torch.tensor([labels[index]])).backward()
        expected.append(torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item())
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_cal_scores_points_whose_neighbours_disagree_highest():
    # Two tight clusters of 11: in the first every prediction agrees, in the second half point elsewhere.
    embeddings = np.concatenate([np.zeros((11, 2)), np.full((11, 2), 50.0)])
    embeddings += np.random.default_rng(0).normal(scale=0.1, size=(22, 2))
    logits = np.zeros((22, 2))
    logits[:11, 0] = 5.0
    logits[11:, 0] = np.where(np.arange(11) % 2 == 0, 5.0, -5.0)
    context = planted_context(np.arange(22) % 2, planted_outputs(logits, embeddings))
    sampler = make_sampler("cal", {}, budget=0.5, labels=context.labels)
    scores = sampler.score(context)
    assert scores[:11].max() < 1e-6 < scores[11:].min()
    assert sorted(sampler.select(context).indices.tolist()) == list(range(11, 22))


@pytest.mark.parametrize("key", SCORE_KEYS)
@pytest.mark.parametrize("class_balanced", [False, True])
def test_every_score_strategy_keeps_exactly_its_budget(key, class_balanced):
    dataset = blobs(train_size=241)
    _, selection = choose(key, real_context(dataset), 0.3, {**QUICK, "class_balanced": class_balanced})
    indices = selection.indices
    assert len(indices) == 72 and len(np.unique(indices)) == 72
    if class_balanced:
        counts = np.bincount(dataset.y_train[indices], minlength=4)
        assert dict(enumerate(counts.tolist())) == class_quotas(dataset.y_train, 72)


@pytest.mark.parametrize("key", SCORE_KEYS)
def test_the_same_seed_gives_the_same_subset(key):
    first = choose(key, real_context(blobs(), seed=3), 0.2, QUICK)[1].indices
    again = choose(key, real_context(blobs(), seed=3), 0.2, QUICK)[1].indices
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize(
    ("key", "params", "field"),
    [
        ("el2n", {"offset": 0.95}, "params.offset"),
        ("grand", {"gradient": "first_layer"}, "params.gradient"),
        ("uncertainty", {"score": "variance"}, "params.score"),
        ("deepfool", {"max_iterations": 0}, "params.max_iterations"),
        ("cal", {"neighbors": 0}, "params.neighbors"),
        ("self_supervised_prototypes", {"clusters": 0}, "params.clusters"),
        ("supervised_prototypes", {"keep": "middle"}, "params.keep"),
        ("ccs", {"hard_cutoff": 1.0}, "params.hard_cutoff"),
        ("ccs", {"strata": 0}, "params.strata"),
        ("forgetting", {"proxy_rounds": -1}, "params.proxy_rounds"),
    ],
)
def test_an_out_of_range_parameter_is_rejected_by_name(key, params, field):
    with pytest.raises(ConfigError) as raised:
        resolve_strategy_params(key, params)
    assert raised.value.field == field

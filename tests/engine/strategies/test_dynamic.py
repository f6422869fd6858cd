"""Dynamic resampling and pruning (score resampling, InfoBatch, SeTa), checked on planted scores and losses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from tests.engine.strategies.conftest import bare_context, planted_context, planted_outputs, real_context
from tests.engine.training.conftest import assert_resumes_identically, blobs, run_config, tiny_images
from workers.engine.strategies import SelectionContext, make_sampler
from workers.engine.strategies.dynamic import annealed_rounds, weighted_draw
from workers.engine.training import train_run


def loss_context(losses: np.ndarray, labels: np.ndarray, *, round_index: int, rounds: int, seed: int = 0):
    """A context whose last training losses are ``losses``, in round ``round_index`` of ``rounds``."""
    return bare_context(labels, round_index=round_index, rounds=rounds, seed=seed, losses=losses)


# ---------------------------------------------------------------------------
# Score resampling
# ---------------------------------------------------------------------------


def el2n_planted(labels: np.ndarray, rng: np.random.Generator) -> tuple[SelectionContext, np.ndarray]:
    """A context whose proxy's logits are planted, and the EL2N scores they imply."""
    logits = rng.normal(scale=2.0, size=(len(labels), 3))
    context = planted_context(labels, planted_outputs(logits, np.zeros((len(labels), 2))))
    residual = F.softmax(torch.as_tensor(logits, dtype=torch.float32), dim=1) - F.one_hot(torch.as_tensor(labels), 3)
    return context, residual.norm(dim=1).double().numpy()


def test_score_resampling_draws_in_proportion_to_the_score():
    labels = np.arange(60) % 3
    context, scores = el2n_planted(labels, np.random.default_rng(1))
    sampler = make_sampler("score_resampling", {"replacement": True}, budget=0.5, labels=labels)
    counts = np.zeros(len(labels))
    for round_index in range(400):
        indices = sampler.select(dataclasses.replace(context, round_index=round_index)).indices
        assert len(indices) == 30
        counts += np.bincount(indices, minlength=len(labels))
    expected = scores / scores.sum() * counts.sum()
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    # The same counts are far from a uniform draw: the test can tell the score apart.
    assert stats.chisquare(counts, np.full(len(labels), counts.mean())).pvalue < 1e-6
    assert np.allclose(sampler.probabilities, scores / scores.sum())


def test_the_score_is_computed_once_and_softmax_weighting_follows_the_rs2_repository():
    labels = np.arange(30) % 3
    context, scores = el2n_planted(labels, np.random.default_rng(2))
    proxies = []
    original = context.train_proxy
    counting = dataclasses.replace(context, train_proxy=lambda **kwargs: proxies.append(1) or original(**kwargs))
    params = {"weighting": "softmax", "temperature": 0.5, "smoothing": 0.2}
    sampler = make_sampler("score_resampling", params, budget=0.2, labels=labels)
    draws = [sampler.select(dataclasses.replace(counting, round_index=index)).indices for index in range(5)]
    assert len(proxies) == 1
    softmax = np.exp(scores / 0.5) / np.exp(scores / 0.5).sum()
    assert np.allclose(sampler.probabilities, 0.8 * softmax + 0.2 / len(labels))
    for indices in draws:
        assert len(indices) == 6 and len(np.unique(indices)) == 6
    assert len({tuple(indices) for indices in draws}) > 1


def test_a_draw_without_replacement_is_successive_sampling_as_numpy_choice_does():
    probabilities = np.array([0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.02])
    ours, numpys = np.zeros(7), np.zeros(7)
    rng = np.random.default_rng(0)
    trials = 20000
    for _ in range(trials):
        ours[weighted_draw(rng, probabilities, 3, replace=False)] += 1
        numpys[rng.choice(7, 3, replace=False, p=probabilities)] += 1
    # Inclusion frequencies agree within four standard errors of a binomial proportion.
    inclusion = numpys / trials
    assert np.all(np.abs(ours / trials - inclusion) <= 4 * np.sqrt(inclusion * (1 - inclusion) / trials) + 1e-9)
    # A single draw is in proportion to the probabilities.
    firsts = np.bincount([weighted_draw(rng, probabilities, 1, replace=False)[0] for _ in range(trials)], minlength=7)
    assert stats.chisquare(firsts, probabilities * trials).pvalue > 1e-3


def test_examples_of_zero_probability_fill_a_draw_only_when_too_few_have_any():
    probabilities = np.array([0.5, 0.5, 0, 0, 0, 0])
    rng = np.random.default_rng(0)
    assert set(weighted_draw(rng, probabilities, 2, replace=False)) == {0, 1}
    drawn = weighted_draw(rng, probabilities, 4, replace=False)
    assert len(set(drawn)) == 4 and {0, 1} <= set(drawn)


# ---------------------------------------------------------------------------
# InfoBatch
# ---------------------------------------------------------------------------


def fixed_model_gradients(dataset) -> tuple[np.ndarray, np.ndarray]:
    """Per-example loss gradients of a fixed linear softmax model, and its per-example losses."""
    torch.manual_seed(0)
    model = torch.nn.Linear(dataset.x_train.shape[1], dataset.num_classes)
    x = torch.as_tensor(dataset.x_train)
    y = torch.as_tensor(dataset.y_train)
    losses = F.cross_entropy(model(x), y, reduction="none")
    gradients = []
    for index in range(len(y)):
        model.zero_grad()
        losses[index].backward(retain_graph=True)
        gradients.append(torch.cat([model.weight.grad.flatten(), model.bias.grad]).numpy().copy())
    return np.array(gradients), losses.detach().numpy()


@pytest.mark.parametrize("params", [{"prune_ratio": 0.5}, {"prune_ratio": 0.8}, {}])
def test_infobatch_reweighting_keeps_the_expected_gradient_of_a_fixed_model(params):
    dataset = blobs(train_size=200)
    gradients, losses = fixed_model_gradients(dataset)
    full = gradients.mean(axis=0)
    sampler = make_sampler("infobatch", params, budget=0.5, labels=dataset.y_train)
    estimates, unweighted, probabilities = [], [], []
    for draw in range(1500):
        context = loss_context(losses, dataset.y_train, round_index=1, rounds=100, seed=draw)
        sampler.trained = 0
        selection = sampler.select(context)
        probabilities.append(sampler.last_prune_probability)
        estimates.append((selection.weights[:, None] * gradients[selection.indices]).sum(axis=0) / len(losses))
        unweighted.append(gradients[selection.indices].sum(axis=0) / len(losses))
    assert probabilities[0] > 0.3
    estimates = np.array(estimates)
    error = np.abs(estimates.mean(axis=0) - full)
    standard_error = estimates.std(axis=0) / np.sqrt(len(estimates))
    assert np.all(error <= 4 * standard_error + 1e-9)
    # Without the 1/(1 − p) weights the same draws are biased far beyond that tolerance.
    bias = np.abs(np.array(unweighted).mean(axis=0) - full)
    assert bias.max() > 20 * standard_error[bias.argmax()]


def test_infobatch_drops_only_well_learned_examples_and_weights_the_kept_ones():
    labels = np.arange(100) % 2
    losses = np.where(np.arange(100) < 60, 0.1, 2.0)  # 60 below the mean (0.86), 40 above
    sampler = make_sampler("infobatch", {"prune_ratio": 0.5}, budget=0.5, labels=labels)
    selection = sampler.select(loss_context(losses, labels, round_index=3, rounds=20))
    chosen = set(selection.indices.tolist())
    assert set(range(60, 100)) <= chosen
    assert len(chosen) == 40 + 30  # exactly ⌊(1 − p) · 60⌋ of the well-learned ones are kept, weighted 1/(1 − p)
    weights = dict(zip(selection.indices.tolist(), selection.weights.tolist(), strict=True))
    assert all(weights[index] == 1.0 for index in range(60, 100))
    assert all(weights[index] == 2.0 for index in chosen if index < 60)


def test_infobatch_trains_on_all_the_data_in_the_last_rounds():
    labels = np.arange(80) % 4
    losses = np.linspace(0.1, 3.0, 80)
    sampler = make_sampler("infobatch", {"prune_ratio": 0.5, "anneal": 0.25}, budget=0.5, labels=labels)
    sizes = []
    for round_index in range(12):
        selection = sampler.select(loss_context(losses, labels, round_index=round_index, rounds=12))
        sizes.append(len(selection.indices))
        if round_index >= 9:
            assert sorted(selection.indices.tolist()) == list(range(80))
            assert selection.weights is None or np.all(selection.weights == 1)
    assert annealed_rounds(0.25, 12) == 3
    assert max(sizes[:9]) < 80 and sizes[9:] == [80, 80, 80]


def test_infobatch_sets_p_to_keep_the_run_on_its_budget():
    labels = np.arange(1000) % 10
    losses = np.where(np.arange(1000) < 600, 0.2, 1.5)
    rounds, budget = 8, 0.6
    sampler = make_sampler("infobatch", {"anneal": 0.125}, budget=budget, labels=labels)
    trained = sum(
        len(sampler.select(loss_context(losses, labels, round_index=index, rounds=rounds)).indices)
        for index in range(rounds)
    )
    # Whole examples per round: within one example a round of r × rounds × N.
    assert abs(trained - budget * rounds * 1000) <= rounds
    # Below what pruning well-learned examples can reach, p stays at its limit and the run trains on more.
    sampler = make_sampler("infobatch", {}, budget=0.1, labels=labels)
    first = sampler.select(loss_context(losses, labels, round_index=0, rounds=rounds))
    assert sampler.last_prune_probability == pytest.approx(0.9)
    assert len(first.indices) == 400 + 60


def test_the_first_infobatch_round_trains_on_everything_when_no_loss_is_known():
    labels = np.arange(50) % 5
    sampler = make_sampler("infobatch", {}, budget=0.3, labels=labels)
    selection = sampler.select(loss_context(np.full(50, np.nan), labels, round_index=0, rounds=10))
    assert sorted(selection.indices.tolist()) == list(range(50))


# ---------------------------------------------------------------------------
# SeTa
# ---------------------------------------------------------------------------


def test_seta_slides_a_window_from_easy_to_hard_loss_clusters_and_wraps_around():
    levels = 10
    labels = np.arange(200) % 2
    # Ten well-separated loss levels, twenty examples each, shuffled over the indices.
    level = np.random.default_rng(0).permutation(np.repeat(np.arange(levels), 20))
    losses = level * 1.0 + 0.01 * np.random.default_rng(1).random(200)
    params = {"prune_ratio": 0.0, "groups": levels, "window_scale": 0.5, "anneal": 0.0}
    sampler = make_sampler("seta", params, budget=0.5, labels=labels)
    windows = []
    for round_index in range(8):
        selection = sampler.select(loss_context(losses, labels, round_index=round_index, rounds=8))
        windows.append(sorted(set(level[selection.indices].tolist())))
    assert windows[0] == list(range(10))  # the first round trains on every cluster
    assert windows[1:] == [[1, 2, 3, 4, 5], [2, 3, 4, 5, 6], [3, 4, 5, 6, 7], [4, 5, 6, 7, 8], [5, 6, 7, 8, 9],
                           [0, 1, 2, 3, 4], [1, 2, 3, 4, 5]]  # fmt: skip


def test_seta_prunes_at_random_to_its_budget_and_anneals_on_a_random_share():
    labels = np.arange(1000) % 10
    losses = np.random.default_rng(0).gamma(2.0, size=1000)
    sampler = make_sampler("seta", {"window_scale": 0.5, "anneal": 0.25}, budget=0.2, labels=labels)
    assert sampler.keep_ratio == pytest.approx(0.4)
    sizes = []
    for round_index in range(8):
        selection = sampler.select(loss_context(losses, labels, round_index=round_index, rounds=8))
        assert len(np.unique(selection.indices)) == len(selection.indices)
        sizes.append(len(selection.indices))
    assert sizes[0] == 400  # every cluster of the random 40 %
    assert 100 < np.mean(sizes[1:6]) < 300  # half of the clusters, of unequal sizes
    assert sizes[6:] == [400, 400]  # annealing: a random 40 % of all the data


# ---------------------------------------------------------------------------
# End to end: realised fraction, schedule, resume
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "strategy, params",
    [
        ("score_resampling", {"proxy_rounds": 1}),
        ("infobatch", {}),
        ("seta", {"groups": 3}),
    ],
)
def test_a_dynamic_run_reports_its_realised_fraction_and_resumes_identically(tmp_path, strategy, params):
    dataset = tiny_images(train_size=90, test_size=30)
    config = run_config(
        model="small_cnn", strategy=strategy, params=params, budget=0.4, recipe={"rounds": 8, "eval_every": 2}
    )
    uninterrupted = train_run(config, dataset)
    last = uninterrupted.metrics[-1]
    assert last["data_fraction"] == uninterrupted.samples_trained / (90 * 8)
    assert np.isfinite(last["train_loss"]) and uninterrupted.final_accuracy is not None

    assert_resumes_identically(config, dataset, tmp_path / "run.pt")


@pytest.mark.parametrize("score", ["el2n", "forgetting", "uncertainty", "cal", "supervised_prototypes"])
def test_score_resampling_draws_by_each_offered_score_as_its_static_method_computes_it(score):
    run_labels = blobs().y_train
    params = {"score": score, "proxy_rounds": 1}
    sampler = make_sampler("score_resampling", params, budget=0.25, labels=run_labels)
    sampler.select(real_context(blobs()))
    static = make_sampler(score, {"proxy_rounds": 1}, budget=0.25, labels=run_labels)
    expected = np.asarray(static.score(real_context(blobs())), dtype=np.float64)
    expected = expected - min(0.0, expected.min())
    assert np.allclose(sampler.probabilities, expected / expected.sum())

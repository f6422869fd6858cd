"""Online selection: importance sampling, hard mining, UCB and ε-greedy on losses whose answer is known."""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import pytest
import torch
from scipy import stats

from tests.engine.strategies.conftest import bare_context, planted_outputs, real_context
from tests.engine.training.conftest import assert_resumes_identically, blobs, run_config, tiny_images
from workers.engine.strategies import SelectionContext, budget_count, make_sampler
from workers.engine.strategies.proxy import draw_pool, example_losses, to_numpy
from workers.engine.training import Trainer, train_run


def no_proxy(**_):
    raise AssertionError("online strategies train no proxy")


def logits_context(logits: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> SelectionContext:
    """A context whose model outputs ``logits`` on the examples it is asked about, in their order."""
    logits = np.asarray(logits, dtype=np.float32)

    def infer(model, indices=None):
        chosen = np.arange(len(labels)) if indices is None else np.asarray(indices)
        return planted_outputs(logits[chosen], np.zeros((len(chosen), 1)))

    return bare_context(labels, rng=rng, infer=infer, num_classes=logits.shape[1])


def graded_logits(count: int = 20, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Examples from confidently right to confidently wrong: losses and gradient bounds all distinct."""
    labels = np.arange(count) % classes
    logits = np.zeros((count, classes))
    logits[np.arange(count), labels] = np.linspace(4.0, -3.0, count)
    return logits, labels


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def expected_scores(logits: np.ndarray, labels: np.ndarray, score: str) -> np.ndarray:
    probabilities = softmax(logits.astype(np.float64))
    if score == "loss":
        return -np.log(probabilities[np.arange(len(labels)), labels])
    return np.linalg.norm(probabilities - np.eye(logits.shape[1])[labels], axis=1)


# ---------------------------------------------------------------------------
# Importance sampling
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("score", ["upper_bound", "loss"])
def test_importance_draws_from_its_pool_in_proportion_to_the_score_with_weights_one_over_b_p(score):
    logits, labels = graded_logits(40)
    sampler = make_sampler("loss_importance", {"score": score, "pool_factor": 2.0}, budget=0.25, labels=labels)
    rng = np.random.default_rng(5)
    replay = copy.deepcopy(rng)
    selection = sampler.select(logits_context(logits, labels, rng))

    # The same draws by hand: a pool of B = 2 · 10 = 20, p ∝ score, 10 draws with replacement.
    pool = draw_pool(replay, 40, 20)
    scores = expected_scores(logits, labels, score)[pool]
    probabilities = scores / scores.sum()
    draws = replay.choice(20, size=10, replace=True, p=probabilities)
    assert np.array_equal(selection.indices, pool[draws])
    np.testing.assert_allclose(selection.weights, 1.0 / (20 * probabilities[draws]), rtol=1e-5)
    assert selection.weights.dtype == np.float32


def test_importance_weights_make_the_weighted_round_loss_unbiased_for_the_full_data_mean():
    logits, labels = graded_logits(20)
    losses = expected_scores(logits, labels, "loss")
    # pool_factor 2 at r = 0.5 makes the pool the whole training set, so the target is the full-data mean.
    sampler = make_sampler("loss_importance", {"pool_factor": 2.0}, budget=0.5, labels=labels)
    rng = np.random.default_rng(0)
    rounds = [sampler.select(logits_context(logits, labels, rng)) for _ in range(400)]
    weighted = np.concatenate([selection.weights * losses[selection.indices] for selection in rounds])

    # The mean of w·loss over 4,000 draws is within 4 standard errors (estimated from the draws) of the target.
    standard_error = weighted.std(ddof=1) / math.sqrt(len(weighted))
    assert abs(weighted.mean() - losses.mean()) < 4 * standard_error
    # Unweighted, the same draws overshoot: they favour high-loss examples by design.
    drawn = np.concatenate([losses[selection.indices] for selection in rounds])
    assert drawn.mean() - losses.mean() > 10 * standard_error


def test_importance_sampling_frequencies_are_proportional_to_the_gradient_bound():
    logits, labels = graded_logits(20)
    bound = expected_scores(logits, labels, "upper_bound")
    sampler = make_sampler("loss_importance", {"pool_factor": 2.0}, budget=0.5, labels=labels)
    rng = np.random.default_rng(1)
    drawn = np.concatenate([sampler.select(logits_context(logits, labels, rng)).indices for _ in range(400)])
    counts = np.bincount(drawn, minlength=20)
    expected = len(drawn) * bound / bound.sum()
    assert stats.chisquare(counts, expected).pvalue > 0.001
    # Uniform sampling is rejected by the same counts.
    assert stats.chisquare(counts).pvalue < 1e-6


def test_smoothing_mixes_in_the_uniform_distribution_so_a_fitted_example_can_still_be_drawn():
    # Example 0 is fitted exactly (its gradient bound is 0 in float32); the others are all equally wrong.
    labels = np.zeros(10, dtype=np.int64)
    logits = np.zeros((10, 2))
    logits[0, 0] = 200.0
    logits[1:, 1] = 1.0
    plain = make_sampler("loss_importance", {"pool_factor": 2.0}, budget=0.5, labels=labels)
    rng = np.random.default_rng(0)
    plain_draws = np.concatenate([plain.select(logits_context(logits, labels, rng)).indices for _ in range(50)])
    assert 0 not in plain_draws

    smoothed = make_sampler("loss_importance", {"pool_factor": 2.0, "smoothing": 0.5}, budget=0.5, labels=labels)
    selections = [smoothed.select(logits_context(logits, labels, rng)) for _ in range(50)]
    weights_of_zero = np.concatenate([s.weights[s.indices == 0] for s in selections])
    # p_0 = (1 − 0.5)·0 + 0.5/10, so its weight is 1/(10 · 0.05) = 2; the others' p = 0.5/9 + 0.05.
    assert len(weights_of_zero) > 0
    np.testing.assert_allclose(weights_of_zero, 2.0, rtol=1e-6)
    others = np.concatenate([s.weights[s.indices != 0] for s in selections])
    np.testing.assert_allclose(others, 1.0 / (10 * (0.5 / 9 + 0.05)), rtol=1e-6)


# ---------------------------------------------------------------------------
# Hard mining
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("pool_factor", "pool"), [(2.0, 48), (100.0, 240)])
def test_hard_mining_keeps_the_highest_losses_of_its_pool_under_the_current_model(pool_factor, pool):
    context = real_context(blobs())
    replay = copy.deepcopy(context.rng)
    sampler = make_sampler("hard_mining", {"pool_factor": pool_factor}, budget=0.1, labels=context.labels)
    selection = sampler.select(context)

    candidates = draw_pool(replay, 240, pool)
    losses = to_numpy(example_losses(context, context.model, candidates))
    hardest = candidates[np.argsort(-losses)[:24]]
    assert len(selection.indices) == 24 == len(np.unique(selection.indices))
    assert set(selection.indices.tolist()) == set(hardest.tolist())
    assert selection.weights is None
    if pool == 240:
        # A pool of the whole set is the global top 24.
        every = to_numpy(example_losses(context, context.model))
        assert set(selection.indices.tolist()) == set(np.argsort(-every)[:24].tolist())


# ---------------------------------------------------------------------------
# UCB and ε-greedy: statistics of the losses seen in training
# ---------------------------------------------------------------------------


class Simulation:
    """Plays the engine for a loss-statistics sampler: each selected example gets a loss, seen next round."""

    def __init__(self, key: str, params: dict, *, budget: float, num_samples: int, seed: int = 0):
        self.labels = np.zeros(num_samples, dtype=np.int64)
        self.sampler = make_sampler(key, params, budget=budget, labels=self.labels)
        self.seen = np.full(num_samples, np.nan)
        self.rng = np.random.default_rng(seed)

    def context(self) -> SelectionContext:
        return bare_context(self.labels, rng=self.rng, losses=self.seen.copy())

    def round(self, losses: np.ndarray | None = None) -> np.ndarray:
        chosen = self.sampler.select(self.context()).indices
        if losses is not None:
            self.seen[chosen] = losses[chosen]
        return chosen

    def state(self, name: str) -> np.ndarray:
        return self.sampler.state_dict()[name].numpy()


def planted(key: str, params: dict, mean, variance, observations, *, seed: int = 0) -> Simulation:
    """A sampler whose every example already has the given loss history."""
    simulation = Simulation(key, params, budget=0.5, num_samples=len(mean), seed=seed)
    simulation.sampler.load_state_dict(
        {
            "mean": torch.tensor(mean, dtype=torch.float64),
            "variance": torch.tensor(variance, dtype=torch.float64),
            "observations": torch.tensor(observations, dtype=torch.int64),
            "last_selection": None,
        }
    )
    return simulation


@pytest.mark.parametrize("key", ["ucb", "epsilon_greedy"])
def test_statistics_follow_the_exponentially_weighted_mean_and_variance(key):
    # r = 1: every example is trained every round, and example 0 sees losses 2, 4, 1.
    simulation = Simulation(key, {"ema_weight": 0.5}, budget=1.0, num_samples=4)
    history = [np.array([2.0, 1.0, 1.0, 1.0]), np.array([4.0, 1.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0, 1.0])]
    means, variances = [], []
    for losses in history:
        simulation.round(losses)
        means.append(simulation.state("mean")[0])
        variances.append(simulation.state("variance")[0])
    simulation.round()
    means.append(simulation.state("mean")[0])
    variances.append(simulation.state("variance")[0])
    # Round 0 has nothing to take in; then mean ← mean + ½δ and variance ← ½(variance + ½δ²).
    assert means == [0.0, 2.0, 3.0, 2.0]
    assert variances == [0.0, 0.0, 1.0, 1.5]
    assert simulation.state("observations").tolist() == [3, 3, 3, 3]


def test_only_the_examples_trained_last_round_take_in_a_new_loss():
    simulation = Simulation("ucb", {}, budget=0.5, num_samples=8)
    losses = np.arange(8, dtype=np.float64)
    first = simulation.round(losses)
    second = simulation.round(losses)
    # Round 1 took in round 0's losses; the examples of round 0 still show a loss, but are not counted again.
    simulation.round()
    observations = simulation.state("observations")
    assert observations[first].tolist() == [1] * 4
    assert observations[second].tolist() == [1] * 4
    assert sorted(np.concatenate([first, second]).tolist()) == list(range(8))


def test_ucb_walks_every_unseen_example_once_before_it_repeats_any():
    simulation = Simulation("ucb", {}, budget=0.25, num_samples=20)
    losses = np.linspace(0.1, 2.0, 20)
    rounds = [simulation.round(losses) for _ in range(4)]
    assert sorted(np.concatenate(rounds).tolist()) == list(range(20))
    # Every example has been seen: the next round is the five highest-loss examples.
    assert set(simulation.round(losses).tolist()) == {15, 16, 17, 18, 19}


@pytest.mark.parametrize(("confidence", "expected"), [(0.0, {0, 1, 2, 3, 4}), (10.0, {5, 6, 7, 8, 9})])
def test_ucb_keeps_the_highest_mean_plus_c_variance(confidence, expected):
    # Examples 0-4 have high, steady losses; 5-9 lower but swinging ones.
    mean = [2.0, 1.9, 1.8, 1.7, 1.6, 1.0, 0.9, 0.8, 0.7, 0.6]
    variance = [0.0] * 5 + [0.5] * 5
    simulation = planted("ucb", {"confidence": confidence}, mean, variance, [3] * 10)
    assert set(simulation.round().tolist()) == expected


def test_the_ucb_bonus_is_c_times_the_variance():
    # Example 0: 1 + 4 = 5 beats example 1: 3.5 + 0.25 = 3.75 (with standard deviations it would lose, 3 < 4).
    simulation = planted("ucb", {"confidence": 1.0}, [1.0, 3.5], [4.0, 0.25], [5, 5])
    assert simulation.round().tolist() == [0]


def test_ucb_explores_an_unseen_example_before_any_scored_one():
    mean = [5.0, 4.0, 3.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    observations = [2, 2, 2, 2, 2, 2, 2, 0, 0, 2]
    simulation = planted("ucb", {}, mean, [0.0] * 10, observations)
    assert set(simulation.round().tolist()) == {7, 8, 0, 1, 2}


def test_epsilon_zero_is_the_top_mean_losses():
    mean = [0.5, 3.0, 0.1, 2.0, 0.2, 4.0, 0.3, 1.0, 0.4, 5.0]
    simulation = planted("epsilon_greedy", {"epsilon": 0.0}, mean, [9.0] * 10, [1] * 10)
    assert set(simulation.round().tolist()) == {9, 5, 1, 3, 7}


def test_epsilon_greedy_explores_its_declared_share_uniformly_outside_the_greedy_top():
    # 40 examples at r = 0.5: 20 a round, ε = 0.25 → 5 random, 15 greedy (examples 25-39 have the top means).
    mean = np.arange(40, dtype=np.float64)
    simulation = planted("epsilon_greedy", {"epsilon": 0.25}, mean, np.zeros(40), np.ones(40, dtype=np.int64))
    greedy = set(range(25, 40))
    explored = []
    for _ in range(300):
        chosen = simulation.round()
        assert len(chosen) == 20 == len(set(chosen.tolist()))
        assert greedy <= set(chosen.tolist())
        explored.extend(sorted(set(chosen.tolist()) - greedy))
    counts = np.bincount(explored, minlength=25)[:25]
    # 1,500 picks over the 25 others: uniform, each about 60 times.
    assert len(explored) == 300 * 5
    assert stats.chisquare(counts).pvalue > 0.001


def test_epsilon_greedy_fills_its_greedy_share_with_unseen_examples_first():
    mean = np.linspace(5.0, 0.0, 20)
    observations = np.ones(20, dtype=np.int64)
    observations[[17, 18, 19]] = 0
    simulation = planted("epsilon_greedy", {"epsilon": 0.2}, mean, np.zeros(20), observations)
    chosen = simulation.round()
    # 10 a round: 2 random, 8 greedy = the 3 unseen, then the 5 highest means.
    assert {17, 18, 19, 0, 1, 2, 3, 4} <= set(chosen.tolist())
    assert len(set(chosen.tolist()) - {17, 18, 19, 0, 1, 2, 3, 4}) == 2


# ---------------------------------------------------------------------------
# End to end through the engine
# ---------------------------------------------------------------------------

ONLINE = [
    ("loss_importance", {}),
    ("loss_importance", {"score": "loss", "smoothing": 0.1}),
    ("hard_mining", {"pool_factor": 2.0}),
    ("ucb", {}),
    ("epsilon_greedy", {"epsilon": 0.3}),
]
POOLED = {"loss_importance": 5.0, "hard_mining": 2.0}


def online_config(key: str, params: dict, *, rounds: int, eval_every: int = 2) -> dict:
    recipe = {"rounds": rounds, "eval_every": eval_every}
    return run_config(model="small_cnn", strategy=key, params=params, budget=0.2, recipe=recipe)


@pytest.mark.parametrize(("key", "params"), ONLINE)
def test_an_online_strategy_runs_on_images_and_is_charged_for_its_forward_passes(key, params, monkeypatch):
    passes = []
    original = Trainer.infer

    def timed_infer(self, model, **kwargs):
        started = time.perf_counter()
        outputs = original(self, model, **kwargs)
        passes.append((len(outputs.logits), time.perf_counter() - started))
        return outputs

    weighted = []
    original_step = Trainer._train_step

    def recorded_step(self, batch, weights):
        weighted.append(weights is not None)
        return original_step(self, batch, weights)

    monkeypatch.setattr(Trainer, "infer", timed_infer)
    monkeypatch.setattr(Trainer, "_train_step", recorded_step)
    dataset = tiny_images(train_size=60, test_size=30)
    result = train_run(online_config(key, params, rounds=3, eval_every=1), dataset)

    round_size = budget_count(0.2, 60)
    assert result.samples_trained == 3 * round_size
    assert result.final_accuracy is not None and np.isfinite(result.metrics[-1]["train_loss"])
    # Only importance sampling weights its losses, and then every batch of every round.
    assert set(weighted) == {key == "loss_importance"}
    if key in POOLED:
        # One forward pass a round, over a pool of pool_factor · r·N candidates.
        assert [size for size, _ in passes] == [round(POOLED[key] * round_size)] * 3
        assert result.selection_seconds >= sum(seconds for _, seconds in passes)
    else:
        assert passes == []


@pytest.mark.parametrize(("key", "params"), [ONLINE[0], ONLINE[2], ONLINE[3], ONLINE[4]])
def test_resuming_an_online_run_from_a_checkpoint_matches_an_uninterrupted_run(key, params, tmp_path):
    dataset = tiny_images(train_size=60, test_size=30)
    config = online_config(key, params, rounds=5)
    assert_resumes_identically(config, dataset, tmp_path / "run.pt")

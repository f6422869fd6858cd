"""Selection rules of the built-in strategies, checked round by round without training."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from tests.engine.strategies.conftest import bare_context, trainer
from tests.engine.training.conftest import blobs
from workers.engine.errors import ConfigError
from workers.engine.strategies import (
    STRATEGIES,
    SelectionContext,
    budget_count,
    class_quotas,
    make_sampler,
)


def context(round_index: int, labels: np.ndarray, rng: np.random.Generator) -> SelectionContext:
    return bare_context(labels, round_index=round_index, rng=rng)


def selections(key: str, labels: np.ndarray, budget: float, rounds: int, params=None, seed: int = 0):
    sampler = make_sampler(key, params or {}, budget=budget, labels=labels)
    rng = np.random.default_rng(seed)
    return sampler, [sampler.select(context(index, labels, rng)).indices for index in range(rounds)]


def test_budget_count_rounds_halves_up_and_never_vanishes():
    assert budget_count(0.5, 5) == 3
    assert budget_count(0.3, 10) == 3
    assert budget_count(0.1, 1000) == 100
    assert budget_count(0.001, 10) == 1


@pytest.mark.parametrize("num_samples, budget", [(100, 0.1), (100, 0.25), (50, 0.2)])
def test_rs2_without_replacement_covers_every_index_once_per_pass(num_samples, budget):
    labels = np.zeros(num_samples, dtype=np.int64)
    rounds_per_pass = math.ceil(1 / budget)
    _, chosen = selections("rs2_without_replacement", labels, budget, 3 * rounds_per_pass)
    for pass_index in range(3):
        window = np.concatenate(chosen[pass_index * rounds_per_pass : (pass_index + 1) * rounds_per_pass])
        assert np.array_equal(np.sort(window), np.arange(num_samples))


@pytest.mark.parametrize("num_samples, budget", [(100, 0.3), (97, 0.45), (10, 0.7)])
def test_rs2_without_replacement_repeats_nothing_across_the_reshuffle(num_samples, budget):
    """Chunks that straddle two passes: the stream is still a chain of permutations."""
    labels = np.zeros(num_samples, dtype=np.int64)
    sampler, chosen = selections("rs2_without_replacement", labels, budget, 12)
    for indices in chosen:
        assert len(indices) == sampler.round_size
        assert len(np.unique(indices)) == len(indices)
    stream = np.concatenate(chosen)
    for start in range(0, len(stream) - num_samples + 1, num_samples):
        assert np.array_equal(np.sort(stream[start : start + num_samples]), np.arange(num_samples))


def test_rs2_without_replacement_reshuffles_between_passes():
    labels = np.zeros(40, dtype=np.int64)
    _, chosen = selections("rs2_without_replacement", labels, 0.5, 4)
    first_pass = np.concatenate(chosen[:2])
    second_pass = np.concatenate(chosen[2:])
    assert not np.array_equal(first_pass, second_pass)


def test_rs2_with_replacement_has_no_duplicates_within_a_round_and_changes_between_rounds():
    labels = np.arange(200) % 4
    sampler, chosen = selections("rs2_with_replacement", labels, 0.3, 10)
    for indices in chosen:
        assert len(indices) == sampler.round_size == 60
        assert len(np.unique(indices)) == 60
    assert len({tuple(np.sort(indices)) for indices in chosen}) == 10
    # Rounds are independent draws, so some example appears in two rounds before all were seen.
    assert len(np.unique(np.concatenate(chosen[:4]))) < 200


@pytest.mark.parametrize("key", ["rs2_with_replacement", "random_static"])
def test_class_balanced_draws_keep_each_class_share(key):
    labels = np.repeat(np.arange(3), [100, 50, 10])
    sampler, chosen = selections(key, labels, 0.2, 3, params={"class_balanced": True})
    for indices in chosen:
        assert len(indices) == sampler.round_size == 32
        counts = np.bincount(labels[indices], minlength=3)
        assert counts.tolist() == [20, 10, 2]


def test_class_quotas_sum_to_the_round_size():
    labels = np.repeat(np.arange(3), [7, 7, 7])
    quotas = class_quotas(labels, 10)
    assert sum(quotas.values()) == 10
    assert sorted(quotas.values()) == [3, 3, 4]


def test_random_static_reuses_one_subset():
    labels = np.arange(100) % 2
    _, chosen = selections("random_static", labels, 0.1, 5)
    assert len(chosen[0]) == 10
    for indices in chosen[1:]:
        assert np.array_equal(indices, chosen[0])


def test_full_ignores_the_budget_and_full_short_trains_fewer_rounds():
    labels = np.zeros(30, dtype=np.int64)
    full = make_sampler("full", {}, budget=0.1, labels=labels)
    assert full.round_size == 30
    assert full.planned_rounds(50) == 50
    short = make_sampler("full_short", {}, budget=0.1, labels=labels)
    assert short.round_size == 30
    assert short.planned_rounds(50) == 5
    assert short.planned_rounds(7) == 1


def trained_context(round_index: int, run, rng: np.random.Generator, *, proxies: bool = True) -> SelectionContext:
    """The context a real run gives its sampler; without ``proxies``, training one fails the test."""

    def no_proxy(**_):
        raise AssertionError("a restored sampler trained a proxy again")

    context = run.selection_context(round_index, rng)
    return context if proxies else dataclasses.replace(context, train_proxy=no_proxy)


@pytest.mark.parametrize("key", sorted(STRATEGIES))
def test_sampler_state_round_trips_mid_run(key):
    """A sampler restored from its state continues exactly as the original, without selecting again."""
    run = trainer(blobs(train_size=90, num_classes=3), recipe={"rounds": 1})
    labels = run.data.labels
    declared = {param.name for param in STRATEGIES[key].params}
    params = {"class_balanced": True} if "class_balanced" in declared else {}
    if "proxy_rounds" in declared:
        params["proxy_rounds"] = 1
    original = make_sampler(key, params, budget=0.4, labels=labels)
    rng = np.random.default_rng(3)
    for index in range(2):
        original.select(trained_context(index, run, rng))
    restored = make_sampler(key, params, budget=0.4, labels=labels)
    restored.load_state_dict(original.state_dict())
    rng_copy = np.random.default_rng()
    rng_copy.bit_generator.state = rng.bit_generator.state
    for index in range(2, 6):
        expected = original.select(trained_context(index, run, rng))
        again = restored.select(trained_context(index, run, rng_copy, proxies=False))
        assert np.array_equal(again.indices, expected.indices)
        assert (again.weights is None) == (expected.weights is None)
        if expected.weights is not None:
            assert np.array_equal(again.weights, expected.weights)


def test_unknown_strategy_parameter_is_rejected_by_name():
    with pytest.raises(ConfigError) as error:
        make_sampler("rs2_without_replacement", {"class_balanced": True}, budget=0.1, labels=np.zeros(10))
    assert error.value.field == "params.class_balanced"

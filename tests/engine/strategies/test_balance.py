"""Class-temperature sampling: class shares, the cooldown schedule, upweighting, and whole runs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.strategies.conftest import bare_context
from tests.engine.training.conftest import assert_resumes_identically, blobs, run_config
from workers.engine.arrays import ArrayDataset
from workers.engine.strategies import SelectionContext, class_quotas, make_sampler

# Class sizes whose square roots are whole: at T = 2 the shares are 20 : 10 : 5, i.e. 4/7, 2/7, 1/7.
SIZES = [400, 100, 25]
LABELS = np.repeat(np.arange(3), SIZES)


def context(round_index: int, rounds: int, labels: np.ndarray = LABELS, seed: int = 0) -> SelectionContext:
    return bare_context(labels, round_index=round_index, rounds=rounds, seed=seed)


def constant(temperature: float, **params) -> dict:
    return {"temperature_start": temperature, "temperature_end": temperature, **params}


def class_counts(indices: np.ndarray, labels: np.ndarray = LABELS) -> list[int]:
    return np.bincount(labels[indices], minlength=labels.max() + 1).tolist()


def test_class_shares_follow_the_size_to_the_power_one_over_t():
    sampler = make_sampler("class_temperature", constant(2.0), budget=70 / 525, labels=LABELS)
    assert sampler.round_size == 70
    selection = sampler.select(context(0, 10))
    assert class_counts(selection.indices) == [40, 20, 10]
    assert len(np.unique(selection.indices)) == 70
    assert selection.weights is None


def test_t_of_one_keeps_the_natural_shares_and_a_large_t_gives_equal_ones():
    natural = make_sampler("class_temperature", constant(1.0), budget=0.2, labels=LABELS)
    indices = natural.select(context(0, 10)).indices
    assert class_counts(indices) == list(class_quotas(LABELS, 105).values()) == [80, 20, 5]
    equal = make_sampler("class_temperature", constant(1000.0), budget=60 / 525, labels=LABELS)
    assert class_counts(equal.select(context(0, 10)).indices) == [20, 20, 20]


def test_a_quota_beyond_a_class_size_repeats_its_examples_evenly():
    # r·N = 210 at T = 2: quotas 120, 60, 30, and the third class has only 25 examples.
    sampler = make_sampler("class_temperature", constant(2.0), budget=0.4, labels=LABELS)
    indices = sampler.select(context(0, 10)).indices
    assert class_counts(indices) == [120, 60, 30]
    small = indices[LABELS[indices] == 2]
    appearances = np.bincount(small - 500, minlength=25)
    assert sorted(appearances.tolist()) == [1] * 20 + [2] * 5
    large = indices[LABELS[indices] < 2]
    assert len(np.unique(large)) == len(large)


def test_the_cooldown_starts_at_its_start_value_and_reaches_its_end_value_in_the_last_round():
    sampler = make_sampler("class_temperature", {}, budget=0.2, labels=LABELS)
    assert [sampler.temperature(index, 11) for index in (0, 5, 10)] == [5.0, 3.0, 1.0]
    temperatures = [sampler.temperature(index, 11) for index in range(11)]
    assert all(later < earlier for earlier, later in zip(temperatures, temperatures[1:], strict=False))
    # The first round draws at T = 5: 400^0.2 : 100^0.2 : 25^0.2 = 3.31 : 2.51 : 1.90 of 105 is
    # 45.02, 34.12, 25.86, so 45, 34, 25 and the one left over to the largest remainder. The last at T = 1.
    assert class_counts(sampler.select(context(0, 11)).indices) == [45, 34, 26]
    assert class_counts(sampler.select(context(10, 11)).indices) == [80, 20, 5]


def test_a_shorter_cooldown_holds_the_end_value_for_the_rest_of_the_run():
    sampler = make_sampler("class_temperature", {"cooldown_fraction": 0.5}, budget=0.2, labels=LABELS)
    assert [sampler.temperature(index, 11) for index in (0, 2, 5, 8, 10)] == pytest.approx([5.0, 3.4, 1.0, 1.0, 1.0])
    one_round = make_sampler("class_temperature", {}, budget=0.2, labels=LABELS)
    assert one_round.temperature(0, 1) == 1.0


def test_upweighting_draws_uniformly_and_weights_each_class_by_its_tempered_over_natural_share():
    sampler = make_sampler("class_temperature", constant(2.0, mode="upweight"), budget=0.2, labels=LABELS)
    selection = sampler.select(context(0, 10))
    assert len(selection.indices) == 105 and len(np.unique(selection.indices)) == 105
    # p = 4/7, 2/7, 1/7 against natural shares 400/525, 100/525, 25/525.
    expected = {0: 4 / 7 * 525 / 400, 1: 2 / 7 * 525 / 100, 2: 1 / 7 * 525 / 25}
    for label, weight in expected.items():
        np.testing.assert_allclose(selection.weights[LABELS[selection.indices] == label], weight, rtol=1e-6)
    natural = make_sampler("class_temperature", constant(1.0, mode="upweight"), budget=0.2, labels=LABELS)
    np.testing.assert_allclose(natural.select(context(0, 10)).weights, 1.0, rtol=1e-6)


def long_tailed_blobs() -> ArrayDataset:
    """Blobs with 96, 48, 24 and 12 training examples in their four classes."""
    dataset = blobs(train_size=384)
    keep = np.concatenate(
        [np.flatnonzero(dataset.y_train == label)[:size] for label, size in enumerate([96, 48, 24, 12])]
    )
    return ArrayDataset(
        dataset.x_train[keep], dataset.y_train[keep], dataset.x_test, dataset.y_test, dataset.class_names, dataset.kind
    )


@pytest.mark.parametrize("mode", ["upsample", "upweight"])
def test_a_run_resumed_from_a_checkpoint_matches_an_uninterrupted_one(tmp_path, mode):
    dataset = long_tailed_blobs()
    config = run_config(
        strategy="class_temperature", params={"mode": mode}, budget=0.25, recipe={"rounds": 6, "eval_every": 2}
    )
    uninterrupted, _, _ = assert_resumes_identically(config, dataset, tmp_path / "run.pt")
    assert uninterrupted.samples_trained == 6 * 45

"""The training loop: budget semantics, determinism, time accounting, per-sample losses."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from tests.engine.training.conftest import (
    StopAfterRounds,
    assert_resumes_identically,
    blobs,
    run_config,
    tiny_images,
    tiny_sequences,
    untimed,
)
from workers.engine.errors import ConfigError
from workers.engine.strategies import (
    DYNAMIC,
    STRATEGIES,
    Sampler,
    Selection,
    Strategy,
)
from workers.engine.strategies.controls import RS2WithoutReplacementSampler
from workers.engine.training import Callbacks, DeviceData, Trainer, check_run_config, train_run


class StepRecorder:
    """Counts real optimizer steps and the learning rate each one used."""

    def __init__(self):
        self.rates: list[float] = []

    def __enter__(self):
        self.handle = register_optimizer_step_post_hook(self._record)
        return self

    def __exit__(self, *exc):
        self.handle.remove()

    def _record(self, optimizer, args, kwargs):
        self.rates.append(optimizer.param_groups[0]["lr"])


def test_a_budget_run_takes_ceil_rn_over_b_steps_per_round_and_ends_the_schedule(features_dataset):
    # 240 examples at r = 0.3: 72 per round, batch size 32 → 3 steps, every example trained on.
    config = run_config(recipe={"rounds": 6, "batch_size": 32, "schedule": "cosine"})
    with StepRecorder() as steps:
        result = train_run(config, features_dataset)
    assert len(steps.rates) == math.ceil(72 / 32) * 6 == 18
    assert result.optimizer_steps == 18
    assert result.samples_trained == 72 * 6
    assert result.metrics[-1]["samples_seen"] == 432
    assert result.metrics[-1]["data_fraction"] == pytest.approx(0.3)
    assert steps.rates[0] == pytest.approx(0.05)
    assert all(later < earlier for earlier, later in zip(steps.rates, steps.rates[1:], strict=False))
    assert 0 < steps.rates[-1] < 0.01
    # After the last step the optimizer holds the schedule's final value.
    assert result.metrics[-1]["lr"] == pytest.approx(0.0, abs=1e-12)


class AlternatingSizeSampler(Sampler):
    """Rounds of 24 and 120 examples around an expected 72: a strategy whose round size varies."""

    fixed_size = False

    def select(self, context):
        return Selection(np.arange(24 if context.round_index % 2 == 0 else 120))


def test_rounds_of_varying_size_each_cover_their_stretch_of_the_schedule(monkeypatch, features_dataset):
    strategy = Strategy("alternating", DYNAMIC, "Alternating", "Test.", sampler=AlternatingSizeSampler)
    monkeypatch.setitem(STRATEGIES, "alternating", strategy)
    config = run_config(strategy="alternating", recipe={"rounds": 4, "batch_size": 24, "schedule": "onecycle"})
    with StepRecorder() as steps:
        result = train_run(config, features_dataset)
    # 1 + 5 + 1 + 5 steps; the schedule was laid over 3 steps a round, 12 in all.
    assert result.optimizer_steps == len(steps.rates) == 12
    assert result.samples_trained == 24 + 120 + 24 + 120
    assert result.metrics[-1]["data_fraction"] == pytest.approx(288 / (240 * 4))
    # Each round starts where a fixed-size run's would (one-cycle falls linearly: lr(step) = 0.05 · (1 − step / 12)).
    starts = [0, 1, 6, 7]
    assert [steps.rates[index] for index in starts] == pytest.approx([0.05 * (1 - 3 * k / 12) for k in range(4)])
    # Within the five-step round 2 the rate falls by 3/5 of a step's decrement per step.
    assert steps.rates[2] == pytest.approx(0.05 * (1 - (3 + 0.6) / 12))
    assert result.metrics[-1]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_a_fixed_size_strategy_must_keep_its_round_size(monkeypatch, features_dataset):
    class Wrong(AlternatingSizeSampler):
        fixed_size = True

    monkeypatch.setitem(STRATEGIES, "wrong", Strategy("wrong", DYNAMIC, "Wrong", "Test.", sampler=Wrong))
    with pytest.raises(RuntimeError, match="round size is 72"):
        train_run(run_config(strategy="wrong", recipe={"rounds": 2}), features_dataset)


@pytest.mark.parametrize(
    "round_size, batch_size, expected", [(72, 32, [24, 24, 24]), (70, 32, [24, 23, 23]), (64, 32, [32, 32])]
)
def test_a_round_is_cut_into_near_equal_batches_rather_than_ending_in_a_small_one(
    monkeypatch, round_size, batch_size, expected
):
    sizes = []
    original = Trainer._train_step

    def record(self, batch, weights):
        sizes.append(len(batch))
        return original(self, batch, weights)

    monkeypatch.setattr(Trainer, "_train_step", record)
    config = run_config(strategy="full", recipe={"rounds": 2, "batch_size": batch_size})
    train_run(config, blobs(train_size=round_size))
    assert sizes == expected * 2


def test_full_short_trains_budget_times_rounds_rounds_on_its_own_schedule(features_dataset):
    config = run_config(strategy="full_short", budget=0.5, recipe={"rounds": 6, "batch_size": 32, "eval_every": 1})
    with StepRecorder() as steps:
        result = train_run(config, features_dataset)
    assert result.rounds_completed == result.rounds_planned == 3
    assert [metric["epoch"] for metric in result.metrics] == [1, 2, 3]
    assert len(steps.rates) == math.ceil(240 / 32) * 3
    assert result.samples_trained == 240 * 3
    assert result.metrics[-1]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_full_ignores_the_budget(features_dataset):
    result = train_run(run_config(strategy="full", budget=0.1, recipe={"rounds": 2}), features_dataset)
    assert result.samples_trained == 240 * 2
    assert result.metrics[-1]["data_fraction"] == 1.0


def test_evaluation_happens_every_k_rounds_and_after_the_last(features_dataset):
    result = train_run(run_config(recipe={"rounds": 7, "eval_every": 3}), features_dataset)
    assert [metric["epoch"] for metric in result.metrics] == [3, 6, 7]


def test_training_learns_the_task(features_dataset):
    result = train_run(run_config(strategy="full", recipe={"rounds": 4}), features_dataset)
    assert result.final_accuracy > 0.8
    assert result.best_accuracy >= result.final_accuracy
    assert result.metrics[-1]["train_loss"] < result.metrics[0]["train_loss"]


@pytest.mark.parametrize(
    "model, dataset, recipe",
    [
        ("mlp", blobs(), {}),
        ("small_cnn", tiny_images(), {"augment_flip": True, "augment_translate": 2}),
        ("cnn1d", tiny_sequences(), {"augment_translate": 2}),
    ],
)
def test_same_seed_gives_identical_metrics_and_another_seed_differs(model, dataset, recipe):
    config = run_config(model=model, recipe={"rounds": 4, **recipe})
    first = train_run(config, dataset)
    again = train_run(config, dataset)
    other = train_run({**config, "seed": 1}, dataset)
    assert untimed(first.metrics) == untimed(again.metrics)
    assert untimed(first.metrics) != untimed(other.metrics)


def test_translation_leaves_feature_columns_alone(features_dataset):
    plain = train_run(run_config(), features_dataset)
    shifted = train_run(run_config(recipe={"augment_translate": 3, "augment_flip": True}), features_dataset)
    assert untimed(shifted.metrics) == untimed(plain.metrics)


@pytest.mark.parametrize(
    "strategy, params, model, dataset, recipe",
    [
        ("rs2_without_replacement", {}, "mlp", blobs(), {}),
        ("random_static", {"class_balanced": True}, "mlp", blobs(), {}),
        ("rs2_with_replacement", {}, "small_cnn", tiny_images(), {"augment_flip": True, "augment_translate": 2}),
    ],
)
def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path, strategy, params, model, dataset, recipe):
    config = run_config(
        model=model, strategy=strategy, params=params, budget=0.45, recipe={"rounds": 7, "eval_every": 2, **recipe}
    )
    _, stopped, resumed = assert_resumes_identically(config, dataset, tmp_path / "run.pt")
    # Time spent before the interruption stays on the books.
    assert resumed.training_seconds > stopped.training_seconds


def test_a_stop_part_way_through_a_round_resumes_from_the_last_round_boundary(tmp_path, features_dataset):
    config = run_config(recipe={"rounds": 5, "eval_every": 1})
    uninterrupted = train_run(config, features_dataset)
    checkpoint = tmp_path / "run.pt"
    steps_taken = []

    class StopMidRound(Callbacks):
        def should_stop(self) -> bool:
            # 3 steps per round: stop on the 2nd step of round 3.
            return len(steps_taken) >= 7

    with register_optimizer_step_post_hook(lambda *args: steps_taken.append(1)):
        stopped = train_run(config, features_dataset, callbacks=StopMidRound(), checkpoint_path=checkpoint)
    assert stopped.canceled and stopped.rounds_completed == 2
    resumed = train_run(config, features_dataset, checkpoint_path=checkpoint)
    assert resumed.resumed_from_round == 2
    assert untimed(resumed.metrics) == untimed(uninterrupted.metrics)


def test_calling_again_after_completion_returns_the_checkpointed_result(tmp_path, features_dataset):
    config = run_config()
    checkpoint = tmp_path / "run.pt"
    first = train_run(config, features_dataset, checkpoint_path=checkpoint)
    with StepRecorder() as steps:
        again = train_run(config, features_dataset, checkpoint_path=checkpoint)
    assert steps.rates == []
    assert again.metrics == first.metrics
    assert again.resumed_from_round == first.rounds_completed


def test_a_checkpoint_of_another_run_is_refused(tmp_path, features_dataset):
    checkpoint = tmp_path / "run.pt"
    train_run(run_config(), features_dataset, checkpoint_path=checkpoint)
    with pytest.raises(ConfigError) as error:
        train_run(run_config(seed=5), features_dataset, checkpoint_path=checkpoint)
    assert error.value.field == "checkpoint"


def test_cancellation_stops_within_a_step(features_dataset):
    steps_taken = []

    class StopAtStepFive(Callbacks):
        def should_stop(self) -> bool:
            return len(steps_taken) >= 5

    config = run_config(recipe={"rounds": 6, "eval_every": 1})
    with register_optimizer_step_post_hook(lambda *args: steps_taken.append(1)):
        result = train_run(config, features_dataset, callbacks=StopAtStepFive())
    assert len(steps_taken) == 5
    assert result.canceled
    assert result.rounds_completed == 1
    assert [metric["epoch"] for metric in result.metrics] == [1]
    assert result.final_accuracy is None
    assert result.best_accuracy == result.metrics[0]["test_accuracy"]


def test_time_accounting_keeps_selection_training_and_evaluation_apart(monkeypatch, features_dataset):
    slow_selection, slow_evaluation = 0.03, 0.05
    original_select = RS2WithoutReplacementSampler.select
    original_evaluate = Trainer.evaluate

    def select(self, context):
        time.sleep(slow_selection)
        return original_select(self, context)

    def evaluate(self):
        time.sleep(slow_evaluation)
        return original_evaluate(self)

    monkeypatch.setattr(RS2WithoutReplacementSampler, "select", select)
    monkeypatch.setattr(Trainer, "evaluate", evaluate)
    evaluations = []

    class Record(Callbacks):
        def on_evaluation(self, metric):
            evaluations.append(metric)

    result = train_run(run_config(recipe={"rounds": 6, "eval_every": 2}), features_dataset, callbacks=Record())
    assert evaluations == result.metrics
    assert result.selection_seconds >= 6 * slow_selection
    assert result.evaluation_seconds >= 3 * slow_evaluation
    last = result.metrics[-1]
    assert last["wall_clock_seconds"] == pytest.approx(result.selection_seconds + result.training_seconds)
    assert last["evaluation_seconds"] == pytest.approx(result.evaluation_seconds)
    clocks = [metric["wall_clock_seconds"] for metric in result.metrics]
    assert clocks == sorted(clocks)
    # Evaluation time never leaks into the curve's clock: between two evaluations it grows
    # by the two rounds' selection and training, not by the sleeping evaluation.
    assert clocks[1] - clocks[0] < slow_evaluation + 2 * slow_selection + result.training_seconds


def test_time_to_target_is_the_clock_at_the_first_evaluation_reaching_it(features_dataset):
    config = run_config(strategy="full", recipe={"rounds": 6, "eval_every": 1, "target_accuracy": 0.5})
    result = train_run(config, features_dataset)
    reached = [m for m in result.metrics if m["test_accuracy"] >= 0.5]
    assert reached, "the blobs task is easy enough to pass 50 %"
    assert result.time_to_target_seconds == reached[0]["wall_clock_seconds"]


def test_time_to_target_is_none_when_never_reached():
    dataset = blobs()
    dataset.y_test = np.random.default_rng(0).integers(0, 4, size=len(dataset.y_test))
    config = run_config(recipe={"rounds": 2, "target_accuracy": 0.99})
    result = train_run(config, dataset)
    assert result.time_to_target_seconds is None
    assert result.final_accuracy < 0.99


class RecordingSampler(Sampler):
    """Draws a fixed half of the data, with chosen weights, and remembers what it was shown."""

    seen: list[np.ndarray] = []
    weight = 1.0

    def select(self, context):
        RecordingSampler.seen.append(context.losses.copy())
        indices = np.arange(0, self.num_samples, 2)[: self.round_size]
        return Selection(indices, np.full(len(indices), RecordingSampler.weight))


@pytest.fixture
def recording_strategy(monkeypatch):
    RecordingSampler.seen = []
    strategy = Strategy("recording", DYNAMIC, "Recording", "Test strategy.", sampler=f"{__name__}:RecordingSampler")
    monkeypatch.setitem(STRATEGIES, "recording", strategy)
    return strategy


def test_per_sample_losses_are_recorded_and_offered_to_the_next_selection(recording_strategy, features_dataset):
    train_run(run_config(strategy="recording", budget=0.5, recipe={"rounds": 3}), features_dataset)
    first, second, _ = RecordingSampler.seen
    assert np.isnan(first).all()
    trained = np.zeros(240, dtype=bool)
    trained[np.arange(0, 240, 2)] = True
    assert np.isfinite(second[trained]).all() and (second[trained] > 0).all()
    assert np.isnan(second[~trained]).all()


def test_weights_multiply_the_per_sample_loss(recording_strategy, monkeypatch, features_dataset):
    monkeypatch.setattr(RecordingSampler, "weight", 0.0)
    config = check_run_config(
        run_config(strategy="recording", budget=0.5, recipe={"rounds": 2, "weight_decay": 0.0, "eval_every": 1})
    )
    trainer = Trainer(
        config, DeviceData(features_dataset, torch.device("cpu"), channels_last=False), callbacks=Callbacks()
    )
    before = [parameter.detach().clone() for parameter in trainer.model.parameters()]
    result = trainer.fit()
    assert result.optimizer_steps > 0
    for initial, parameter in zip(before, trainer.model.parameters(), strict=True):
        assert torch.equal(initial, parameter)
    # The unweighted losses are still recorded for later selections.
    assert result.metrics[0]["train_loss"] > 0


def test_a_strategy_can_train_a_proxy_and_its_time_counts_as_selection(monkeypatch, features_dataset):
    proxies = []

    class ProxySampler(Sampler):
        def select(self, context):
            if context.round_index == 0:
                proxies.append(context.train_proxy(rounds=3))
            hardest = np.argsort(-proxies[0].losses, kind="stable")
            return Selection(hardest[: self.round_size])

    monkeypatch.setitem(STRATEGIES, "proxy", Strategy("proxy", "static", "Proxy", "Test.", sampler=ProxySampler))
    result = train_run(run_config(strategy="proxy", budget=0.25, recipe={"rounds": 2}), features_dataset)
    (proxy,) = proxies
    assert proxy.result.samples_trained == 3 * 240
    assert np.isfinite(proxy.losses).all()
    assert result.selection_seconds >= proxy.result.training_seconds
    assert result.samples_trained == 2 * 60


def test_the_partial_last_batch_is_kept_even_when_it_holds_one_example():
    dataset = tiny_images(train_size=33)
    config = run_config(model="small_cnn", strategy="full", recipe={"rounds": 1, "batch_size": 16})
    result = train_run(config, dataset)
    assert result.optimizer_steps == 3
    assert result.samples_trained == 33


@pytest.mark.parametrize(
    "override, field",
    [
        ({"budget": 0}, "budget"),
        ({"budget": 1.5}, "budget"),
        ({"seed": -1}, "seed"),
        ({"strategy": "nope"}, "strategy"),
        ({"model": "nope"}, "model"),
        ({"params": {"class_balanced": True}}, "params.class_balanced"),
        ({"recipe": {"batch_size": 0}}, "recipe.batch_size"),
        ({"epochs": 3}, "epochs"),
        ({"model": "cnn1d"}, "model"),
    ],
)
def test_bad_configs_name_the_field(features_dataset, override, field):
    config = run_config()
    if "recipe" in override:
        config["recipe"].update(override.pop("recipe"))
    config.update(override)
    with pytest.raises(ConfigError) as error:
        train_run(config, features_dataset)
    assert error.value.field == field


def test_the_backend_config_with_its_dataset_hash_is_accepted(features_dataset):
    config = {**run_config(recipe={"rounds": 1}), "dataset_sha256": "0" * 64}
    assert train_run(config, features_dataset).rounds_completed == 1


def test_training_leaves_the_callers_global_rng_alone(features_dataset):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_run(run_config(recipe={"rounds": 1}), features_dataset)
    assert torch.equal(torch.rand(3), expected)


def test_the_final_models_test_predictions_come_back_compact_and_give_its_accuracy(features_dataset):
    result = train_run(run_config(), features_dataset)

    predictions = result.test_predictions
    assert predictions.dtype == np.uint8 and predictions.shape == features_dataset.y_test.shape
    assert (predictions == features_dataset.y_test).mean() == pytest.approx(result.final_accuracy)
    assert result.to_dict()["test_predictions"] == predictions.tolist()


def test_a_canceled_run_has_no_predictions(features_dataset):
    result = train_run(run_config(recipe={"rounds": 5}), features_dataset, callbacks=StopAfterRounds(2))

    assert result.canceled and result.test_predictions is None


def test_predictions_survive_a_resume_after_the_last_round(tmp_path, features_dataset):
    config = run_config()
    checkpoint = tmp_path / "run.pt"
    first = train_run(config, features_dataset, checkpoint_path=checkpoint)

    again = train_run(config, features_dataset, checkpoint_path=checkpoint)

    assert np.array_equal(again.test_predictions, first.test_predictions)


def test_each_attempt_writes_its_own_file_and_resumes_from_the_one_before(tmp_path, features_dataset):
    config = run_config(recipe={"rounds": 6, "eval_every": 1})
    uninterrupted = train_run(config, features_dataset)
    first_file, second_file = tmp_path / "attempt-1.pt", tmp_path / "attempt-2.pt"
    train_run(config, features_dataset, callbacks=StopAfterRounds(3), checkpoint_path=first_file)
    saved_before = first_file.read_bytes()

    class Record(Callbacks):
        def __init__(self):
            self.started: list = []
            self.checkpoints: list = []

        def on_start(self, resumed_from_round):
            self.started.append(resumed_from_round)

        def on_checkpoint(self, path, next_round):
            self.checkpoints.append((path, next_round))

    record = Record()
    resumed = train_run(config, features_dataset, callbacks=record, checkpoint_path=second_file, resume_from=first_file)

    assert record.started == [3]
    assert record.checkpoints == [(second_file, round_index) for round_index in (4, 5, 6)]
    assert first_file.read_bytes() == saved_before  # the earlier attempt's file is never written again
    assert untimed(resumed.metrics) == untimed(uninterrupted.metrics)

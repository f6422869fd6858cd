"""The training loop: data, model, loop, evaluation, timing.

``train_run(config, dataset)`` trains one run (one policy, budget and seed) and
returns its timings, accuracies and evaluation curve. Budget semantics: the
strategy's sampler fixes how many examples a round trains on, the number of
rounds is the recipe's (``full_short`` shortens it), and the learning-rate
schedule is laid over exactly the steps those rounds take.

Time is kept in three separate accounts: selection (choosing examples,
including any proxy training), training, and evaluation. The curve's
``wall_clock_seconds`` is selection + training; evaluation is excluded.

Each evaluation gives one metric row: ``epoch`` (rounds completed), ``step``
(optimizer steps so far), ``samples_seen`` (examples trained on so far),
``wall_clock_seconds`` (cumulative selection + training), ``evaluation_seconds``
(cumulative evaluation), ``train_loss`` (mean per-example training loss since the
previous evaluation), ``test_accuracy`` (fraction), ``test_loss``, ``lr`` (after
the round's last step) and ``data_fraction`` (examples trained on per round as a
fraction of the training set, averaged over the rounds so far).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workers.engine.arrays import ArrayDataset
from workers.engine.errors import ConfigError
from workers.engine.models import build_model, get_model_spec
from workers.engine.recipe import resolve_recipe
from workers.engine.strategies import (
    FixedSubsetSampler,
    ModelOutputs,
    ProxyRun,
    Sampler,
    SelectionContext,
    get_strategy,
    make_sampler,
    resolve_strategy_params,
)
from workers.engine.timing import LearningRateSchedule, PhaseTimer

CHECKPOINT_FORMAT = 3
CONFIG_KEYS = ("model", "recipe", "strategy", "params", "budget", "seed")
# Keys the backend adds to a run's config that do not change how it trains.
IGNORED_CONFIG_KEYS = ("dataset_sha256",)
# Separates the strategy's RNG stream from the one that shuffles and augments batches.
SELECTION_STREAM = 1


# ---------------------------------------------------------------------------
# Configuration and results
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    model: str
    recipe: dict[str, Any]
    strategy: str
    params: dict[str, Any]
    budget: float
    seed: int

    def fingerprint(self) -> str:
        encoded = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(encoded.encode()).hexdigest()


def check_run_config(config: Mapping[str, Any]) -> RunConfig:
    """Validate a run's config and fill defaults; errors name the field."""
    if not isinstance(config, Mapping):
        raise ConfigError("config", "must be an object")
    for key in config:
        if key not in CONFIG_KEYS and key not in IGNORED_CONFIG_KEYS:
            raise ConfigError(str(key), "is not a known run setting")
    for key in CONFIG_KEYS:
        if key not in config:
            raise ConfigError(key, "is required")
    get_model_spec(config["model"])
    strategy = get_strategy(config["strategy"])
    budget = config["budget"]
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget <= 1:
        raise ConfigError("budget", f"must be a fraction in (0, 1]; got {budget!r}")
    seed = config["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("seed", f"must be a non-negative integer; got {seed!r}")
    return RunConfig(
        model=config["model"],
        recipe=resolve_recipe(config["recipe"]),
        strategy=strategy.key,
        params=resolve_strategy_params(strategy.key, config["params"]),
        budget=float(budget) if strategy.uses_budget else 1.0,
        seed=seed,
    )


@dataclass
class RunResult:
    selection_seconds: float
    training_seconds: float
    evaluation_seconds: float
    final_accuracy: float | None
    best_accuracy: float | None
    time_to_target_seconds: float | None
    samples_trained: int
    metrics: list[dict[str, Any]]
    canceled: bool
    rounds_completed: int
    resumed_from_round: int | None
    rounds_planned: int = 0
    optimizer_steps: int = 0
    # The class predicted for every test example by the final model (None when canceled).
    test_predictions: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The figures as plain JSON-ready values; predictions become a list of class indices."""
        values = asdict(self)
        if self.test_predictions is not None:
            values["test_predictions"] = self.test_predictions.tolist()
        return values


class Callbacks:
    """Hooks a caller may override; the defaults do nothing.

    ``should_stop`` is called before every optimizer step, so it must be cheap
    (read a flag, not a database).
    """

    def on_start(self, resumed_from_round: int | None) -> None:
        """Called once the checkpoint (if any) is loaded, before the first round trains."""

    def on_evaluation(self, metric: dict[str, Any]) -> None:
        """Called with each evaluation's metric row."""

    def on_checkpoint(self, path: Path, next_round: int) -> None:
        """Called after a checkpoint holding every round before ``next_round`` is on disk."""

    def on_round_end(self, round_index: int) -> None:
        """Called after each round's training, e.g. to send a heartbeat."""

    def should_stop(self) -> bool:
        return False


def resolve_device(device: str | torch.device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError("device", f"must be cpu, cuda or auto; got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device", "CUDA was requested but is not available")
    return torch.device(device)


# ---------------------------------------------------------------------------
# Data: the whole dataset on the device, batches gathered and augmented there
# ---------------------------------------------------------------------------


def _channel_statistics(images: Tensor, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of uint8 N×C×H×W images, in chunks to bound memory."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64, device=images.device)
    total_sq = torch.zeros_like(total)
    for start in range(0, len(images), chunk):
        block = images[start : start + chunk].to(torch.float64)
        total += block.sum(dim=(0, 2, 3))
        total_sq += block.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(0).sqrt()
    return mean.float(), std.float().clamp_min(1e-3)


class DeviceData:
    """Training and test arrays as device tensors, normalised with training-set statistics.

    Images stay uint8 on the device (4× less memory) and are normalised per
    channel batch by batch; feature columns and sequences are normalised once.
    """

    def __init__(self, dataset: ArrayDataset, device: torch.device, *, channels_last: bool):
        self.kind = dataset.kind
        self.device = device
        self.channels_last = channels_last and dataset.kind == "image"
        self.num_classes = dataset.num_classes
        self.labels = np.ascontiguousarray(dataset.y_train, dtype=np.int64)
        self.y_train = torch.from_numpy(self.labels).to(device)
        self.y_test = torch.from_numpy(np.ascontiguousarray(dataset.y_test, dtype=np.int64)).to(device)
        if self.kind == "image":
            self.x_train = torch.from_numpy(np.ascontiguousarray(dataset.x_train)).to(device)
            self.x_test = torch.from_numpy(np.ascontiguousarray(dataset.x_test)).to(device)
            mean, std = _channel_statistics(self.x_train)
            # x · scale + shift in one fused kernel after the uint8 → float conversion.
            self.scale = (1 / std).view(1, -1, 1, 1)
            self.shift = (-mean / std).view(1, -1, 1, 1)
        else:
            x_train = torch.from_numpy(np.ascontiguousarray(dataset.x_train, dtype=np.float32)).to(device)
            x_test = torch.from_numpy(np.ascontiguousarray(dataset.x_test, dtype=np.float32)).to(device)
            # Feature columns get their own statistics; a sequence shares one scale.
            dims = 0 if self.kind == "features" else None
            mean = x_train.mean(dim=dims, keepdim=dims is not None)
            std = x_train.std(dim=dims, keepdim=dims is not None).clamp_min(1e-6)
            self.x_train = (x_train - mean) / std
            self.x_test = (x_test - mean) / std

    @property
    def train_size(self) -> int:
        return len(self.y_train)

    def _prepare(self, x: Tensor) -> Tensor:
        if self.kind == "image":
            x = torch.addcmul(self.shift, x.float(), self.scale)
        return x

    def _finish(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def train_batch(self, indices: Tensor, recipe: Mapping[str, Any], generator: torch.Generator) -> Tensor:
        x = self._prepare(self.x_train[indices])
        # Flips apply to images; shifts to images and sequences; feature columns have no geometry.
        if recipe["augment_flip"] and self.kind == "image":
            x = random_flip(x, generator)
        if recipe["augment_translate"] and self.kind in ("image", "sequence"):
            x = random_translate(x, recipe["augment_translate"], generator)
        return self._finish(x)

    def train_inputs(self, indices: Tensor) -> Tensor:
        """Training examples as the model reads them, without augmentation (for scoring)."""
        return self._finish(self._prepare(self.x_train[indices]))

    def test_batches(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        for start in range(0, len(self.y_test), batch_size):
            x = self._finish(self._prepare(self.x_test[start : start + batch_size]))
            yield x, self.y_test[start : start + batch_size]


def random_flip(images: Tensor, generator: torch.Generator) -> Tensor:
    """Mirror a random half of the batch left to right."""
    flip = torch.rand(len(images), generator=generator, device=images.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)


def random_translate(x: Tensor, pad: int, generator: torch.Generator) -> Tensor:
    """Shift every example by its own random offset in [-pad, pad], filling with zeros (the mean).

    Images shift in both directions, sequences along their length. Offsets are
    applied as index gathers, so the whole batch moves in a few tensor ops.
    """
    batch = len(x)
    axes = 2 if x.ndim == 4 else 1
    shifts = torch.randint(0, 2 * pad + 1, (axes, batch), generator=generator, device=x.device)
    if x.ndim == 2:
        length = x.shape[1]
        index = shifts[0, :, None] + torch.arange(length, device=x.device)
        return F.pad(x, (pad, pad)).gather(1, index)
    _, channels, height, width = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = (shifts[0, :, None] + torch.arange(height, device=x.device))[:, None, :, None]
    x = padded.gather(2, rows.expand(batch, channels, height, width + 2 * pad))
    cols = (shifts[1, :, None] + torch.arange(width, device=x.device))[:, None, None, :]
    return x.gather(3, cols.expand(batch, channels, height, width))


def _check_dataset(dataset: ArrayDataset, model_key: str) -> None:
    spec = get_model_spec(model_key)
    if dataset.kind not in spec.inputs:
        accepted = ", ".join(spec.inputs)
        raise ConfigError("model", f"{model_key} takes {accepted} inputs; this dataset holds {dataset.kind} inputs")
    if len(dataset.y_train) == 0 or len(dataset.y_test) == 0:
        raise ConfigError("dataset", "needs at least one training and one test example")
    for name, labels in (("y_train", dataset.y_train), ("y_test", dataset.y_test)):
        if labels.min() < 0 or labels.max() >= dataset.num_classes:
            raise ConfigError(f"dataset.{name}", f"labels must lie in [0, {dataset.num_classes})")


# ---------------------------------------------------------------------------
# Model and optimizer
# ---------------------------------------------------------------------------


def _make_optimizer(model: nn.Module, recipe: Mapping[str, Any], *, fused: bool) -> torch.optim.Optimizer:
    """SGD (optionally Nesterov) or AdamW over all parameters, decayed alike as in the RS2 paper's code.

    ``fused`` (CUDA) updates every parameter in one kernel; small models are
    launch-bound there, so this is worth several per cent of throughput.
    """
    parameters = list(model.parameters())
    options = {"lr": recipe["lr"], "weight_decay": recipe["weight_decay"]}
    if fused:
        options["fused"] = True
    if recipe["optimizer"] == "adamw":
        return torch.optim.AdamW(parameters, **options)
    nesterov = recipe["nesterov"] and recipe["momentum"] > 0
    return torch.optim.SGD(parameters, momentum=recipe["momentum"], nesterov=nesterov, **options)


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------


@dataclass
class _Progress:
    """Everything that advances round by round; saved whole in a checkpoint."""

    next_round: int = 0
    step: int = 0
    samples_trained: int = 0
    selection_seconds: float = 0.0
    training_seconds: float = 0.0
    evaluation_seconds: float = 0.0
    metrics: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """One run over data already on the device."""

    def __init__(
        self,
        run: RunConfig,
        data: DeviceData,
        *,
        callbacks: Callbacks,
        evaluate: bool = True,
        track_forgetting: bool = False,
        sampler: Sampler | None = None,
    ):
        self.run = run
        self.recipe = run.recipe
        self.data = data
        self.device = data.device
        self.callbacks = callbacks
        self.evaluates = evaluate
        self.cuda = self.device.type == "cuda"

        # Model: initialised from the run seed without disturbing the caller's global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(run.seed)
            model = build_model(run.model, input_shape=tuple(data.x_train.shape[1:]), num_classes=data.num_classes)
        model = model.to(self.device)
        if data.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.optimizer = _make_optimizer(model, self.recipe, fused=self.cuda)

        # Budget: the sampler fixes the round size; the schedule spans exactly the steps it implies.
        self.sampler: Sampler = sampler or make_sampler(run.strategy, run.params, budget=run.budget, labels=data.labels)
        self.rounds = self.sampler.planned_rounds(self.recipe["rounds"])
        self.steps_per_round = math.ceil(self.sampler.round_size / self.recipe["batch_size"])
        self.schedule = LearningRateSchedule(
            self.recipe["lr"],
            self.steps_per_round * self.rounds,
            self.recipe["schedule"],
            self.recipe["warmup_fraction"],
        )
        self._set_lr(self.schedule.lr(0))

        # Randomness: one device generator for batch order and augmentation, one numpy stream for the strategy.
        self.generator = torch.Generator(device=self.device).manual_seed(run.seed)
        self.selection_rng = np.random.default_rng(np.random.SeedSequence([run.seed, SELECTION_STREAM]))

        self.progress = _Progress()
        self.test_predictions: np.ndarray | None = None
        self.seen_losses = torch.full((data.train_size,), float("nan"), device=self.device)
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.loss_count = 0
        self.timer = PhaseTimer(self.device)
        # Forgetting events (Toneva et al., 2019), kept on the device for proxies that need them.
        self.track_forgetting = track_forgetting
        if track_forgetting:
            self.last_correct = torch.zeros(data.train_size, dtype=torch.bool, device=self.device)
            self.ever_learned = torch.zeros(data.train_size, dtype=torch.bool, device=self.device)
            self.forgetting_counts = torch.zeros(data.train_size, dtype=torch.int64, device=self.device)

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def fit(
        self,
        checkpoint_path: Path | None = None,
        checkpoint_every_seconds: float = 0.0,
        *,
        resume_from: Path | None = None,
    ) -> RunResult:
        resume_from = resume_from or checkpoint_path
        resumed_from_round = self._load_checkpoint(resume_from) if resume_from else None
        self.callbacks.on_start(resumed_from_round)
        if self.progress.next_round < self.rounds:
            self._warm_up()
        last_saved_at = time.monotonic()
        canceled = False
        for round_index in range(self.progress.next_round, self.rounds):
            if self.callbacks.should_stop():
                canceled = True
                break

            self.timer.start()
            order, weights = self._select(round_index)
            self.progress.selection_seconds += self.timer.stop()

            self.timer.start()
            completed = self._train_round(round_index, order, weights)
            self.progress.training_seconds += self.timer.stop()
            if not completed:
                canceled = True
                break
            self.progress.next_round = round_index + 1
            self.callbacks.on_round_end(round_index)

            is_last = round_index + 1 == self.rounds
            if self.evaluates and (is_last or (round_index + 1) % self.recipe["eval_every"] == 0):
                self._evaluate_and_record(round_index, keep_predictions=is_last)
                if checkpoint_path:
                    self._save_checkpoint(checkpoint_path)
                    last_saved_at = time.monotonic()
            elif checkpoint_path and time.monotonic() - last_saved_at >= checkpoint_every_seconds:
                self._save_checkpoint(checkpoint_path)
                last_saved_at = time.monotonic()
        return self._result(canceled, resumed_from_round)

    def _warm_up(self) -> None:
        """Run each batch shape forward and backward once on a throwaway copy, untimed.

        First calls pay one-off costs (kernel selection with cudnn.benchmark,
        allocator growth, lazy initialisation) that belong to no policy; left
        in, they would inflate the first round of short runs most.
        """
        model = copy.deepcopy(self.model)
        generator = torch.Generator(device=self.device).manual_seed(0)
        round_size = self.sampler.round_size
        steps = math.ceil(round_size / self.recipe["batch_size"])
        sizes = {round_size // steps, math.ceil(round_size / steps)}
        for size in sorted(sizes):
            batch = torch.arange(min(size, self.data.train_size), device=self.device)
            with self._autocast():
                logits = model(self.data.train_batch(batch, self.recipe, generator))
            F.cross_entropy(logits.float(), self.data.y_train[batch]).backward()
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def selection_context(self, round_index: int, rng: np.random.Generator | None = None) -> SelectionContext:
        """What this run offers its sampler at the start of round ``round_index``."""
        return SelectionContext(
            round_index=round_index,
            num_samples=self.data.train_size,
            budget=self.run.budget,
            labels=self.data.labels,
            rng=self.selection_rng if rng is None else rng,
            model=self.model,
            device=self.device,
            read_losses=lambda: self.seen_losses.cpu().numpy(),
            train_proxy=self.train_proxy,
            infer=self.infer,
            num_classes=self.data.num_classes,
            train_inputs=self.data.train_inputs,
            rounds=self.rounds,
        )

    def _select(self, round_index: int) -> tuple[np.ndarray, np.ndarray | None]:
        selection = self.sampler.select(self.selection_context(round_index))
        self.model.train()
        indices = np.asarray(selection.indices, dtype=np.int64)
        if self.sampler.fixed_size and len(indices) != self.sampler.round_size:
            raise RuntimeError(
                f"strategy {self.run.strategy} selected {len(indices)} examples for round {round_index}; "
                f"its round size is {self.sampler.round_size}"
            )
        if len(indices) == 0:
            raise RuntimeError(f"strategy {self.run.strategy} selected no examples for round {round_index}")
        if indices.min() < 0 or indices.max() >= self.data.train_size:
            raise RuntimeError(f"strategy {self.run.strategy} selected an index outside the training set")
        weights = None if selection.weights is None else np.asarray(selection.weights, dtype=np.float32)
        return indices, weights

    def _schedule_position(self, round_index: int, steps_done: int, steps: int) -> float:
        """Where on the learning-rate schedule a round's ``steps_done``-th of ``steps`` steps ends.

        The schedule is laid over ``steps_per_round`` steps a round. A strategy whose
        rounds vary in size (InfoBatch, SeTa) spreads each round over the same stretch
        of it, so the schedule still ends with the last round; for a fixed round size
        this is just the step count.
        """
        if steps == self.steps_per_round:
            return round_index * self.steps_per_round + steps_done
        return round_index * self.steps_per_round + steps_done * self.steps_per_round / steps

    def _train_round(self, round_index: int, indices: np.ndarray, weights: np.ndarray | None) -> bool:
        """Train one pass over the round's examples; False if asked to stop part-way."""
        selected = torch.from_numpy(indices).to(self.device, non_blocking=True)
        shuffle = torch.randperm(len(selected), generator=self.generator, device=self.device)
        order = selected[shuffle]
        round_weights = None
        if weights is not None:
            round_weights = torch.from_numpy(weights).to(self.device, non_blocking=True)[shuffle]
        # Every selected example is trained on: dropping the remainder would waste much of a
        # small round's budget. It is not left as one small last batch either (500 = 3 × 128 + 116,
        # 5,000 = 39 × 128 + 8): a tiny batch takes a full-rate step on a noisy gradient and
        # drags the batch-norm running statistics, and at the end of the run it is the last one
        # they see. So the round is cut into ceil(n / batch_size) batches of near-equal size.
        steps = math.ceil(len(order) / self.recipe["batch_size"])
        batches = order.tensor_split(steps)
        batch_weights = round_weights.tensor_split(steps) if round_weights is not None else [None] * steps
        for done, (batch, weights_of_batch) in enumerate(zip(batches, batch_weights, strict=True), start=1):
            if self.callbacks.should_stop():
                return False
            self._train_step(batch, weights_of_batch)
            self._set_lr(self.schedule.lr(self._schedule_position(round_index, done, steps)))
        return True

    def _train_step(self, batch: Tensor, weights: Tensor | None) -> None:
        inputs = self.data.train_batch(batch, self.recipe, self.generator)
        targets = self.data.y_train[batch]
        with self._autocast():
            logits = self.model(inputs)
        per_sample = F.cross_entropy(
            logits.float(), targets, reduction="none", label_smoothing=self.recipe["label_smoothing"]
        )
        loss = (per_sample * weights).mean() if weights is not None else per_sample.mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.progress.step += 1

        # Bookkeeping stays on the device: no host sync inside the loop.
        per_sample = per_sample.detach()
        self.seen_losses[batch] = per_sample
        if self.track_forgetting:
            correct = logits.detach().argmax(dim=1) == targets
            self.forgetting_counts[batch] += (self.last_correct[batch] & ~correct).long()
            self.ever_learned[batch] |= correct
            self.last_correct[batch] = correct
        self.loss_sum += per_sample.sum()
        self.loss_count += len(batch)
        self.progress.samples_trained += len(batch)

    def train_proxy(
        self,
        *,
        rounds: int,
        seed: int | None = None,
        budget: float = 1.0,
        model: str | None = None,
        strategy: str = "full",
        params: Mapping[str, Any] | None = None,
        subset: np.ndarray | None = None,
    ) -> ProxyRun:
        """Train a separate model on this run's data through the same engine (for scoring strategies).

        ``rounds=0`` returns the model as initialised from ``seed`` (the run's
        seed by default), untrained. With ``subset``, the proxy trains on those
        examples only, all of them every round (a held-out split, as RHO-LOSS's
        irreducible-loss model). It is called from inside selection, so its
        time lands in selection seconds.
        """
        recipe = dict(self.recipe, rounds=max(rounds, 1), eval_every=max(rounds, 1))
        config = check_run_config(
            {
                "model": model or self.run.model,
                "recipe": recipe,
                "strategy": strategy,
                "params": dict(params or {}),
                "budget": budget,
                "seed": self.run.seed if seed is None else seed,
            }
        )
        sampler = None if subset is None else FixedSubsetSampler(subset, labels=self.data.labels)
        proxy = Trainer(
            config,
            self.data,
            callbacks=_StopOnly(self.callbacks),
            evaluate=False,
            track_forgetting=True,
            sampler=sampler,
        )
        result = proxy.fit() if rounds > 0 else None
        return ProxyRun(
            model=proxy.model,
            losses=proxy.seen_losses.cpu().numpy(),
            result=result,
            forgetting_counts=proxy.forgetting_counts.cpu().numpy(),
            ever_learned=proxy.ever_learned.cpu().numpy(),
        )

    @torch.no_grad()
    def infer(self, model: nn.Module, batch_size: int | None = None, indices: np.ndarray | None = None) -> ModelOutputs:
        """``model``'s logits and penultimate features on the training examples, in eval mode, unaugmented.

        Every example in order, or those of ``indices`` in their order (a candidate
        pool). No-grad rather than inference mode, so strategies may still take
        gradients through the outputs.
        """
        was_training = model.training
        model.eval()
        batch_size = batch_size or (2048 if self.cuda else 500)
        if indices is None:
            chosen = torch.arange(self.data.train_size, device=self.device)
        else:
            chosen = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=self.device)
        logits, embeddings = [], []
        for batch in chosen.split(batch_size):
            with self._autocast():
                features = model.features(self.data.train_inputs(batch))
            features = features.float()
            embeddings.append(features)
            logits.append(model.classifier(features) * model.logit_scale)
        model.train(was_training)
        return ModelOutputs(
            logits=torch.cat(logits),
            embeddings=torch.cat(embeddings),
            logit_scale=float(model.logit_scale),
            has_bias=model.classifier.bias is not None,
        )

    # -----------------------------------------------------------------------
    # Evaluation
    # -----------------------------------------------------------------------

    @torch.inference_mode()
    def evaluate(self) -> tuple[float, float, Tensor]:
        """Test accuracy (fraction), mean test loss and the predicted classes, with one host sync at the end."""
        self.model.eval()
        predictions = torch.empty(len(self.data.y_test), dtype=torch.int64, device=self.device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        batch_size = 2048 if self.cuda else 500
        start = 0
        for inputs, targets in self.data.test_batches(batch_size):
            with self._autocast():
                logits = self.model(inputs).float()
            loss_sum += F.cross_entropy(logits, targets, reduction="sum")
            predictions[start : start + len(targets)] = logits.argmax(dim=1)
            start += len(targets)
        self.model.train()
        count = len(self.data.y_test)
        correct = (predictions == self.data.y_test).sum()
        return correct.item() / count, loss_sum.item() / count, predictions

    def _evaluate_and_record(self, round_index: int, *, keep_predictions: bool = False) -> None:
        self.timer.start()
        accuracy, test_loss, predictions = self.evaluate()
        if keep_predictions:
            self.test_predictions = compact_predictions(predictions.cpu().numpy(), self.data.num_classes)
        train_loss = self.loss_sum.item() / max(1, self.loss_count)
        self.progress.evaluation_seconds += self.timer.stop()
        self.loss_sum.zero_()
        self.loss_count = 0

        progress = self.progress
        epoch = round_index + 1
        metric = {
            "epoch": epoch,
            "step": progress.step,
            "samples_seen": progress.samples_trained,
            "wall_clock_seconds": progress.selection_seconds + progress.training_seconds,
            "evaluation_seconds": progress.evaluation_seconds,
            "train_loss": train_loss,
            "test_accuracy": accuracy,
            "test_loss": test_loss,
            "lr": self.optimizer.param_groups[0]["lr"],
            "data_fraction": progress.samples_trained / (self.data.train_size * epoch),
        }
        progress.metrics.append(metric)
        self.callbacks.on_evaluation(dict(metric))

    # -----------------------------------------------------------------------
    # Checkpoints: whole state at a round boundary, written atomically
    # -----------------------------------------------------------------------

    def _checkpoint_key(self) -> str:
        shape = [self.data.train_size, *self.data.x_train.shape[1:], len(self.data.y_test)]
        return f"{self.run.fingerprint()}:{shape}"

    def _save_checkpoint(self, path: Path) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "key": self._checkpoint_key(),
            "progress": asdict(self.progress),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "selection_rng": self.selection_rng.bit_generator.state,
            "sampler": self.sampler.state_dict(),
            "seen_losses": self.seen_losses,
            "loss_sum": self.loss_sum,
            "loss_count": self.loss_count,
            "test_predictions": None if self.test_predictions is None else torch.from_numpy(self.test_predictions),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        self.callbacks.on_checkpoint(path, self.progress.next_round)

    def _load_checkpoint(self, path: Path) -> int | None:
        if not path.exists():
            return None
        # Loaded to the CPU: the sampler's state goes to numpy, and load_state_dict
        # moves model and optimizer tensors to their parameters' device itself.
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT or state.get("key") != self._checkpoint_key():
            raise ConfigError("checkpoint", f"{path} belongs to a different run configuration or dataset")
        self.progress = _Progress(**state["progress"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._set_lr(self.schedule.lr(self.progress.next_round * self.steps_per_round))
        self.generator.set_state(state["generator"])
        self.selection_rng.bit_generator.state = state["selection_rng"]
        self.sampler.load_state_dict(state["sampler"])
        self.seen_losses.copy_(state["seen_losses"])
        self.loss_sum.copy_(state["loss_sum"])
        self.loss_count = int(state["loss_count"])
        predictions = state["test_predictions"]
        self.test_predictions = None if predictions is None else predictions.numpy()
        return self.progress.next_round

    # -----------------------------------------------------------------------
    # Result
    # -----------------------------------------------------------------------

    def _result(self, canceled: bool, resumed_from_round: int | None) -> RunResult:
        progress = self.progress
        accuracies = [metric["test_accuracy"] for metric in progress.metrics]
        target = self.recipe["target_accuracy"]
        time_to_target = None
        if target is not None:
            time_to_target = next(
                (m["wall_clock_seconds"] for m in progress.metrics if m["test_accuracy"] >= target),
                None,
            )
        return RunResult(
            selection_seconds=progress.selection_seconds,
            training_seconds=progress.training_seconds,
            evaluation_seconds=progress.evaluation_seconds,
            final_accuracy=accuracies[-1] if accuracies and not canceled else None,
            best_accuracy=max(accuracies) if accuracies else None,
            time_to_target_seconds=time_to_target,
            samples_trained=progress.samples_trained,
            metrics=[dict(metric) for metric in progress.metrics],
            canceled=canceled,
            rounds_completed=progress.next_round,
            resumed_from_round=resumed_from_round,
            rounds_planned=self.rounds,
            optimizer_steps=progress.step,
            test_predictions=None if canceled else self.test_predictions,
        )


def compact_predictions(predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Class indices in the smallest unsigned type that holds them: one byte per example up to 256 classes."""
    dtype = np.uint8 if num_classes <= 256 else np.uint16 if num_classes <= 65536 else np.uint32
    return predictions.astype(dtype)


class _StopOnly(Callbacks):
    """Passes cancellation through to a proxy run, and nothing else."""

    def __init__(self, outer: Callbacks):
        self.outer = outer

    def should_stop(self) -> bool:
        return self.outer.should_stop()


def train_run(
    config: Mapping[str, Any],
    dataset: ArrayDataset,
    *,
    device: str | torch.device = "cpu",
    callbacks: Callbacks | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every_seconds: float = 60.0,
    resume_from: str | os.PathLike | None = None,
) -> RunResult:
    """Train one run and return its result.

    With ``checkpoint_path``, the state is saved at round boundaries (after
    every evaluation, and otherwise at most every ``checkpoint_every_seconds``).
    The run resumes from ``resume_from`` when given, else from an existing
    checkpoint at ``checkpoint_path``; a worker passes both so that each attempt
    writes a file of its own while resuming from the one before. The checkpoint
    is left in place at the end, so calling again after completion returns the
    same result.
    """
    run = check_run_config(config)
    _check_dataset(dataset, run.model)
    device = resolve_device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    # Channels-last convolutions measured faster on CUDA and on this project's CPUs alike
    # (docs/benchmarks.md); bf16 autocast stays CUDA-only.
    data = DeviceData(dataset, device, channels_last=True)
    trainer = Trainer(run, data, callbacks=callbacks or Callbacks())
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    source = Path(resume_from) if resume_from is not None else None
    return trainer.fit(path, checkpoint_every_seconds, resume_from=source)

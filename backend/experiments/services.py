"""Writes for experiments, runs and share links."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from backend.datasets.models import Dataset, DatasetStatus
from backend.errors import ApplicationError
from backend.experiments.execution import ExecutionSpec, Withdrawal, cells_withdraw, executions_attach
from backend.experiments.models import QUEUE_DEVICE_KINDS, Experiment, Queue, Run, ShareLink
from backend.policies.models import SamplingPolicy
from backend.teams.access import Access, check_team_access
from backend.teams.models import Team
from workers.engine.model_specs import get_model_spec
from workers.engine.recipe import resolve_recipe, training_recipe
from workers.engine.strategies import get_strategy, resolve_strategy_params
from workers.engine.version import ENGINE_VERSION

MAX_GRID_RUNS = 5000
MAX_SEED = 2**31 - 1


def canonical_hash(payload: Any) -> str:
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _check_budgets(budgets: Any) -> list[float]:
    if not isinstance(budgets, Sequence) or isinstance(budgets, (str, bytes)):
        raise ApplicationError("Must be a list of fractions in (0, 1].", field="budgets")
    if not budgets:
        raise ApplicationError("Give at least one budget.", field="budgets")
    checked: list[float] = []
    listed: set[float] = set()
    for budget in budgets:
        if isinstance(budget, bool) or not isinstance(budget, (int, float)):
            raise ApplicationError(f"Each budget must be a number; got {budget!r}.", field="budgets")
        if not 0 < budget <= 1:
            raise ApplicationError(f"Each budget must be in (0, 1]; got {budget!r}.", field="budgets")
        if float(budget) in listed:
            raise ApplicationError(f"Budget {budget!r} is listed twice.", field="budgets")
        listed.add(float(budget))
        checked.append(float(budget))
    return checked


def _check_seeds(seeds: Any) -> list[int]:
    if not isinstance(seeds, Sequence) or isinstance(seeds, (str, bytes)):
        raise ApplicationError("Must be a list of integers.", field="seeds")
    if not seeds:
        raise ApplicationError("Give at least one seed.", field="seeds")
    checked: list[int] = []
    listed: set[int] = set()
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ApplicationError(f"Each seed must be an integer; got {seed!r}.", field="seeds")
        if not 0 <= seed <= MAX_SEED:
            raise ApplicationError(f"Each seed must be between 0 and {MAX_SEED}; got {seed}.", field="seeds")
        if seed in listed:
            raise ApplicationError(f"Seed {seed} is listed twice.", field="seeds")
        listed.add(seed)
        checked.append(seed)
    return checked


def _check_policies(team: Team, policies: Sequence[SamplingPolicy]) -> list[SamplingPolicy]:
    if not policies:
        raise ApplicationError("Choose at least one policy.", field="policies")
    seen: set[int] = set()
    # Two policies that resolve to the same strategy and parameters would train the same runs.
    resolved: dict[str, SamplingPolicy] = {}
    for policy in policies:
        if policy.team_id not in (None, team.pk):
            raise ApplicationError(f"Policy {policy.pk} does not exist.", field="policies")
        if policy.pk in seen:
            raise ApplicationError(f"Policy {policy.name!r} is listed twice.", field="policies")
        seen.add(policy.pk)
        identity = canonical_hash([policy.strategy, resolve_strategy_params(policy.strategy, policy.params)])
        if identity in resolved:
            raise ApplicationError(
                f"Policies {resolved[identity].name!r} and {policy.name!r} are the same strategy with the same "
                "parameters; choose one of them.",
                field="policies",
            )
        resolved[identity] = policy
    return list(policies)


def execution_config(
    *, dataset: Dataset, model: str, recipe: dict, policy: SamplingPolicy, budget: float, seed: int
) -> dict[str, Any]:
    """The fully resolved training configuration of one cell (what the engine trains)."""
    strategy = get_strategy(policy.strategy)
    return {
        "dataset_sha256": dataset.sha256,
        "model": model,
        "recipe": training_recipe(recipe),
        "strategy": policy.strategy,
        "params": resolve_strategy_params(policy.strategy, policy.params),
        # A strategy the budget does not apply to runs once, at r = 1.
        "budget": float(budget) if strategy.uses_budget else 1.0,
        "seed": seed,
    }


def execution_spec(*, config: dict[str, Any], queue: str) -> ExecutionSpec:
    """An execution's identity: its configuration plus the provenance that changes results."""
    device_kind = QUEUE_DEVICE_KINDS[queue]
    return ExecutionSpec(
        key_hash=canonical_hash({"config": config, "device_kind": device_kind, "engine_version": ENGINE_VERSION}),
        config=config,
        device_kind=device_kind,
        engine_version=ENGINE_VERSION,
    )


@transaction.atomic
def experiment_create(
    *,
    team: Team,
    user,
    name: str,
    dataset: Dataset,
    model: str,
    recipe: dict | None,
    policies: Sequence[SamplingPolicy],
    budgets: Sequence[float],
    seeds: Sequence[int],
    queue: str = Queue.CPU,
    description: str = "",
) -> Experiment:
    """Create an experiment and expand its policies × budgets × seeds grid into cells.

    Each cell points at the team's execution of its resolved configuration:
    one that exists (queued, running or finished) is shared, not recomputed;
    a stopped one (failed, canceled) is queued again; a missing one is created
    and queued.
    """
    check_team_access(user=user, team=team, access=Access.WRITE)
    name = (name or "").strip()
    if not name:
        raise ApplicationError("An experiment needs a name.", field="name")
    if dataset.team_id != team.pk:
        raise ApplicationError("No such dataset in this team.", field="dataset")
    if dataset.status != DatasetStatus.READY:
        raise ApplicationError(f"Dataset {dataset.name!r} is not ready ({dataset.status}).", field="dataset")
    _check_model(model, dataset)
    resolved_recipe = resolve_recipe(recipe)
    policies = _check_policies(team, policies)
    budgets = _check_budgets(budgets)
    seeds = _check_seeds(seeds)
    if queue not in Queue.values:
        raise ApplicationError(f"Must be one of {', '.join(Queue.values)}.", field="queue")
    if len(policies) * len(budgets) * len(seeds) > MAX_GRID_RUNS:
        raise ApplicationError(f"The grid may hold at most {MAX_GRID_RUNS} runs.", field="seeds")

    experiment = Experiment.objects.create(
        team=team,
        name=name,
        description=description or "",
        dataset=dataset,
        model=model,
        recipe=resolved_recipe,
        recipe_hash=canonical_hash(training_recipe(resolved_recipe)),
        budgets=budgets,
        seeds=seeds,
        queue=queue,
        created_by=user,
    )
    experiment.policies.set(policies)

    cells: dict[str, tuple[SamplingPolicy, float, int]] = {}
    specs: dict[str, ExecutionSpec] = {}
    for policy in policies:
        for budget in budgets:
            for seed in seeds:
                config = execution_config(
                    dataset=dataset, model=model, recipe=resolved_recipe, policy=policy, budget=budget, seed=seed
                )
                spec = execution_spec(config=config, queue=queue)
                # A strategy the budget does not apply to gives one cell per seed.
                if spec.key_hash not in specs:
                    specs[spec.key_hash] = spec
                    cells[spec.key_hash] = (policy, config["budget"], seed)
    attached = executions_attach(team=team, specs=specs.values())
    Run.objects.bulk_create(
        Run(
            experiment=experiment,
            policy=policy,
            budget=budget,
            seed=seed,
            execution=attached.executions[key],
            reused=key in attached.existing,
        )
        for key, (policy, budget, seed) in cells.items()
    )
    return experiment


def _check_model(model: str, dataset: Dataset) -> None:
    spec = get_model_spec(model)
    if dataset.input_kind and dataset.input_kind not in spec.inputs:
        accepted = " or ".join(spec.inputs)
        raise ApplicationError(
            f"{model} reads {accepted} inputs; dataset {dataset.name!r} holds {dataset.input_kind} inputs.",
            field="model",
        )


def run_cancel(*, run: Run, user) -> Run:
    """Withdraw one cell; its execution stops at its next step unless another experiment still needs it."""
    check_team_access(user=user, team=run.experiment.team_id, access=Access.WRITE)
    if not cells_withdraw(Run.objects.filter(pk=run.pk)).cells:
        run = Run.objects.select_related("execution").get(pk=run.pk)
        raise ApplicationError(f"Run is already {run.status}.", field="status", status_code=409)
    return Run.objects.select_related("execution", "policy").get(pk=run.pk)


def experiment_cancel(*, experiment: Experiment, user) -> Withdrawal:
    """Withdraw every unfinished cell of an experiment.

    Executions that other experiments still need keep running for them.
    """
    check_team_access(user=user, team=experiment.team_id, access=Access.WRITE)
    return cells_withdraw(experiment.runs.all())


def share_link_create(*, experiment: Experiment, user) -> ShareLink:
    check_team_access(user=user, team=experiment.team_id, access=Access.MANAGE)
    return ShareLink.objects.create(experiment=experiment, created_by=user)


def share_link_revoke(*, share_link: ShareLink, user) -> ShareLink:
    check_team_access(user=user, team=share_link.experiment.team_id, access=Access.MANAGE)
    if share_link.revoked_at is None:
        share_link.revoked_at = timezone.now()
        share_link.save(update_fields=["revoked_at"])
    return share_link

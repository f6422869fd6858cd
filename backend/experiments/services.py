"""Writes for experiments, runs and share links."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backend.api_errors import ApplicationError
from backend.datasets.models import Dataset, DatasetStatus
from backend.experiments.execution import REUSED_FIELDS, runs_enqueue
from backend.experiments.models import (
    ACTIVE_RUN_STATUSES,
    Experiment,
    Queue,
    Run,
    RunStatus,
    ShareLink,
)
from backend.policies.models import SamplingPolicy
from backend.teams.access import Access, check_team_access
from backend.teams.models import Team
from workers.engine.model_specs import get_model_spec
from workers.engine.recipe import resolve_recipe
from workers.engine.strategies import get_strategy

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
    for budget in budgets:
        if isinstance(budget, bool) or not isinstance(budget, (int, float)):
            raise ApplicationError(f"Each budget must be a number; got {budget!r}.", field="budgets")
        if not 0 < budget <= 1:
            raise ApplicationError(f"Each budget must be in (0, 1]; got {budget!r}.", field="budgets")
        if float(budget) in checked:
            raise ApplicationError(f"Budget {budget!r} is listed twice.", field="budgets")
        checked.append(float(budget))
    return checked


def _check_seeds(seeds: Any) -> list[int]:
    if not isinstance(seeds, Sequence) or isinstance(seeds, (str, bytes)):
        raise ApplicationError("Must be a list of integers.", field="seeds")
    if not seeds:
        raise ApplicationError("Give at least one seed.", field="seeds")
    checked: list[int] = []
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ApplicationError(f"Each seed must be an integer; got {seed!r}.", field="seeds")
        if not 0 <= seed <= MAX_SEED:
            raise ApplicationError(f"Each seed must be between 0 and {MAX_SEED}; got {seed}.", field="seeds")
        if seed in checked:
            raise ApplicationError(f"Seed {seed} is listed twice.", field="seeds")
        checked.append(seed)
    return checked


def _check_policies(team: Team, policies: Sequence[SamplingPolicy]) -> list[SamplingPolicy]:
    if not policies:
        raise ApplicationError("Choose at least one policy.", field="policies")
    seen: set[int] = set()
    for policy in policies:
        if policy.team_id not in (None, team.pk):
            raise ApplicationError(f"Policy {policy.pk} does not exist.", field="policies")
        if policy.pk in seen:
            raise ApplicationError(f"Policy {policy.name!r} is listed twice.", field="policies")
        seen.add(policy.pk)
    return list(policies)


def run_config(
    *, dataset: Dataset, model: str, recipe: dict, policy: SamplingPolicy, budget: float, seed: int
) -> dict[str, Any]:
    """The fully resolved configuration that identifies a run."""
    strategy = get_strategy(policy.strategy)
    return {
        "dataset_sha256": dataset.sha256,
        "model": model,
        "recipe": recipe,
        "strategy": policy.strategy,
        "params": policy.params,
        # A strategy the budget does not apply to runs once, at r = 1.
        "budget": float(budget) if strategy.uses_budget else 1.0,
        "seed": seed,
    }


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
    """Create an experiment and expand its policies × budgets × seeds grid into runs.

    A grid cell whose resolved config already ran (or is queued or running) in
    this team reuses that run's results instead of computing them again.
    """
    check_team_access(user=user, team=team, access=Access.WRITE)
    name = (name or "").strip()
    if not name:
        raise ApplicationError("An experiment needs a name.", field="name")
    if dataset.team_id != team.pk:
        raise ApplicationError("No such dataset in this team.", field="dataset")
    if dataset.status != DatasetStatus.READY:
        raise ApplicationError(f"Dataset {dataset.name!r} is not ready ({dataset.status}).", field="dataset")
    get_model_spec(model)
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
        recipe_hash=canonical_hash(resolved_recipe),
        budgets=budgets,
        seeds=seeds,
        queue=queue,
        created_by=user,
    )
    experiment.policies.set(policies)

    cells: dict[str, Run] = {}
    for policy in policies:
        for budget in budgets:
            for seed in seeds:
                config = run_config(
                    dataset=dataset, model=model, recipe=resolved_recipe, policy=policy, budget=budget, seed=seed
                )
                config_hash = canonical_hash(config)
                if config_hash in cells:
                    continue
                cells[config_hash] = Run(
                    experiment=experiment,
                    policy=policy,
                    budget=config["budget"],
                    seed=seed,
                    config=config,
                    config_hash=config_hash,
                    queue=queue,
                )
    _attach_reusable_results(team, cells)
    runs = Run.objects.bulk_create(cells.values())
    runs_enqueue(runs)
    return experiment


def _attach_reusable_results(team: Team, cells: dict[str, Run]) -> None:
    originals = (
        Run.objects.filter(
            experiment__team=team,
            config_hash__in=list(cells),
            reused_from__isnull=True,
        )
        .filter(Q(status__in=ACTIVE_RUN_STATUSES) | Q(status=RunStatus.SUCCEEDED))
        .order_by("config_hash", "queued_at", "id")
        .distinct("config_hash")
    )
    for original in originals:
        run = cells[original.config_hash]
        run.reused_from = original
        for field in REUSED_FIELDS:
            setattr(run, field, getattr(original, field))


def run_cancel(*, run: Run, user) -> Run:
    """Cancel a queued or running run; a running run stops at its next step boundary."""
    check_team_access(user=user, team=run.experiment.team_id, access=Access.WRITE)
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run.pk)
        if run.status not in ACTIVE_RUN_STATUSES:
            raise ApplicationError(f"Run is already {run.status}.", field="status", status_code=409)
        run.status = RunStatus.CANCELED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
    return run


def experiment_cancel(*, experiment: Experiment, user) -> int:
    """Cancel every queued or running run of an experiment; returns how many."""
    check_team_access(user=user, team=experiment.team_id, access=Access.WRITE)
    return experiment.runs.filter(status__in=ACTIVE_RUN_STATUSES).update(
        status=RunStatus.CANCELED, finished_at=timezone.now()
    )


def share_link_create(*, experiment: Experiment, user) -> ShareLink:
    check_team_access(user=user, team=experiment.team_id, access=Access.MANAGE)
    return ShareLink.objects.create(experiment=experiment, created_by=user)


def share_link_revoke(*, share_link: ShareLink, user) -> ShareLink:
    check_team_access(user=user, team=share_link.experiment.team_id, access=Access.MANAGE)
    if share_link.revoked_at is None:
        share_link.revoked_at = timezone.now()
        share_link.save(update_fields=["revoked_at"])
    return share_link

"""Writes for experiments, runs and share links."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from backend.datasets.models import Dataset, DatasetStatus
from backend.errors import ApplicationError
from backend.experiments.execution import (
    ExecutionSpec,
    Retry,
    Withdrawal,
    cells_retry,
    cells_withdraw,
    execution_checkpoint_dir,
    executions_attach,
)
from backend.experiments.models import QUEUE_DEVICE_KINDS, Execution, Experiment, Queue, Run, ShareLink
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


@dataclass(frozen=True)
class PlannedCell:
    """One cell a grid asks for: its (policy, budget, seed) and the execution that would train it."""

    policy: SamplingPolicy
    budget: float
    seed: int
    spec: ExecutionSpec

    @property
    def key(self) -> tuple[int, float, int]:
        return (self.policy.pk, self.budget, self.seed)


@dataclass(frozen=True)
class Grid:
    """A validated experiment grid, resolved against the engine; ``cells`` are the cells to create."""

    team: Team
    dataset: Dataset
    model: str
    recipe: dict[str, Any]
    policies: list[SamplingPolicy]
    budgets: list[float]
    seeds: list[int]
    queue: str
    cells: list[PlannedCell]


def experiment_grid(
    *,
    team: Team,
    dataset: Dataset,
    model: str,
    recipe: dict | None,
    policies: Sequence[SamplingPolicy],
    budgets: Sequence[float],
    seeds: Sequence[int],
    queue: str = Queue.CPU,
) -> Grid:
    """Validate a grid as creating it would and plan its cells; writes nothing.

    A strategy the budget does not apply to gives one cell per seed.
    """
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
    cells: dict[str, PlannedCell] = {}
    for policy in policies:
        for budget in budgets:
            for seed in seeds:
                config = execution_config(
                    dataset=dataset, model=model, recipe=resolved_recipe, policy=policy, budget=budget, seed=seed
                )
                spec = execution_spec(config=config, queue=queue)
                if spec.key_hash not in cells:
                    cells[spec.key_hash] = PlannedCell(policy=policy, budget=config["budget"], seed=seed, spec=spec)
    return Grid(
        team=team,
        dataset=dataset,
        model=model,
        recipe=resolved_recipe,
        policies=policies,
        budgets=budgets,
        seeds=seeds,
        queue=queue,
        cells=list(cells.values()),
    )


def _cells_create(experiment: Experiment, cells: Sequence[PlannedCell]) -> list[Run]:
    """Create these cells of ``experiment``, each pointing at its execution (shared, requeued or new)."""
    if not cells:
        return []
    attached = executions_attach(team=experiment.team, specs=[cell.spec for cell in cells])
    return Run.objects.bulk_create(
        Run(
            experiment=experiment,
            policy=cell.policy,
            budget=cell.budget,
            seed=cell.seed,
            execution=attached.executions[cell.spec.key_hash],
            reused=cell.spec.key_hash in attached.existing,
        )
        for cell in cells
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
    grid = experiment_grid(
        team=team,
        dataset=dataset,
        model=model,
        recipe=recipe,
        policies=policies,
        budgets=budgets,
        seeds=seeds,
        queue=queue,
    )
    experiment = Experiment.objects.create(
        team=team,
        name=name,
        description=description or "",
        dataset=dataset,
        model=model,
        recipe=grid.recipe,
        recipe_hash=canonical_hash(training_recipe(grid.recipe)),
        budgets=grid.budgets,
        seeds=grid.seeds,
        queue=queue,
        created_by=user,
    )
    experiment.policies.set(grid.policies)
    _cells_create(experiment, grid.cells)
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


@dataclass(frozen=True)
class Extension:
    experiment: Experiment
    # The cells added, and how many of them share an execution that already existed.
    created: int
    reused: int


def experiment_extension_grid(
    *,
    experiment: Experiment,
    policies: Sequence[SamplingPolicy] = (),
    budgets: Sequence[float] = (),
    seeds: Sequence[int] = (),
) -> Grid:
    """The grid of ``experiment`` with these policies, budgets and seeds added; ``cells`` holds only the new cells.

    Validated as creating the whole grid would be; a value the experiment
    already has is refused, naming its field. Writes nothing.
    """
    if not (policies or budgets or seeds):
        raise ApplicationError("Add at least one policy, budget or seed.", field="seeds")
    current_policies = list(experiment.policies.all())
    current_ids = {policy.pk for policy in current_policies}
    for policy in policies:
        if policy.pk in current_ids:
            raise ApplicationError(f"Policy {policy.name!r} is already in this experiment.", field="policies")
    added_budgets = _check_budgets(budgets) if budgets else []
    for budget in added_budgets:
        if budget in experiment.budgets:
            raise ApplicationError(f"Budget {budget:g} is already in this experiment.", field="budgets")
    added_seeds = _check_seeds(seeds) if seeds else []
    for seed in added_seeds:
        if seed in experiment.seeds:
            raise ApplicationError(f"Seed {seed} is already in this experiment.", field="seeds")
    grid = experiment_grid(
        team=experiment.team,
        dataset=experiment.dataset,
        model=experiment.model,
        recipe=experiment.recipe,
        policies=[*current_policies, *policies],
        budgets=[*experiment.budgets, *added_budgets],
        seeds=[*experiment.seeds, *added_seeds],
        queue=experiment.queue,
    )
    existing = {
        (policy_id, budget, seed)
        for policy_id, budget, seed in experiment.runs.values_list("policy_id", "budget", "seed")
    }
    return replace(grid, cells=[cell for cell in grid.cells if cell.key not in existing])


def _locked(experiment: Experiment) -> Experiment:
    """The experiment's row, locked for the rest of the transaction (404 once it is gone)."""
    locked = (
        Experiment.objects.select_for_update(of=("self",)).select_related("team", "dataset").filter(pk=experiment.pk)
    )
    experiment = locked.first()
    if experiment is None:
        raise Http404("No such experiment.")
    return experiment


def experiment_extend(
    *,
    experiment: Experiment,
    user,
    policies: Sequence[SamplingPolicy] = (),
    budgets: Sequence[float] = (),
    seeds: Sequence[int] = (),
) -> Extension:
    """Add policies, budgets or seeds to an experiment: only the cells the grid lacks are created.

    Existing cells and their executions are left as they are; a new cell whose
    configuration the team has already trained (or is training) shares that
    execution, as in ``experiment_create``.
    """
    check_team_access(user=user, team=experiment.team_id, access=Access.WRITE)
    with transaction.atomic():
        # Two extensions at once would plan the same cells; the second waits and plans against the first.
        experiment = _locked(experiment)
        grid = experiment_extension_grid(experiment=experiment, policies=policies, budgets=budgets, seeds=seeds)
        experiment.budgets = grid.budgets
        experiment.seeds = grid.seeds
        experiment.save(update_fields=["budgets", "seeds"])
        experiment.policies.add(*policies)
        cells = _cells_create(experiment, grid.cells)
    return Extension(experiment=experiment, created=len(cells), reused=sum(1 for cell in cells if cell.reused))


def clone_arguments(
    *,
    experiment: Experiment,
    name: str | None = None,
    description: str | None = None,
    dataset: Dataset | None = None,
    model: str | None = None,
    recipe: dict | None = None,
    policies: Sequence[SamplingPolicy] | None = None,
    budgets: Sequence[float] | None = None,
    seeds: Sequence[int] | None = None,
    queue: str | None = None,
) -> dict[str, Any]:
    """``experiment``'s configuration with these changes, as ``experiment_create`` takes it.

    Each argument left None keeps the experiment's value; ``recipe`` changes
    only the fields it names.
    """
    return {
        "team": experiment.team,
        "name": f"{experiment.name} (copy)"[:200] if name is None else name,
        "description": experiment.description if description is None else description,
        "dataset": experiment.dataset if dataset is None else dataset,
        "model": experiment.model if model is None else model,
        "recipe": {**experiment.recipe, **(recipe or {})},
        "policies": list(experiment.policies.order_by("name")) if policies is None else policies,
        "budgets": list(experiment.budgets) if budgets is None else budgets,
        "seeds": list(experiment.seeds) if seeds is None else seeds,
        "queue": experiment.queue if queue is None else queue,
    }


def experiment_clone(*, experiment: Experiment, user, **changes: Any) -> Experiment:
    """A new experiment in the same team with ``experiment``'s configuration and these changes (``clone_arguments``).

    Its cells share the executions of identical cells, so an unchanged clone trains nothing again.
    """
    return experiment_create(user=user, **clone_arguments(experiment=experiment, **changes))


def experiment_retry_failed(*, experiment: Experiment, user) -> Retry:
    """Queue again every failed run of the experiment; other runs stay as they are."""
    check_team_access(user=user, team=experiment.team_id, access=Access.WRITE)
    return cells_retry(experiment.runs.all())


def run_retry(*, run: Run, user) -> Run:
    """Queue one failed run again; a run in any other state is refused (409)."""
    check_team_access(user=user, team=run.experiment.team_id, access=Access.WRITE)
    if not cells_retry(Run.objects.filter(pk=run.pk)).cells:
        run = Run.objects.select_related("execution").get(pk=run.pk)
        raise ApplicationError(
            f"Only a failed run can be retried; this one is {run.status}.", field="status", status_code=409
        )
    return Run.objects.select_related("execution", "policy").get(pk=run.pk)


@dataclass(frozen=True)
class Deletion:
    runs: int
    # Executions that only this experiment used, deleted with their curves and attempts.
    executions_deleted: int
    # Executions other experiments still use, kept for them.
    executions_kept: int


def experiment_deletion(experiment: Experiment) -> Deletion:
    """What deleting the experiment would remove and keep (for the confirmation step)."""
    execution_ids = set(experiment.runs.values_list("execution_id", flat=True))
    shared = _shared_executions(experiment, execution_ids)
    return Deletion(
        runs=experiment.runs.count(), executions_deleted=len(execution_ids - shared), executions_kept=len(shared)
    )


def _shared_executions(experiment: Experiment, execution_ids: set[int]) -> set[int]:
    return set(
        Run.objects.filter(execution_id__in=execution_ids)
        .exclude(experiment=experiment)
        .values_list("execution_id", flat=True)
    )


def experiment_delete(*, experiment: Experiment, user) -> Deletion:
    """Delete an experiment, its runs and share links, and the executions no other experiment uses.

    An execution still used elsewhere stays, with its results, for the
    experiments that use it. A worker training a deleted execution loses its
    lease and stops at its next step.
    """
    check_team_access(user=user, team=experiment.team_id, access=Access.WRITE)
    with transaction.atomic():
        experiment = _locked(experiment)
        # Locked so that no new cell (of a create or an extension) starts sharing them meanwhile.
        execution_ids = set(
            Execution.objects.select_for_update(of=("self",))
            .filter(cells__experiment=experiment)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        shared = _shared_executions(experiment, execution_ids)
        runs = experiment.runs.count()
        experiment.delete()
        unused = sorted(execution_ids - shared)
        Execution.objects.filter(pk__in=unused).delete()
        transaction.on_commit(lambda: _remove_checkpoints(unused))
    return Deletion(runs=runs, executions_deleted=len(unused), executions_kept=len(shared))


def _remove_checkpoints(execution_ids: Sequence[int]) -> None:
    """This machine's checkpoint files of deleted executions (other machines' reapers remove theirs)."""
    for execution_id in execution_ids:
        shutil.rmtree(execution_checkpoint_dir(execution_id), ignore_errors=True)


def share_link_create(*, experiment: Experiment, user) -> ShareLink:
    check_team_access(user=user, team=experiment.team_id, access=Access.MANAGE)
    return ShareLink.objects.create(experiment=experiment, created_by=user)


def share_link_revoke(*, share_link: ShareLink, user) -> ShareLink:
    check_team_access(user=user, team=share_link.experiment.team_id, access=Access.MANAGE)
    if share_link.revoked_at is None:
        share_link.revoked_at = timezone.now()
        share_link.save(update_fields=["revoked_at"])
    return share_link

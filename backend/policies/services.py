"""Writes for sampling policies."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction

from backend.deletion import delete_unless_used
from backend.errors import ApplicationError
from backend.policies.models import SamplingPolicy
from backend.teams.access import Access, check_team_access
from backend.teams.models import Team
from workers.engine.strategies import STRATEGIES, get_strategy, resolve_strategy_params

BUILTIN_READ_ONLY = "Built-in policies are read-only."


def policies_sync_builtin() -> int:
    """Create the default policy of every registered strategy that lacks one."""
    created = 0
    for strategy in STRATEGIES.values():
        _, was_created = SamplingPolicy.objects.get_or_create(
            team=None,
            name=strategy.title,
            defaults={
                "strategy": strategy.key,
                "params": resolve_strategy_params(strategy.key, {}),
                "description": strategy.description,
            },
        )
        created += int(was_created)
    return created


def _name_taken(name: str) -> ApplicationError:
    return ApplicationError(f"This team already has a policy named {name!r}.", field="name")


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A policy needs a name.", field="name")
    return name


def policy_create(
    *, team: Team, user, name: str, strategy: str, params: dict | None, description: str = ""
) -> SamplingPolicy:
    check_team_access(user=user, team=team, access=Access.WRITE)
    name = _clean_name(name)
    get_strategy(strategy)
    resolved = resolve_strategy_params(strategy, params)
    if SamplingPolicy.objects.filter(team=team, name=name).exists():
        raise _name_taken(name)
    try:
        with transaction.atomic():
            return SamplingPolicy.objects.create(
                team=team, name=name, strategy=strategy, params=resolved, description=description, created_by=user
            )
    except IntegrityError:
        raise _name_taken(name) from None


def policy_update(
    *,
    policy: SamplingPolicy,
    user,
    name: str | None = None,
    description: str | None = None,
    params: dict | None = None,
    strategy: str | None = None,
) -> SamplingPolicy:
    """Rename, redescribe or re-parameterise a team policy; ``None`` leaves a field as it is.

    ``params`` replaces the stored parameters (missing ones take their defaults).
    They cannot change while an experiment uses the policy, whose runs trained
    with them (409); the name and description can. The strategy never changes:
    another strategy is another policy.
    """
    if policy.is_builtin:
        raise PermissionDenied(BUILTIN_READ_ONLY)
    check_team_access(user=user, team=policy.team_id, access=Access.WRITE)
    if strategy is not None and strategy != policy.strategy:
        raise ApplicationError(
            f"A policy's strategy cannot change; create a new policy for {strategy!r}.", field="strategy"
        )
    changes = {}
    if name is not None:
        changes["name"] = _clean_name(name)
    if description is not None:
        changes["description"] = description
    if params is not None:
        changes["params"] = resolve_strategy_params(policy.strategy, params)
    with transaction.atomic():
        # Concurrent edits of one policy apply one after the other, each checking the row as the last left it.
        locked = SamplingPolicy.objects.select_for_update().get(pk=policy.pk)
        if "params" in changes and changes["params"] != locked.params:
            used = locked.experiments.count()
            if used:
                raise ApplicationError(
                    f"Policy {locked.name!r} is used by {used} experiment(s) whose runs trained with its "
                    "parameters, so they cannot change. Create a new policy with the new parameters instead.",
                    status_code=409,
                )
        if "name" in changes and (
            SamplingPolicy.objects.filter(team_id=locked.team_id, name=changes["name"]).exclude(pk=locked.pk).exists()
        ):
            raise _name_taken(changes["name"])
        for field, value in changes.items():
            setattr(locked, field, value)
        try:
            with transaction.atomic():
                locked.save(update_fields=list(changes))
        except IntegrityError:
            raise _name_taken(changes["name"]) from None
    return locked


def policy_delete(*, policy: SamplingPolicy, user) -> None:
    if policy.is_builtin:
        raise PermissionDenied(BUILTIN_READ_ONLY)
    check_team_access(user=user, team=policy.team_id, access=Access.WRITE)
    delete_unless_used(policy, label=f"Policy {policy.name!r}", experiments_using=policy.experiments.count())

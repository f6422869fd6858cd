"""Writes for sampling policies."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from backend.errors import ApplicationError
from backend.policies.models import SamplingPolicy
from backend.teams.access import Access, check_team_access
from backend.teams.models import Team
from workers.engine.strategies import STRATEGIES, get_strategy, resolve_strategy_params


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


def policy_create(
    *, team: Team, user, name: str, strategy: str, params: dict | None, description: str = ""
) -> SamplingPolicy:
    check_team_access(user=user, team=team, access=Access.WRITE)
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A policy needs a name.", field="name")
    get_strategy(strategy)
    resolved = resolve_strategy_params(strategy, params)
    if SamplingPolicy.objects.filter(team=team, name=name).exists():
        raise ApplicationError(f"This team already has a policy named {name!r}.", field="name")
    try:
        with transaction.atomic():
            return SamplingPolicy.objects.create(
                team=team, name=name, strategy=strategy, params=resolved, description=description, created_by=user
            )
    except IntegrityError:
        raise ApplicationError(f"This team already has a policy named {name!r}.", field="name") from None


def policy_delete(*, policy: SamplingPolicy, user) -> None:
    from django.core.exceptions import PermissionDenied

    from backend.deletion import delete_unless_used

    if policy.is_builtin:
        raise PermissionDenied("Built-in policies cannot be deleted.")
    check_team_access(user=user, team=policy.team_id, access=Access.WRITE)
    delete_unless_used(policy, label=f"Policy {policy.name!r}", experiments_using=policy.experiments.count())

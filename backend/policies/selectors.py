"""Reads for sampling policies."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from backend.policies.models import SamplingPolicy
from backend.teams.models import Team


def builtin_policies() -> QuerySet[SamplingPolicy]:
    return SamplingPolicy.objects.filter(team=None).order_by("name")


def team_policies_with_usage(team: Team) -> QuerySet[SamplingPolicy]:
    """The team's own policies, each with ``experiments_using``: how many experiments use it."""
    return (
        SamplingPolicy.objects.filter(team=team)
        .annotate(experiments_using=Count("experiments", distinct=True))
        .order_by("name")
    )


def policy_experiments_using(policy: SamplingPolicy) -> int:
    return policy.experiments.count()

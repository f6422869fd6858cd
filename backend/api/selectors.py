"""Reads behind the API: what a user may see, and payload references resolved within one team.

Every queryset starts from ``teams_readable_by`` so an outsider's list is empty
and a foreign id is indistinguishable from a missing one.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import F, Q, QuerySet
from django.http import Http404

from backend.datasets.models import Dataset
from backend.errors import ApplicationError
from backend.experiments.models import Experiment, Run
from backend.experiments.selectors import experiments_with_status_counts
from backend.policies.models import SamplingPolicy
from backend.teams.access import Access, check_team_access, teams_readable_by
from backend.teams.models import Membership, Team


def teams_with_role(user) -> QuerySet[Team]:
    """The user's teams, each annotated with ``role``: the user's role in it."""
    return Team.objects.filter(memberships__user=user).annotate(role=F("memberships__role"))


def team_memberships(team: Team) -> QuerySet[Membership]:
    return Membership.objects.filter(team=team).select_related("user").order_by("user__username")


def datasets_visible_to(user) -> QuerySet[Dataset]:
    return Dataset.objects.filter(team__in=teams_readable_by(user)).select_related("created_by")


def policies_visible_to(user) -> QuerySet[SamplingPolicy]:
    """Built-in policies (no team) and the policies of the user's teams."""
    if not user or not user.is_authenticated:
        return SamplingPolicy.objects.none()
    return SamplingPolicy.objects.filter(Q(team__isnull=True) | Q(team__in=teams_readable_by(user)))


def experiments_visible_to(user) -> QuerySet[Experiment]:
    """Experiments with run counts by status and ``runs_reused``, without N+1 on their relations."""
    queryset = (
        Experiment.objects.filter(team__in=teams_readable_by(user))
        .select_related("dataset", "created_by")
        .prefetch_related("policies")
    )
    # Meta.ordering does not apply to aggregating queries; restate it so pages are stable.
    return experiments_with_status_counts(queryset).order_by(*Experiment._meta.ordering)


def runs_visible_to(user) -> QuerySet[Run]:
    return Run.objects.filter(experiment__team__in=teams_readable_by(user)).select_related("policy", "execution")


def team_for_payload(*, user, team_id: int, access: Access) -> Team:
    """The team a request body names; a team the user is not in is a bad ``team`` field."""
    try:
        membership = check_team_access(user=user, team=team_id, access=access)
    except Http404:
        raise ApplicationError("No such team.", field="team") from None
    return membership.team


def dataset_for_payload(*, team: Team, dataset_id: int) -> Dataset:
    dataset = Dataset.objects.filter(team=team, pk=dataset_id).first()
    if dataset is None:
        raise ApplicationError(f"No dataset {dataset_id} in this team.", field="dataset")
    return dataset


def policies_for_payload(*, team: Team, policy_ids: Sequence[int]) -> list[SamplingPolicy]:
    """The named policies in the given order (duplicates kept, so the service can report them)."""
    found = SamplingPolicy.objects.filter(Q(team__isnull=True) | Q(team=team), pk__in=set(policy_ids)).in_bulk()
    missing = [policy_id for policy_id in policy_ids if policy_id not in found]
    if missing:
        listed = ", ".join(str(policy_id) for policy_id in missing)
        raise ApplicationError(f"No policy {listed} in this team or among the built-ins.", field="policies")
    return [found[policy_id] for policy_id in policy_ids]

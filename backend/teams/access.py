"""The one permission helper: every view, API view and service decides access here.

Outsiders get 404 (an object's existence is not revealed), viewers read,
editors create and cancel, owners also manage members and share links.
"""

from __future__ import annotations

from enum import IntEnum

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404

from backend.teams.models import Membership, Role, Team


class Access(IntEnum):
    READ = 0
    WRITE = 1
    MANAGE = 2


_ROLE_ACCESS = {Role.VIEWER: Access.READ, Role.EDITOR: Access.WRITE, Role.OWNER: Access.MANAGE}


def membership_for(*, user, team: Team | int) -> Membership | None:
    if not user or not user.is_authenticated:
        return None
    team_id = team.pk if isinstance(team, Team) else team
    return Membership.objects.filter(team_id=team_id, user=user).first()


def check_team_access(*, user, team: Team | int, access: Access = Access.READ) -> Membership:
    """Return the user's membership or raise 404 (outsider) / 403 (role too low)."""
    membership = membership_for(user=user, team=team)
    if membership is None:
        raise Http404("No such team.")
    if _ROLE_ACCESS[Role(membership.role)] < access:
        raise PermissionDenied(f"Your role ({membership.role}) does not allow this.")
    return membership


def get_team_object(
    queryset: QuerySet | type[Model],
    *,
    user,
    access: Access = Access.READ,
    team_field: str = "team",
    **lookup,
) -> tuple[Model, Membership]:
    """Fetch one team-owned object and check access; returns ``(obj, membership)``.

    ``team_field`` is the path from the object to its team (``"experiment__team"``
    for runs). A missing object and an object of another team both give 404.
    """
    if not isinstance(queryset, QuerySet):
        queryset = queryset._default_manager.all()
    try:
        obj = queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found.") from None
    team_id = obj
    for part in team_field.split("__"):
        team_id = getattr(team_id, part)
    membership = check_team_access(user=user, team=team_id, access=access)
    return obj, membership


def teams_readable_by(user) -> QuerySet[Team]:
    if not user or not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user)

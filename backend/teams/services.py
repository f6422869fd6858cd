"""Writes for teams and memberships."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify

from backend.errors import ApplicationError
from backend.teams.access import Access, check_team_access
from backend.teams.models import Membership, Role, Team


def _unique_slug(name: str) -> str:
    base = slugify(name)[:80] or "team"
    slug, counter = base, 2
    while Team.objects.filter(slug=slug).exists():
        slug = f"{base}-{counter}"
        counter += 1
    return slug


@transaction.atomic
def team_create(*, name: str, owner) -> Team:
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A team needs a name.", field="name")
    if len(name) > 100:
        raise ApplicationError("Ensure this field has no more than 100 characters.", field="name")
    team = Team.objects.create(name=name, slug=_unique_slug(name))
    Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    return team


def _find_user(username_or_email: str):
    User = get_user_model()
    value = (username_or_email or "").strip()
    if not value:
        raise ApplicationError("Give a username or an email address.", field="user")
    matches = list(User.objects.filter(Q(username__iexact=value) | Q(email__iexact=value))[:2])
    if len(matches) != 1:
        raise ApplicationError(f"No single user has the username or email {value!r}.", field="user")
    return matches[0]


def _check_role(role: str) -> str:
    if role not in Role.values:
        raise ApplicationError(f"Must be one of {', '.join(Role.values)}.", field="role")
    return role


@transaction.atomic
def membership_add(*, team: Team, actor, username_or_email: str, role: str) -> Membership:
    check_team_access(user=actor, team=team, access=Access.MANAGE)
    role = _check_role(role)
    user = _find_user(username_or_email)
    if Membership.objects.filter(team=team, user=user).exists():
        raise ApplicationError(f"{user.username} is already a member of {team.name}.", field="user")
    return Membership.objects.create(team=team, user=user, role=role)


def _owners_left_after(membership: Membership, *, new_role: str | None) -> int:
    owners = Membership.objects.select_for_update().filter(team=membership.team, role=Role.OWNER)
    remaining = owners.exclude(pk=membership.pk).count()
    if new_role == Role.OWNER:
        remaining += 1
    return remaining


@transaction.atomic
def membership_update_role(*, membership: Membership, actor, role: str) -> Membership:
    check_team_access(user=actor, team=membership.team, access=Access.MANAGE)
    role = _check_role(role)
    if membership.role == Role.OWNER and _owners_left_after(membership, new_role=role) == 0:
        raise ApplicationError("A team must keep at least one owner.", field="role", status_code=409)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor) -> None:
    check_team_access(user=actor, team=membership.team, access=Access.MANAGE)
    if membership.role == Role.OWNER and _owners_left_after(membership, new_role=None) == 0:
        raise ApplicationError("A team must keep at least one owner.", field="user", status_code=409)
    membership.delete()

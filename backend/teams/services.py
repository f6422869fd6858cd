"""Writes for teams, memberships and invitations."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.utils.text import slugify

from backend.errors import ApplicationError
from backend.teams.access import Access, check_team_access
from backend.teams.models import Invitation, InvitationStatus, Membership, Role, Team


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


def _check_role(role: str) -> str:
    if role not in Role.values:
        raise ApplicationError(f"Must be one of {', '.join(Role.values)}.", field="role")
    return role


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


def _check_invited(invited: str) -> str:
    value = (invited or "").strip()
    if not value:
        raise ApplicationError("Give a username or an email address.", field="user")
    if len(value) > 254:
        raise ApplicationError("Ensure this field has no more than 254 characters.", field="user")
    if not (_is_username(value) or _is_email(value)):
        raise ApplicationError(f"{value!r} is neither a username nor an email address.", field="user")
    return value


def _is_username(value: str) -> bool:
    try:
        UnicodeUsernameValidator()(value)
    except ValidationError:
        return False
    return len(value) <= 150


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _named(invited: str, *, prefix: str = "") -> Q:
    return Q(**{f"{prefix}username__iexact": invited}) | Q(**{f"{prefix}email__iexact": invited})


def _invitee_for(invited: str):
    """The one account a name reaches: its exact username, else its only case-insensitive username,
    else the only account with that email; none when no single account fits."""
    candidates = list(get_user_model().objects.filter(_named(invited)))
    key = invited.upper()
    for matches in (
        [user for user in candidates if user.username == invited],
        [user for user in candidates if user.username.upper() == key],
        [user for user in candidates if user.email.upper() == key],
    ):
        if len(matches) == 1:
            return matches[0]
    return None


def _already_invited(invited: str, team: Team) -> ApplicationError:
    return ApplicationError(f"An invitation to {invited} to join {team.name} is already pending.", field="user")


@transaction.atomic
def invitation_create(*, team: Team, actor, invited: str, role: str) -> Invitation:
    """Invite whoever has this username or email to ``team`` with ``role``; they join once they accept.

    The team learns nothing about other accounts: a name that belongs to nobody goes through the same
    checks and queries and gives the same invitation, which simply reaches nobody. Only what the owner
    already sees is refused: a name of a current member, or one with an invitation pending.
    """
    check_team_access(user=actor, team=team, access=Access.MANAGE)
    role = _check_role(role)
    invited = _check_invited(invited)
    member = Membership.objects.filter(_named(invited, prefix="user__"), team=team).select_related("user").first()
    if member is not None:
        raise ApplicationError(f"Already a member of {team.name}: {member.user.username}.", field="user")
    if Invitation.objects.filter(team=team, status=InvitationStatus.PENDING, invited__iexact=invited).exists():
        raise _already_invited(invited, team)
    invitee = _invitee_for(invited)
    try:
        with transaction.atomic():
            return Invitation.objects.create(team=team, invited=invited, invitee=invitee, role=role, invited_by=actor)
    except IntegrityError:
        raise _already_invited(invited, team) from None


def _lock_pending(invitation: Invitation, **lookup) -> Invitation:
    locked = (
        Invitation.objects.select_for_update()
        .select_related("team")
        .filter(pk=invitation.pk, status=InvitationStatus.PENDING, **lookup)
        .first()
    )
    if locked is None:
        raise Http404("No such invitation.")
    return locked


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> Membership:
    """Join the team with the invited role; the user's other pending invitations to it are answered too."""
    invitation = _lock_pending(invitation, invitee=user)
    membership, _ = Membership.objects.get_or_create(
        team=invitation.team, user=user, defaults={"role": invitation.role}
    )
    Invitation.objects.filter(team=invitation.team, invitee=user, status=InvitationStatus.PENDING).update(
        status=InvitationStatus.ACCEPTED, answered_at=timezone.now()
    )
    return membership


@transaction.atomic
def invitation_decline(*, invitation: Invitation, user) -> Invitation:
    invitation = _lock_pending(invitation, invitee=user)
    invitation.status = InvitationStatus.DECLINED
    invitation.answered_at = timezone.now()
    invitation.save(update_fields=["status", "answered_at"])
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor) -> Invitation:
    check_team_access(user=actor, team=invitation.team_id, access=Access.MANAGE)
    invitation = _lock_pending(invitation)
    invitation.status = InvitationStatus.REVOKED
    invitation.answered_at = timezone.now()
    invitation.save(update_fields=["status", "answered_at"])
    return invitation

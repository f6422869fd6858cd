"""Reads for teams: pending invitations, as their invitee and as the team's owners see them."""

from __future__ import annotations

from django.db.models import QuerySet

from backend.teams.models import Invitation, InvitationStatus, Team


def pending_invitations_for(user) -> QuerySet[Invitation]:
    """The invitations waiting for this user's answer, newest first."""
    if not user or not user.is_authenticated:
        return Invitation.objects.none()
    return (
        Invitation.objects.filter(invitee=user, status=InvitationStatus.PENDING)
        .select_related("team", "invited_by")
        .order_by("-created_at", "-id")
    )


def team_pending_invitations(team: Team) -> QuerySet[Invitation]:
    """The team's unanswered invitations, newest first; they name the invitee only as the owner typed it."""
    return (
        Invitation.objects.filter(team=team, status=InvitationStatus.PENDING)
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )

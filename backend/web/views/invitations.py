"""A user's invitations to teams: listed, accepted or declined by the invitee alone.

An invitation addressed to someone else, answered or revoked, is not found (404).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from backend.teams.selectors import pending_invitations_for
from backend.teams.services import invitation_accept as accept_invitation
from backend.teams.services import invitation_decline as decline_invitation
from backend.web.pages import current_team, render_page


@login_required
def invitation_list(request: HttpRequest) -> HttpResponse:
    return render_page(
        request, "teams/invitations.html", team=current_team(request), invitations=pending_invitations_for(request.user)
    )


@login_required
@require_POST
def invitation_accept(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(pending_invitations_for(request.user), pk=invitation_id)
    membership = accept_invitation(invitation=invitation, user=request.user)
    messages.success(request, f"You joined {invitation.team.name} as {membership.get_role_display().lower()}.")
    return redirect("team_dashboard", slug=invitation.team.slug)


@login_required
@require_POST
def invitation_decline(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(pending_invitations_for(request.user), pk=invitation_id)
    decline_invitation(invitation=invitation, user=request.user)
    messages.success(request, f"You declined the invitation to {invitation.team.name}.")
    return redirect("invitations")

"""A team's members: everyone reads the list; owners invite, revoke invitations, change roles and remove.

Inviting gives the same answer whether or not the name belongs to an account here.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from backend.errors import ApplicationError
from backend.teams.access import Access, get_team_object
from backend.teams.models import Invitation, InvitationStatus, Membership, Role, Team
from backend.teams.selectors import team_pending_invitations
from backend.teams.services import invitation_create, membership_remove, membership_update_role
from backend.teams.services import invitation_revoke as revoke_invitation
from backend.web.forms import MemberAddForm, add_service_error
from backend.web.pages import render_page, team_page


def _render_members(
    request: HttpRequest,
    team: Team,
    membership: Membership,
    *,
    add_form: MemberAddForm,
    row_errors: dict[int, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    row_errors = row_errors or {}
    members = team.memberships.select_related("user").order_by("user__username")
    rows = [{"membership": member, "error": row_errors.get(member.pk)} for member in members]
    invitations = team_pending_invitations(team) if membership.can_manage else Invitation.objects.none()
    return render_page(
        request,
        "teams/members.html",
        team=team,
        membership=membership,
        rows=rows,
        invitations=invitations,
        add_form=add_form,
        roles=Role.choices,
        status=status,
    )


def _target(request: HttpRequest, team: Team, membership_id: int) -> Membership:
    target, _ = get_team_object(
        Membership.objects.select_related("user", "team"),
        user=request.user,
        access=Access.MANAGE,
        pk=membership_id,
        team=team,
    )
    return target


@login_required
def team_members(request: HttpRequest, slug: str) -> HttpResponse:
    team, membership = team_page(request, slug)
    return _render_members(request, team, membership, add_form=MemberAddForm())


@login_required
@require_POST
def member_add(request: HttpRequest, slug: str) -> HttpResponse:
    team, membership = team_page(request, slug, access=Access.MANAGE)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            invitation = invitation_create(
                team=team, actor=request.user, invited=form.cleaned_data["user"], role=form.cleaned_data["role"]
            )
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request,
                f"Invited {invitation.invited} as {invitation.get_role_display().lower()}. They join once they accept.",
            )
            return redirect("team_members", slug=team.slug)
    return _render_members(request, team, membership, add_form=form, status=400)


@login_required
@require_POST
def member_role(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    team, membership = team_page(request, slug, access=Access.MANAGE)
    target = _target(request, team, membership_id)
    try:
        membership_update_role(membership=target, actor=request.user, role=request.POST.get("role", ""))
    except ApplicationError as error:
        return _render_members(
            request, team, membership, add_form=MemberAddForm(), row_errors={target.pk: error.message}, status=400
        )
    messages.success(request, f"{target.user.username} is now {target.get_role_display().lower()}.")
    return redirect("team_members", slug=team.slug)


@login_required
@require_POST
def member_remove(request: HttpRequest, slug: str, membership_id: int) -> HttpResponse:
    team, membership = team_page(request, slug, access=Access.MANAGE)
    target = _target(request, team, membership_id)
    try:
        membership_remove(membership=target, actor=request.user)
    except ApplicationError as error:
        return _render_members(
            request, team, membership, add_form=MemberAddForm(), row_errors={target.pk: error.message}, status=400
        )
    if target.user_id == request.user.pk:
        messages.success(request, f"You left {team.name}.")
        return redirect("dashboard")
    messages.success(request, f"Removed {target.user.username} from {team.name}.")
    return redirect("team_members", slug=team.slug)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    team, _ = team_page(request, slug, access=Access.MANAGE)
    invitation, _ = get_team_object(
        Invitation.objects.filter(status=InvitationStatus.PENDING),
        user=request.user,
        access=Access.MANAGE,
        pk=invitation_id,
        team=team,
    )
    revoke_invitation(invitation=invitation, actor=request.user)
    messages.success(request, f"Revoked the invitation to {invitation.invited}.")
    return redirect("team_members", slug=team.slug)

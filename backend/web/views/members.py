"""A team's members: everyone reads the list, owners invite, change roles and remove."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from backend.errors import ApplicationError
from backend.teams.access import Access, get_team_object
from backend.teams.models import Membership, Role, Team
from backend.teams.services import membership_add, membership_remove, membership_update_role
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
    return render_page(
        request,
        "teams/members.html",
        team=team,
        membership=membership,
        rows=rows,
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
            added = membership_add(
                team=team,
                actor=request.user,
                username_or_email=form.cleaned_data["user"],
                role=form.cleaned_data["role"],
            )
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Added {added.user.username} as {added.get_role_display().lower()}.")
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

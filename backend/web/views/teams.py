"""The dashboard: a team's experiments with their run counts, and team creation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from backend.errors import ApplicationError
from backend.experiments.models import Experiment
from backend.experiments.selectors import experiments_with_status_counts
from backend.teams.access import check_team_access
from backend.teams.models import Membership, Team
from backend.teams.selectors import pending_invitations_for
from backend.teams.services import team_create as create_team
from backend.web.display import annotated_status_counts, budget_label
from backend.web.forms import TeamCreateForm, add_service_error
from backend.web.pages import current_team, remember_team, render_page, team_page


def _render_dashboard(
    request: HttpRequest, team: Team | None, membership: Membership | None, form: TeamCreateForm, status: int = 200
) -> HttpResponse:
    invitations = pending_invitations_for(request.user)
    if team is None:
        return render_page(request, "teams/welcome.html", team=None, form=form, invitations=invitations, status=status)
    experiments = experiments_with_status_counts(Experiment.objects.filter(team=team).select_related("dataset"))
    rows = [
        {
            "experiment": experiment,
            "budgets": ", ".join(budget_label(budget) for budget in experiment.budgets),
            "counts": annotated_status_counts(experiment),
        }
        for experiment in experiments.order_by("-created_at", "-id")
    ]
    return render_page(
        request,
        "teams/dashboard.html",
        team=team,
        membership=membership,
        rows=rows,
        form=form,
        invitations=invitations,
        status=status,
    )


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    membership = check_team_access(user=request.user, team=team) if team else None
    if team:
        remember_team(request, team)
    return _render_dashboard(request, team, membership, TeamCreateForm())


@login_required
def team_dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    team, membership = team_page(request, slug)
    return _render_dashboard(request, team, membership, TeamCreateForm())


@login_required
@require_POST
def team_create(request: HttpRequest) -> HttpResponse:
    form = TeamCreateForm(request.POST)
    if form.is_valid():
        try:
            team = create_team(name=form.cleaned_data["name"], owner=request.user)
        except ApplicationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Created the team {team.name}; you are its owner.")
            return redirect("team_dashboard", slug=team.slug)
    team = current_team(request)
    membership = check_team_access(user=request.user, team=team) if team else None
    return _render_dashboard(request, team, membership, form, status=400)

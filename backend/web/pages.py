"""What every page shares: the team it is about, the top bar, and the current team.

A team's pages carry the team in the URL (``/teams/<slug>/...``), so links and
forms always act on the team they show. The session only remembers the last
team opened, so that ``/`` lands there.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from backend.teams.access import Access, check_team_access, teams_readable_by
from backend.teams.models import Membership, Team

CURRENT_TEAM_SESSION_KEY = "current_team_id"

# Which top-bar tab a page belongs to, by URL name (form posts re-render their page).
SECTIONS = {
    "dashboard": "experiments",
    "team_dashboard": "experiments",
    "team_create": "experiments",
    "experiment_detail": "experiments",
    "experiment_create": "experiments",
    "run_detail": "experiments",
    "team_datasets": "datasets",
    "dataset_detail": "datasets",
    "dataset_delete": "datasets",
    "dataset_upload": "datasets",
    "team_policies": "policies",
    "policy_edit": "policies",
    "strategy_catalogue": "policies",
    "team_leaderboard": "leaderboards",
    "team_members": "members",
    "member_add": "members",
    "member_role": "members",
    "member_remove": "members",
}


def remember_team(request: HttpRequest, team: Team) -> None:
    if request.session.get(CURRENT_TEAM_SESSION_KEY) != team.pk:
        request.session[CURRENT_TEAM_SESSION_KEY] = team.pk


def team_page(request: HttpRequest, slug: str, *, access: Access = Access.READ) -> tuple[Team, Membership]:
    """The team named in the URL with the user's membership: 404 for outsiders, 403 if the role is too low."""
    team = get_object_or_404(Team, slug=slug)
    membership = check_team_access(user=request.user, team=team, access=access)
    remember_team(request, team)
    return team, membership


def current_team(request: HttpRequest) -> Team | None:
    """The last team opened if the user still belongs to it, else the first of their teams."""
    teams = teams_readable_by(request.user).order_by("name")
    remembered = request.session.get(CURRENT_TEAM_SESSION_KEY)
    return (remembered and teams.filter(pk=remembered).first()) or teams.first()


def nav_context(request: HttpRequest, team: Team | None = None) -> dict[str, Any]:
    url_name = request.resolver_match.url_name if request.resolver_match else None
    return {
        "team": team,
        "user_teams": list(teams_readable_by(request.user).order_by("name")),
        "section": SECTIONS.get(url_name),
    }


def render_page(
    request: HttpRequest,
    template: str,
    *,
    team: Team | None,
    membership: Membership | None = None,
    status: int = 200,
    **context: Any,
) -> HttpResponse:
    context.update(nav_context(request, team), membership=membership)
    return render(request, template, context, status=status)

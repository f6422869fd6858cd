"""The strategy catalogue, and editing and deleting a team's own policies."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from backend.errors import ApplicationError
from backend.policies.models import SamplingPolicy
from backend.policies.selectors import policy_experiments_using
from backend.policies.services import policy_delete as delete_policy
from backend.policies.services import policy_update
from backend.teams.access import Access, get_team_object, membership_for
from backend.web.forms import FAMILY_LABELS, PolicyForm, PolicyParamsForm, add_policy_error, param_bounds
from backend.web.pages import current_team, render_page
from workers.engine.errors import ConfigError
from workers.engine.params import Param
from workers.engine.strategies import STRATEGIES

FAMILY_HELP = {
    "static": "Pick one subset of r·N examples before training and train on it every round.",
    "dynamic": "Pick a new subset every round, at random or from what training has seen so far.",
    "weighted": "Pick examples and weight their losses, so the subset stands in for the full data.",
}


def _team_policy(request: HttpRequest, pk: int) -> tuple[SamplingPolicy, Any]:
    """A team's own policy for writing: built-ins are read-only and no team's, so they are not found."""
    return get_team_object(
        SamplingPolicy.objects.filter(team__isnull=False).select_related("team"),
        user=request.user,
        access=Access.WRITE,
        pk=pk,
    )


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _param_row(param: Param) -> dict[str, Any]:
    return {
        "param": param,
        "default": _shown(param.default),
        "bounds": param_bounds(param),
        "nullable": param.nullable,
    }


@login_required
def strategy_catalogue(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    families = [
        {
            "key": family,
            "label": label,
            "help": FAMILY_HELP[family],
            "strategies": [
                {"strategy": strategy, "params": [_param_row(param) for param in strategy.params]}
                for strategy in STRATEGIES.values()
                if strategy.family == family
            ],
        }
        for family, label in FAMILY_LABELS.items()
    ]
    membership = team and membership_for(user=request.user, team=team)
    return render_page(request, "strategies/catalogue.html", team=team, membership=membership, families=families)


@login_required
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    policy, membership = _team_policy(request, pk)
    used = policy_experiments_using(policy)
    posted = request.method == "POST"
    initial = {"name": policy.name, "description": policy.description}
    form = PolicyForm(request.POST if posted else None, initial=initial)
    strategy = STRATEGIES.get(policy.strategy)
    params_form = strategy and PolicyParamsForm(
        request.POST if posted else None, strategy=strategy, initial=policy.params, disabled=bool(used)
    )
    status = 400 if posted else 200
    if posted and all([form.is_valid(), params_form is None or params_form.is_valid()]):
        try:
            policy_update(
                policy=policy,
                user=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                params=None if used or params_form is None else params_form.params,
            )
        except (ApplicationError, ConfigError) as error:
            add_policy_error(form, params_form, error)
            status = getattr(error, "status_code", 400)
        else:
            messages.success(request, f"Saved {form.cleaned_data['name']}.")
            return redirect("team_policies", slug=policy.team.slug)
    return render_page(
        request,
        "policies/edit.html",
        team=policy.team,
        membership=membership,
        policy=policy,
        strategy=strategy,
        form=form,
        params_form=params_form,
        experiments_using=used,
        status=status,
    )


@login_required
@require_POST
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy, _ = _team_policy(request, pk)
    try:
        delete_policy(policy=policy, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("policy_edit", pk=policy.pk)
    messages.success(request, f"Deleted {policy.name}.")
    return redirect("team_policies", slug=policy.team.slug)

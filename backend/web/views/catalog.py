"""What a team can experiment with: its datasets and the sampling policies it can use."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from backend.datasets.models import Dataset
from backend.errors import ApplicationError
from backend.policies.models import SamplingPolicy
from backend.policies.selectors import builtin_policies, team_policies_with_usage
from backend.policies.services import policy_create
from backend.teams.access import Access
from backend.web.display import short_sha
from backend.web.forms import PolicyCreateForm, add_policy_error, strategy_params_forms
from backend.web.pages import render_page, team_page
from workers.engine.errors import ConfigError
from workers.engine.strategies import STRATEGIES


def _policy_row(policy: SamplingPolicy) -> dict:
    strategy = STRATEGIES.get(policy.strategy)
    return {
        "policy": policy,
        "family": strategy.family if strategy else "unknown",
        "params": [f"{key} = {value}" for key, value in sorted(policy.params.items())],
        "experiments_using": getattr(policy, "experiments_using", None),
    }


@login_required
def team_datasets(request: HttpRequest, slug: str) -> HttpResponse:
    team, membership = team_page(request, slug)
    rows = [
        {
            "dataset": dataset,
            "input_shape": " × ".join(str(size) for size in dataset.input_shape) or "—",
            "sha": short_sha(dataset.sha256),
        }
        for dataset in Dataset.objects.filter(team=team).order_by("name")
    ]
    return render_page(request, "datasets/list.html", team=team, membership=membership, rows=rows)


@login_required
def team_policies(request: HttpRequest, slug: str) -> HttpResponse:
    """The built-in and team policies; editors create one from its strategy's generated form."""
    posted = request.method == "POST"
    team, membership = team_page(request, slug, access=Access.WRITE if posted else Access.READ)
    form = PolicyCreateForm(request.POST if posted else None, initial={"strategy": request.GET.get("strategy")})
    chosen = (request.POST if posted else request.GET).get("strategy")
    params_forms = strategy_params_forms(request.POST if posted else None, chosen=chosen)
    params_form = params_forms.get(chosen)
    if posted and all([form.is_valid(), params_form is not None and params_form.is_valid()]):
        try:
            policy = policy_create(
                team=team,
                user=request.user,
                name=form.cleaned_data["name"],
                strategy=chosen,
                params=params_form.params,
                description=form.cleaned_data["description"],
            )
        except (ApplicationError, ConfigError) as error:
            add_policy_error(form, params_form, error)
        else:
            messages.success(request, f"Created {policy.name}.")
            return redirect("team_policies", slug=team.slug)
    return render_page(
        request,
        "policies/list.html",
        team=team,
        membership=membership,
        builtin_rows=[_policy_row(policy) for policy in builtin_policies()],
        team_rows=[_policy_row(policy) for policy in team_policies_with_usage(team)],
        form=form,
        params_forms=params_forms.values(),
        chosen=chosen if chosen in params_forms else None,
        status=400 if posted else 200,
    )

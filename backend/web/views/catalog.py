"""What a team can experiment with: its datasets and the sampling policies it can use."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse

from backend.datasets.models import Dataset
from backend.policies.models import SamplingPolicy
from backend.web.display import short_sha
from backend.web.pages import render_page, team_page
from workers.engine.strategies import STRATEGIES


def _policy_row(policy: SamplingPolicy) -> dict:
    strategy = STRATEGIES.get(policy.strategy)
    return {
        "policy": policy,
        "family": strategy.family if strategy else "unknown",
        "params": [f"{key} = {value}" for key, value in sorted(policy.params.items())],
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
    team, membership = team_page(request, slug)
    builtin = [_policy_row(policy) for policy in SamplingPolicy.objects.filter(team=None).order_by("name")]
    own = [_policy_row(policy) for policy in SamplingPolicy.objects.filter(team=team).order_by("name")]
    return render_page(
        request, "policies/list.html", team=team, membership=membership, builtin_rows=builtin, team_rows=own
    )

"""An experiment's page with its comparisons and live runs table, creation, and cancelling."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from backend.errors import ApplicationError
from backend.experiments import services
from backend.experiments.models import Experiment, Run, ShareLink
from backend.experiments.selectors import (
    experiment_share_links,
    experiments_with_status_counts,
    runs_with_progress,
    waiting_without_worker,
)
from backend.teams.access import Access, get_team_object
from backend.web.display import annotated_status_counts, budget_label, run_rows
from backend.web.forms import ExperimentCreateForm, add_service_error
from backend.web.pages import remember_team, render_page, team_page
from backend.web.views.comparison import comparison_context
from workers.engine.errors import ConfigError


def _experiment(request: HttpRequest, pk: int, access: Access = Access.READ):
    queryset = experiments_with_status_counts(Experiment.objects.select_related("team", "dataset", "created_by"))
    return get_team_object(queryset, user=request.user, access=access, pk=pk)


def runs_context(experiment: Experiment, membership, *, share_link: ShareLink | None = None) -> dict[str, Any]:
    """What the runs table needs; under a share link it is read-only and polls and links through the link."""
    runs = runs_with_progress(experiment.runs.all()).order_by("policy__name", "budget", "seed")
    rows = run_rows(runs)
    if share_link is None:
        runs_url = reverse("experiment_runs", args=[experiment.pk])
    else:
        runs_url = reverse("share_experiment_runs", args=[share_link.token])
    return {
        "experiment": experiment,
        "membership": membership,
        "share_link": share_link,
        "read_only": share_link is not None or membership is None or not membership.can_write,
        "rows": rows,
        "runs_url": runs_url,
        "counts": annotated_status_counts(experiment),
        "waiting": waiting_without_worker(experiment.runs.all()),
        "polling": any(row.cancelable for row in rows),
    }


def body_context(experiment: Experiment, membership, *, query, share_link: ShareLink | None = None) -> dict[str, Any]:
    """The read-only body of the experiment page (``experiments/_body.html``): set-up, comparisons and runs."""
    return {
        "budgets": [budget_label(budget) for budget in experiment.budgets],
        "policies": experiment.policies.order_by("name"),
        "recipe": sorted(experiment.recipe.items()),
        **comparison_context(experiment, query, share_link=share_link),
        **runs_context(experiment, membership, share_link=share_link),
    }


@login_required
def experiment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    experiment, membership = _experiment(request, pk)
    remember_team(request, experiment.team)
    share_links = None
    if membership.can_manage:
        share_links = [
            (link, request.build_absolute_uri(reverse("share_experiment", args=[link.token])))
            for link in experiment_share_links(experiment)
        ]
    return render_page(
        request,
        "experiments/detail.html",
        team=experiment.team,
        share_links=share_links,
        **body_context(experiment, membership, query=request.GET),
    )


@login_required
def experiment_runs(request: HttpRequest, pk: int) -> HttpResponse:
    """The runs table alone, fetched by the page every few seconds while runs are active."""
    experiment, membership = _experiment(request, pk)
    return render(request, "experiments/_runs.html", runs_context(experiment, membership))


@login_required
def experiment_create(request: HttpRequest, slug: str) -> HttpResponse:
    team, membership = team_page(request, slug, access=Access.WRITE)
    form = ExperimentCreateForm(request.POST if request.method == "POST" else None, team=team)
    if form.is_bound and form.is_valid():
        try:
            experiment = services.experiment_create(team=team, user=request.user, **form.service_arguments())
        except (ApplicationError, ConfigError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Created {experiment.name} with {experiment.runs.count()} runs.")
            return redirect("experiment_detail", pk=experiment.pk)
    status = 400 if form.is_bound else 200
    return render_page(request, "experiments/create.html", team=team, membership=membership, form=form, status=status)


@login_required
@require_POST
def experiment_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    experiment, _ = _experiment(request, pk, access=Access.WRITE)
    withdrawal = services.experiment_cancel(experiment=experiment, user=request.user)
    message = f"Canceled {withdrawal.cells} run{'' if withdrawal.cells == 1 else 's'}."
    if withdrawal.shared:
        message += f" {withdrawal.shared} of them keep running for other experiments that share them."
    messages.success(request, message)
    return redirect("experiment_detail", pk=experiment.pk)


@login_required
@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run, _ = get_team_object(
        Run.objects.select_related("experiment", "policy", "execution"),
        user=request.user,
        access=Access.WRITE,
        team_field="experiment__team_id",
        pk=pk,
    )
    try:
        services.run_cancel(run=run, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"Canceled the run of {run.policy.name} at {budget_label(run.budget)}, seed {run.seed}."
        )
    return redirect("experiment_detail", pk=run.experiment_id)

"""An experiment's page with its comparisons and live runs table; creating, cloning, extending, previewing,
retrying, cancelling and deleting."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from backend.errors import ApplicationError
from backend.experiments import selectors, services
from backend.experiments.models import Experiment, Run, ShareLink
from backend.experiments.selectors import (
    experiment_share_links,
    experiments_with_status_counts,
    runs_with_progress,
    waiting_without_worker,
)
from backend.teams.access import Access, get_team_object
from backend.web.display import annotated_status_counts, budget_label, run_rows, seconds
from backend.web.forms import ExperimentCreateForm, ExperimentExtendForm, add_service_error, experiment_form_initial
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


def _runs_added(count: int, reused: int) -> str:
    text = f"{count} run{'' if count == 1 else 's'}"
    return f"{text} ({reused} reusing earlier executions)" if reused else text


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
    preview_url = reverse("experiment_create_preview", args=[team.slug])
    return render_page(
        request,
        "experiments/create.html",
        team=team,
        membership=membership,
        form=form,
        preview_url=preview_url,
        status=status,
    )


@login_required
def experiment_clone(request: HttpRequest, pk: int) -> HttpResponse:
    """The create form, prefilled with the experiment's configuration; recipe settings it does not show are kept."""
    source, membership = _experiment(request, pk, access=Access.WRITE)
    data = request.POST if request.method == "POST" else None
    form = ExperimentCreateForm(data, team=source.team, initial=experiment_form_initial(source))
    if form.is_bound and form.is_valid():
        try:
            experiment = services.experiment_clone(experiment=source, user=request.user, **form.service_arguments())
        except (ApplicationError, ConfigError) as error:
            add_service_error(form, error)
        else:
            reused = experiment.runs.filter(reused=True).count()
            messages.success(request, f"Created {experiment.name} with {_runs_added(experiment.runs.count(), reused)}.")
            return redirect("experiment_detail", pk=experiment.pk)
    return render_page(
        request,
        "experiments/create.html",
        team=source.team,
        membership=membership,
        form=form,
        source=source,
        preview_url=reverse("experiment_clone_preview", args=[source.pk]),
        status=400 if form.is_bound else 200,
    )


@login_required
def experiment_extend(request: HttpRequest, pk: int) -> HttpResponse:
    experiment, membership = _experiment(request, pk, access=Access.WRITE)
    form = ExperimentExtendForm(request.POST if request.method == "POST" else None, experiment=experiment)
    if form.is_bound and form.is_valid():
        try:
            extension = services.experiment_extend(experiment=experiment, user=request.user, **form.service_arguments())
        except (ApplicationError, ConfigError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Added {_runs_added(extension.created, extension.reused)} to {experiment.name}.")
            return redirect("experiment_detail", pk=experiment.pk)
    return render_page(
        request,
        "experiments/extend.html",
        team=experiment.team,
        membership=membership,
        experiment=experiment,
        form=form,
        budgets=[budget_label(budget) for budget in experiment.budgets],
        policies=experiment.policies.order_by("name"),
        preview_url=reverse("experiment_extend_preview", args=[experiment.pk]),
        status=400 if form.is_bound else 200,
    )


# Fields a preview does without: they change no run.
UNPREVIEWED_FIELDS = ("name", "description")


def _labelled(form, field: str | None, message: str) -> str:
    """``message`` after the label of the form field it is about (``recipe.lr`` is the ``lr`` field)."""
    name = (field or "").removeprefix("recipe.")
    if name in form.fields:
        return f"{form[name].label}: {message}"
    return f"{field}: {message}" if field and field != NON_FIELD_ERRORS else message


def _preview_fragment(request: HttpRequest, form, preview) -> HttpResponse:
    """The form's preview card: what ``preview(form)`` counts and estimates, or the first thing to fix."""
    errors = [(field, errors[0]) for field, errors in form.errors.items() if field not in UNPREVIEWED_FIELDS]
    if errors:
        return render(request, "experiments/_preview.html", {"problem": _labelled(form, *errors[0])})
    try:
        result = preview(form)
    except (ApplicationError, ConfigError) as error:
        return render(request, "experiments/_preview.html", {"problem": _labelled(form, error.field, error.message)})
    return render(
        request, "experiments/_preview.html", {"preview": result, "estimate": seconds(result.estimated_seconds)}
    )


@login_required
@require_POST
def experiment_create_preview(request: HttpRequest, slug: str) -> HttpResponse:
    team, _ = team_page(request, slug, access=Access.WRITE)
    form = ExperimentCreateForm(request.POST, team=team)
    return _preview_fragment(
        request, form, lambda form: selectors.experiment_preview(team=team, **form.grid_arguments())
    )


@login_required
@require_POST
def experiment_clone_preview(request: HttpRequest, pk: int) -> HttpResponse:
    source, _ = _experiment(request, pk, access=Access.WRITE)
    form = ExperimentCreateForm(request.POST, team=source.team)
    return _preview_fragment(
        request, form, lambda form: selectors.experiment_clone_preview(experiment=source, **form.grid_arguments())
    )


@login_required
@require_POST
def experiment_extend_preview(request: HttpRequest, pk: int) -> HttpResponse:
    experiment, _ = _experiment(request, pk, access=Access.WRITE)
    form = ExperimentExtendForm(request.POST, experiment=experiment)
    return _preview_fragment(
        request,
        form,
        lambda form: selectors.experiment_extend_preview(experiment=experiment, **form.service_arguments()),
    )


@login_required
@require_POST
def experiment_retry_failed(request: HttpRequest, pk: int) -> HttpResponse:
    experiment, _ = _experiment(request, pk, access=Access.WRITE)
    retry = services.experiment_retry_failed(experiment=experiment, user=request.user)
    if retry.cells:
        messages.success(request, f"Queued {retry.cells} failed run{'' if retry.cells == 1 else 's'} again.")
    else:
        messages.info(request, "No run has failed.")
    return redirect("experiment_detail", pk=experiment.pk)


@login_required
def experiment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """A confirmation page saying what goes and what stays; deleting is its POST."""
    experiment, membership = _experiment(request, pk, access=Access.WRITE)
    if request.method == "POST":
        deletion = services.experiment_delete(experiment=experiment, user=request.user)
        message = f"Deleted {experiment.name} and its {deletion.runs} run{'' if deletion.runs == 1 else 's'}."
        if deletion.executions_kept:
            message += f" {deletion.executions_kept} shared with other experiments stay for them."
        messages.success(request, message)
        return redirect("team_dashboard", slug=experiment.team.slug)
    return render_page(
        request,
        "experiments/delete.html",
        team=experiment.team,
        membership=membership,
        experiment=experiment,
        deletion=services.experiment_deletion(experiment),
    )


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


@login_required
@require_POST
def run_retry(request: HttpRequest, pk: int) -> HttpResponse:
    run, _ = get_team_object(
        Run.objects.select_related("experiment", "policy", "execution"),
        user=request.user,
        access=Access.WRITE,
        team_field="experiment__team_id",
        pk=pk,
    )
    try:
        services.run_retry(run=run, user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"Queued the run of {run.policy.name} at {budget_label(run.budget)}, seed {run.seed} again."
        )
    return redirect("run_detail", pk=run.pk)

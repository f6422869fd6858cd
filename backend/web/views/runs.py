"""A run's page: status and attempts, config, provenance, timings, curves, error, confusion matrix."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from backend.experiments.models import ACTIVE_RUN_STATUSES, Run, RunStatus, ShareLink
from backend.experiments.selectors import (
    execution_attempts,
    execution_curve_rows,
    experiments_sharing_execution,
    run_confusion,
    runs_with_progress,
)
from backend.teams.access import get_team_object
from backend.web.display import MISSING, budget_label, data_used, percent, progress_label, seconds
from backend.web.pages import remember_team, render_page

# The last lines of a failure's traceback say what went wrong; the rest is the engine's call stack.
ERROR_TAIL_LINES = 25
PLOT_FORMATS = ("json", "png", "svg", "csv")
# Past this many classes the matrix is too wide to read on a page (the API still serves it whole).
MATRIX_CLASS_LIMIT = 40
PLOT_CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml", "csv": "text/csv; charset=utf-8"}


def run_page_queryset():
    return runs_with_progress(Run.objects.select_related("experiment__team", "experiment__dataset"))


def _member_run(request: HttpRequest, pk: int):
    return get_team_object(run_page_queryset(), user=request.user, team_field="experiment__team_id", pk=pk)


def error_tail(error: str, *, lines: int = ERROR_TAIL_LINES) -> str:
    return "\n".join(error.rstrip().splitlines()[-lines:])


def _count(value: int | None) -> str:
    return MISSING if value is None else str(value)


def _timings(execution) -> list[tuple[str, str]]:
    parts = [execution.selection_seconds, execution.training_seconds, execution.evaluation_seconds]
    total = None if all(part is None for part in parts) else sum(part or 0.0 for part in parts)
    return [
        ("Selection", seconds(execution.selection_seconds)),
        ("Training", seconds(execution.training_seconds)),
        ("Evaluation", seconds(execution.evaluation_seconds)),
        ("Total", seconds(total)),
    ]


def _provenance(execution) -> list[tuple[str, str]]:
    return [
        ("Engine", execution.engine_version or MISSING),
        ("Engine commit", execution.engine_commit or MISSING),
        ("PyTorch", execution.torch_version or MISSING),
        ("Device kind", execution.get_device_kind_display()),
        ("Device", execution.device_name or MISSING),
    ]


def plot_url(run: Run, fmt: str, share_link: ShareLink | None = None) -> str:
    if share_link is None:
        return reverse("run_curves_plot", args=[run.pk, fmt])
    return reverse("share_run_curves_plot", args=[share_link.token, run.pk, fmt])


def status_url(run: Run, share_link: ShareLink | None = None) -> str:
    if share_link is None:
        return reverse("run_status_fragment", args=[run.pk])
    return reverse("share_run_status_fragment", args=[share_link.token, run.pk])


def run_context(run: Run, *, share_link: ShareLink | None = None) -> dict[str, Any]:
    """Everything ``runs/_body.html`` shows; under a share link nothing points outside the experiment."""
    execution = run.execution
    status = run.status
    confusion = run_confusion(run)
    per_class = []
    show_matrix = False
    if confusion.confusion is not None:
        show_matrix = len(confusion.confusion.class_names) <= MATRIX_CLASS_LIMIT
        per_class = [
            (row, percent(row.accuracy), confusion.confusion.matrix[index] if show_matrix else [])
            for index, row in enumerate(confusion.confusion.per_class)
        ]
    return {
        "run": run,
        "execution": execution,
        "experiment": run.experiment,
        "share_link": share_link,
        "run_status": status,
        "run_status_label": RunStatus(status).label,
        "progress": progress_label(run),
        "polling": status in ACTIVE_RUN_STATUSES,
        "status_url": status_url(run, share_link),
        "budget": budget_label(run.budget),
        "data_used": data_used(run.data_fraction, run.budget),
        "final_accuracy": percent(execution.final_accuracy),
        "best_accuracy": percent(execution.best_accuracy),
        "time_to_target": seconds(run.time_to_target_seconds),
        "rounds": f"{_count(execution.rounds_completed)} / {_count(execution.rounds_planned)}",
        "attempts": list(execution_attempts(execution)),
        "config": json.dumps(execution.config, indent=2, sort_keys=True),
        "provenance": _provenance(execution),
        "timings": _timings(execution),
        # Other experiments are the team's business; a share link shows only that the work was shared.
        "sharing_experiments": [] if share_link else list(experiments_sharing_execution(run)),
        "plot_urls": {fmt: plot_url(run, fmt, share_link) for fmt in PLOT_FORMATS},
        "error_tail": error_tail(execution.error) if execution.error else "",
        "confusion": confusion.confusion,
        "confusion_reason": confusion.reason,
        "per_class": per_class,
        "show_matrix": show_matrix,
        "matrix_class_limit": MATRIX_CLASS_LIMIT,
    }


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run, membership = _member_run(request, pk)
    team = run.experiment.team
    remember_team(request, team)
    return render_page(request, "runs/detail.html", team=team, membership=membership, **run_context(run))


def status_fragment(request: HttpRequest, run: Run, share_link: ShareLink | None = None) -> HttpResponse:
    """The status card alone, polled while the run is active; once it has finished, the whole page reloads.

    The page says which status it shows (``shown``); the curves, error and
    confusion matrix it rendered are stale once that status is no longer active.
    """
    context = run_context(run, share_link=share_link)
    response = render(request, "runs/_status.html", context)
    if request.GET.get("shown") in ACTIVE_RUN_STATUSES and not context["polling"]:
        response["HX-Refresh"] = "true"
    return response


@login_required
def run_status_fragment(request: HttpRequest, pk: int) -> HttpResponse:
    run, _ = _member_run(request, pk)
    return status_fragment(request, run)


def curves_response(run: Run, fmt: str) -> HttpResponse:
    """The run's learning curves as a Vega-Lite spec (json), an image (png, svg) or their data (csv)."""
    from backend.experiments import plots

    rows = execution_curve_rows(run.execution)
    if fmt == "csv":
        response = HttpResponse(plots.rows_to_csv(rows), content_type=PLOT_CONTENT_TYPES["csv"])
    else:
        spec = plots.run_curves(rows)
        if fmt == "json":
            return JsonResponse(spec)
        response = HttpResponse(plots.render(spec, fmt), content_type=PLOT_CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="run-{run.pk}-curves.{fmt}"'
    return response


@login_required
def run_curves_plot(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    run, _ = _member_run(request, pk)
    return curves_response(run, fmt)

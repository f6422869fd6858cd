"""A dataset's page: what it holds, its class counts and examples, the experiments that use it, and deleting it."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from backend.datasets import previews
from backend.datasets.models import Dataset, DatasetStatus
from backend.datasets.selectors import dataset_experiments
from backend.datasets.services import dataset_delete
from backend.errors import ApplicationError
from backend.teams.access import Access, get_team_object
from backend.web.display import annotated_status_counts
from backend.web.pages import remember_team, render_page
from workers.engine.errors import DatasetError

logger = logging.getLogger(__name__)

PLOT_FORMATS = ("json", "png", "svg", "csv")
PLOT_CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml", "csv": "text/csv; charset=utf-8"}
# A preview never changes for a given dataset (its content is fixed by its SHA-256).
PREVIEW_MAX_AGE_SECONDS = 24 * 3600
PREVIEW_UNREADABLE = "The stored arrays of this dataset cannot be read, so no examples can be shown."


def _dataset(request: HttpRequest, pk: int, access: Access = Access.READ):
    return get_team_object(
        Dataset.objects.select_related("team", "created_by"), user=request.user, access=access, team_field="team", pk=pk
    )


def _ready_preview(dataset: Dataset) -> previews.DatasetPreview | None:
    """The dataset's examples, drawn on first view; None (logged) if its stored arrays cannot be read."""
    try:
        return previews.dataset_preview(sha256=dataset.sha256, data_dir=settings.SAMPLEWISE_DATA_DIR)
    except DatasetError as error:
        logger.warning("dataset %s: no preview: %s", dataset.pk, error)
        return None


def _class_rows(dataset: Dataset, preview: previews.DatasetPreview | None) -> list[dict[str, Any]]:
    """The first classes with their counts and, where the preview drew one, their strip of examples."""
    shown = preview.classes if preview else []
    limit = previews.MAX_PREVIEW_CLASSES
    names, counts = dataset.class_names[:limit], dataset.class_counts[:limit]
    return [
        {
            "name": name,
            "train_count": count,
            "preview": shown[index] if index < len(shown) else None,
            "image_url": reverse("dataset_samples", args=[dataset.pk, index]),
        }
        for index, (name, count) in enumerate(zip(names, counts, strict=False))
    ]


def _experiment_rows(dataset: Dataset) -> list[dict[str, Any]]:
    return [
        {"experiment": experiment, "counts": annotated_status_counts(experiment)}
        for experiment in dataset_experiments(dataset)
    ]


def detail_context(dataset: Dataset) -> dict[str, Any]:
    ready = dataset.status == DatasetStatus.READY
    preview = _ready_preview(dataset) if ready else None
    return {
        "dataset": dataset,
        "ready": ready,
        "input_shape": " × ".join(str(size) for size in dataset.input_shape) or "—",
        "preview": preview,
        "preview_error": PREVIEW_UNREADABLE if ready and preview is None else "",
        "class_rows": _class_rows(dataset, preview) if ready else [],
        "more_classes": max(0, dataset.num_classes - previews.MAX_PREVIEW_CLASSES),
        "plot_urls": {fmt: reverse("dataset_class_counts_plot", args=[dataset.pk, fmt]) for fmt in PLOT_FORMATS},
        "experiment_rows": _experiment_rows(dataset),
    }


@login_required
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset, membership = _dataset(request, pk)
    remember_team(request, dataset.team)
    return render_page(
        request, "datasets/detail.html", team=dataset.team, membership=membership, **detail_context(dataset)
    )


@login_required
def dataset_samples(request: HttpRequest, pk: int, class_index: int) -> HttpResponse:
    """One class's examples as a PNG, drawn from the stored arrays on first request and served from disk after."""
    dataset, _ = _dataset(request, pk)
    if dataset.status != DatasetStatus.READY:
        raise Http404("The dataset is not ready.")
    try:
        path = previews.preview_image(
            sha256=dataset.sha256, data_dir=settings.SAMPLEWISE_DATA_DIR, class_index=class_index
        )
    except DatasetError as error:
        logger.warning("dataset %s: no preview: %s", dataset.pk, error)
        raise Http404(PREVIEW_UNREADABLE) from None
    if path is None:
        raise Http404("No examples of this class.")
    response = FileResponse(path.open("rb"), content_type="image/png")
    response["Cache-Control"] = f"private, max-age={PREVIEW_MAX_AGE_SECONDS}"
    return response


@login_required
def dataset_class_counts_plot(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """The class counts as a Vega-Lite spec (json), an image (png, svg) or their data (csv)."""
    from backend.experiments import plots

    dataset, _ = _dataset(request, pk)
    if fmt == "csv":
        rows = previews.class_count_rows(dataset.class_names, dataset.class_counts)
        response = HttpResponse(plots.rows_to_csv(rows), content_type=PLOT_CONTENT_TYPES["csv"])
    else:
        spec = previews.class_counts_chart(dataset.class_names, dataset.class_counts)
        if fmt == "json":
            return JsonResponse(spec)
        response = HttpResponse(plots.render(spec, fmt), content_type=PLOT_CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="dataset-{dataset.pk}-class-counts.{fmt}"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def dataset_delete_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation (or says why it cannot be deleted); POST deletes."""
    dataset, membership = _dataset(request, pk, access=Access.WRITE)
    team = dataset.team
    error, status = "", 200
    if request.method == "POST":
        try:
            dataset_delete(dataset=dataset, user=request.user)
        except ApplicationError as refusal:
            error, status = refusal.message, refusal.status_code
        else:
            messages.success(request, f"Deleted the dataset {dataset.name}.")
            return redirect("team_datasets", slug=team.slug)
    rows = _experiment_rows(dataset)
    return render_page(
        request,
        "datasets/delete.html",
        team=team,
        membership=membership,
        status=status,
        dataset=dataset,
        error=error,
        experiment_rows=rows,
    )

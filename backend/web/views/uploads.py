"""Uploading a dataset: the form, the upload itself (answered at once, imported by a worker), and its import's state.

The page's script sends the file with XMLHttpRequest (asking for JSON) to show the
transfer's progress, then polls the import's state; without the script the form posts
as usual. The team's access and the size limit are checked before the body is read,
so the CSRF check, which reads a form body, runs after them.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from backend.datasets.models import Dataset
from backend.datasets.services import dataset_import_upload
from backend.datasets.uploads import upload_intake
from backend.errors import ApplicationError
from backend.teams.access import Access, get_team_object
from backend.teams.models import Membership, Team
from backend.web.forms import DatasetUploadForm, add_service_error
from backend.web.pages import render_page, team_page

# How often the page asks how the import is going.
POLL_MILLISECONDS = 1000


def import_state(dataset: Dataset) -> dict:
    return {
        "id": dataset.pk,
        "name": dataset.name,
        "status": dataset.status,
        "status_label": dataset.get_status_display(),
        "progress": dataset.progress,
        "stage": dataset.stage,
        "error": dataset.error,
        "status_url": reverse("dataset_import_status", args=[dataset.pk]),
    }


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _render_form(
    request: HttpRequest, team: Team, membership: Membership, form: DatasetUploadForm, *, refused: str = "", status=200
) -> HttpResponse:
    config = {"maxBytes": settings.SAMPLEWISE_MAX_UPLOAD_BYTES, "pollMilliseconds": POLL_MILLISECONDS}
    return render_page(
        request,
        "datasets/upload.html",
        team=team,
        membership=membership,
        form=form,
        refused=refused,
        upload_config=config,
        status=status,
    )


def _error_response(errors: dict[str, list[str]], status: int) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


def _form_errors(form: DatasetUploadForm) -> dict[str, list[str]]:
    return {field: [error["message"] for error in errors] for field, errors in form.errors.get_json_data().items()}


@csrf_exempt
@login_required
def dataset_upload(request: HttpRequest, slug: str) -> HttpResponse:
    team, membership = team_page(request, slug, access=Access.WRITE)
    if request.method != "POST":
        return _render_form(request, team, membership, DatasetUploadForm())
    try:
        upload_intake(request)
    except ApplicationError as error:
        if _wants_json(request):
            return _error_response({"file": [error.message]}, error.status_code)
        return _render_form(request, team, membership, DatasetUploadForm(), refused=error.message, status=413)
    return _receive_upload(request, team, membership)


@csrf_protect
def _receive_upload(request: HttpRequest, team: Team, membership: Membership) -> HttpResponse:
    form = DatasetUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            dataset = dataset_import_upload(team=team, user=request.user, **form.service_arguments())
        except ApplicationError as error:
            add_service_error(form, error)
            status = error.status_code
        else:
            if _wants_json(request):
                return JsonResponse(import_state(dataset), status=202)
            messages.success(request, f"Uploaded {dataset.name}; it is being imported and shows as ready when done.")
            return redirect("team_datasets", team.slug)
    else:
        status = 400
    if _wants_json(request):
        return _error_response(_form_errors(form), status)
    return _render_form(request, team, membership, form, status=status)


@login_required
def dataset_import_status(request: HttpRequest, pk: int) -> JsonResponse:
    dataset, _ = get_team_object(Dataset, user=request.user, team_field="team_id", pk=pk)
    return JsonResponse(import_state(dataset))

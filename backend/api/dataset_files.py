"""Canonical dataset files by SHA-256, for workers on machines that share no filesystem with the web app."""

from __future__ import annotations

import hmac
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import FileResponse, Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    TokenAuthentication,
    get_authorization_header,
)
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from backend.api.schema import NOT_FOUND
from backend.api.selectors import datasets_visible_to
from backend.datasets.models import Dataset
from workers.engine.datasets import dataset_path

WORKER_CREDENTIAL = "samplewise-worker"


class WorkerTokenAuthentication(BaseAuthentication):
    """``Authorization: Token <SAMPLEWISE_WORKER_TOKEN>``: a worker, acting for no user.

    Any other header falls through to the session and user-token authentication.
    """

    def authenticate(self, request: Request) -> tuple[AnonymousUser, str] | None:
        expected = settings.SAMPLEWISE_WORKER_TOKEN
        parts = get_authorization_header(request).split()
        if not expected or len(parts) != 2 or parts[0].lower() != b"token":
            return None
        if not hmac.compare_digest(parts[1], expected.encode()):
            return None
        return AnonymousUser(), WORKER_CREDENTIAL


class WorkerTokenScheme(OpenApiAuthenticationExtension):
    target_class = WorkerTokenAuthentication
    name = "workerToken"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'The shared worker secret, as "Token <SAMPLEWISE_WORKER_TOKEN>".',
        }


class IsWorkerOrAuthenticated(BasePermission):
    def has_permission(self, request: Request, view) -> bool:
        return request.auth == WORKER_CREDENTIAL or bool(request.user and request.user.is_authenticated)


class DatasetFileApi(APIView):
    authentication_classes = [WorkerTokenAuthentication, SessionAuthentication, TokenAuthentication]
    permission_classes = [IsWorkerOrAuthenticated]

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: NOT_FOUND},
        summary="Download a dataset's canonical .npz by its SHA-256",
    )
    def get(self, request: Request, sha256: str) -> FileResponse:
        # Workers may fetch any registered dataset; people only those of their teams.
        datasets = Dataset.objects.all() if request.auth == WORKER_CREDENTIAL else datasets_visible_to(request.user)
        if not datasets.filter(sha256=sha256).exists():
            raise Http404("No such dataset.")
        path = Path(dataset_path(sha256, settings.SAMPLEWISE_DATA_DIR))
        if not path.is_file():
            raise Http404("The dataset's file is not in this server's store.")
        return FileResponse(path.open("rb"), as_attachment=True, filename=f"{sha256}.npz")

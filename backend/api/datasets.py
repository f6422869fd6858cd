"""Datasets: list, read, create (built-in or uploaded) and delete.

An upload names its team in the query string (``POST /api/v1/datasets/?team=<id>``), so
the access check and the size limit are applied before the body is read; the body is
stored and imported by a worker, and the response is the pending dataset (202), whose
``status``, ``progress`` and ``stage`` the detail endpoint follows.
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.schema import BAD_INPUT, CONFLICT, FORBIDDEN, NOT_FOUND
from backend.api.selectors import datasets_visible_to, team_for_payload
from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus
from backend.datasets.services import dataset_create_builtin, dataset_delete, dataset_import_upload
from backend.datasets.uploads import upload_intake
from backend.errors import ApplicationError
from backend.teams.access import Access, get_team_object
from backend.teams.models import Team
from workers.engine.datasets import BUILTIN_DATASETS

TOO_LARGE = OpenApiResponse(
    description='The request declares more than SAMPLEWISE_MAX_UPLOAD_BYTES: {"file": ["message"]}, sent before '
    "the body is read."
)
UPLOAD_TEAM = OpenApiParameter(
    "team",
    int,
    OpenApiParameter.QUERY,
    required=False,
    description="Uploads (multipart) only, and required for them: the team the dataset belongs to. It is read "
    "from the query so that access is checked before the upload is.",
)


class DatasetOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)
    num_classes = serializers.IntegerField(read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "team",
            "name",
            "description",
            "format",
            "source",
            "status",
            "progress",
            "stage",
            "error",
            "sha256",
            "input_kind",
            "input_shape",
            "class_names",
            "class_counts",
            "num_classes",
            "train_size",
            "test_size",
            "created_by",
            "created_at",
        ]


class DatasetBuiltinInputSerializer(serializers.Serializer):
    team = serializers.IntegerField()
    name = serializers.CharField(max_length=100)
    builtin = serializers.ChoiceField(choices=list(BUILTIN_DATASETS.items()))
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetUploadInputSerializer(serializers.Serializer):
    team = serializers.IntegerField(
        required=False, help_text="Optional: the team is named in the query; if given here too, it must agree."
    )
    name = serializers.CharField(max_length=100)
    file = serializers.FileField(help_text="An image-folder archive (.zip, .tar.gz), an .npz or a CSV file.")
    label_column = serializers.CharField(
        required=False, allow_null=True, default=None, help_text='CSV only: the label column (default "label").'
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetFilter(django_filters.FilterSet):
    # Plain ids rather than model choices, so another team's id reads as "no rows", not as a validation error.
    team = django_filters.NumberFilter(field_name="team_id")
    status = django_filters.ChoiceFilter(choices=DatasetStatus.choices)
    format = django_filters.ChoiceFilter(choices=DatasetFormat.choices)

    class Meta:
        model = Dataset
        fields = ["team", "status", "format"]


class SessionAuthenticationCheckedLater(SessionAuthentication):
    """Session authentication whose CSRF check the view makes itself (``enforce_csrf_now``).

    Django's CSRF check reads a form body to find its token, so for an upload it
    runs after the access check and the size limit, which must come first.
    """

    def enforce_csrf(self, request: Request) -> None:
        return None

    def enforce_csrf_now(self, request: Request) -> None:
        super().enforce_csrf(request)


class SessionCheckedLaterScheme(SessionScheme):
    target_class = SessionAuthenticationCheckedLater
    # Its own name: the schema keeps one component per authentication class.
    name = "cookieAuthCsrfChecked"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            **super().get_security_definition(auto_schema),
            "description": "The session cookie, as cookieAuth; the CSRF token is checked after the access check "
            "and the size limit of an upload.",
        }


def _enforce_csrf(request: Request) -> None:
    authenticator = request.successful_authenticator
    if isinstance(authenticator, SessionAuthenticationCheckedLater):
        authenticator.enforce_csrf_now(request)


def _is_multipart(request: Request) -> bool:
    return (request.content_type or "").lower().startswith("multipart/")


class DatasetListCreateApi(generics.ListAPIView):
    authentication_classes = [SessionAuthenticationCheckedLater, TokenAuthentication]
    queryset = Dataset.objects.none()
    serializer_class = DatasetOutputSerializer
    parser_classes = [JSONParser, MultiPartParser]
    filter_backends = [DjangoFilterBackend, SearchFilter, OrderingFilter]
    filterset_class = DatasetFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "train_size"]

    def get_queryset(self) -> QuerySet[Dataset]:
        return datasets_visible_to(self.request.user)

    @extend_schema(
        request={
            "application/json": DatasetBuiltinInputSerializer,
            "multipart/form-data": DatasetUploadInputSerializer,
        },
        parameters=[UPLOAD_TEAM],
        responses={
            201: OpenApiResponse(DatasetOutputSerializer, description="The built-in dataset, ready."),
            202: OpenApiResponse(
                DatasetOutputSerializer,
                description="The upload is stored and its import queued: the dataset is pending. Follow its status "
                "(pending, importing with progress and stage, then ready or failed with the loader's error) at "
                "/api/v1/datasets/{id}/.",
            ),
            400: BAD_INPUT,
            403: FORBIDDEN,
            413: TOO_LARGE,
        },
        summary="Create a built-in dataset (JSON) or upload a file to import (multipart, ?team=<id>)",
        examples=[
            OpenApiExample("Built-in", value={"team": 1, "name": "MNIST-1D", "builtin": "mnist1d"}, request_only=True)
        ],
    )
    def post(self, request: Request) -> Response:
        if _is_multipart(request):
            team = self._upload_team(request)
            upload_intake(request._request)
            _enforce_csrf(request)
            dataset = self._import_upload(request, team)
            return Response(DatasetOutputSerializer(dataset).data, status=status.HTTP_202_ACCEPTED)
        _enforce_csrf(request)
        if "builtin" in request.data and "file" in request.data:
            raise ApplicationError("Give either a built-in dataset or a file, not both.", field="builtin")
        if "file" in request.data:
            raise ApplicationError("Upload files as multipart/form-data, with ?team=<id> in the query.", field="file")
        if "builtin" not in request.data:
            raise ApplicationError("Upload a file, or name a built-in dataset in 'builtin'.", field="file")
        dataset = self._create_builtin(request)
        return Response(DatasetOutputSerializer(dataset).data, status=status.HTTP_201_CREATED)

    def _upload_team(self, request: Request) -> Team:
        """The team named in the query, checked for write access; nothing of the body is read."""
        team_id = request.query_params.get("team", "")
        if not team_id:
            raise ApplicationError(
                "Name the team in the query (?team=<id>): an upload's access is checked before its body is read.",
                field="team",
            )
        if not team_id.isdigit():
            raise ApplicationError("A valid integer is required.", field="team")
        return team_for_payload(user=request.user, team_id=int(team_id), access=Access.WRITE)

    def _create_builtin(self, request: Request) -> Dataset:
        serializer = DatasetBuiltinInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = team_for_payload(user=request.user, team_id=data["team"], access=Access.WRITE)
        return dataset_create_builtin(
            team=team, user=request.user, name=data["name"], builtin=data["builtin"], description=data["description"]
        )

    def _import_upload(self, request: Request, team: Team) -> Dataset:
        if "builtin" in request.data:
            raise ApplicationError("Create built-in datasets with a JSON body, not an upload.", field="builtin")
        serializer = DatasetUploadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("team", team.pk) != team.pk:
            raise ApplicationError("The body names another team than the query.", field="team")
        return dataset_import_upload(
            team=team,
            user=request.user,
            name=data["name"],
            upload=data["file"],
            label_column=data["label_column"],
            description=data["description"],
        )


class DatasetDetailApi(APIView):
    @extend_schema(responses={200: DatasetOutputSerializer, 404: NOT_FOUND})
    def get(self, request: Request, dataset_id: int) -> Response:
        dataset, _ = get_team_object(
            datasets_visible_to(request.user), user=request.user, team_field="team_id", pk=dataset_id
        )
        return Response(DatasetOutputSerializer(dataset).data)

    @extend_schema(
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT},
        summary="Delete a dataset that no experiment uses",
    )
    def delete(self, request: Request, dataset_id: int) -> Response:
        dataset, _ = get_team_object(
            Dataset, user=request.user, access=Access.WRITE, team_field="team_id", pk=dataset_id
        )
        dataset_delete(dataset=dataset, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

"""Datasets: list, read, create (built-in or uploaded) and delete."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.schema import BAD_INPUT, CONFLICT, FORBIDDEN, NOT_FOUND
from backend.api.selectors import datasets_visible_to, team_for_payload
from backend.datasets.models import Dataset, DatasetFormat, DatasetStatus
from backend.datasets.services import dataset_create_builtin, dataset_delete, dataset_import_upload
from backend.errors import ApplicationError
from backend.teams.access import Access, get_team_object
from workers.engine.datasets import BUILTIN_DATASETS


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
            "error",
            "sha256",
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
    team = serializers.IntegerField()
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


class DatasetListCreateApi(generics.ListAPIView):
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
        responses={201: DatasetOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN},
        summary="Create a built-in dataset (JSON) or import an uploaded file (multipart)",
        examples=[
            OpenApiExample("Built-in", value={"team": 1, "name": "MNIST-1D", "builtin": "mnist1d"}, request_only=True)
        ],
    )
    def post(self, request: Request) -> Response:
        if "builtin" in request.data and "file" in request.data:
            raise ApplicationError("Give either a built-in dataset or a file, not both.", field="builtin")
        if "builtin" in request.data:
            dataset = self._create_builtin(request)
        elif "file" in request.data:
            dataset = self._import_upload(request)
        else:
            raise ApplicationError("Upload a file, or name a built-in dataset in 'builtin'.", field="file")
        return Response(DatasetOutputSerializer(dataset).data, status=status.HTTP_201_CREATED)

    def _create_builtin(self, request: Request) -> Dataset:
        serializer = DatasetBuiltinInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = team_for_payload(user=request.user, team_id=data["team"], access=Access.WRITE)
        return dataset_create_builtin(
            team=team, user=request.user, name=data["name"], builtin=data["builtin"], description=data["description"]
        )

    def _import_upload(self, request: Request) -> Dataset:
        serializer = DatasetUploadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = team_for_payload(user=request.user, team_id=data["team"], access=Access.WRITE)
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

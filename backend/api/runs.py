"""Runs: one (policy, budget, seed) cell of an experiment, its cancellation and learning curve."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.schema import CONFLICT, FORBIDDEN, NOT_FOUND
from backend.api.selectors import runs_visible_to
from backend.experiments.execution import METRIC_FIELDS, RESULT_FIELDS
from backend.experiments.models import Queue, Run, RunMetric, RunStatus
from backend.experiments.selectors import run_metrics
from backend.experiments.services import run_cancel
from backend.teams.access import Access, get_team_object


def _from_source(field_class: type[serializers.Field], name: str, **kwargs) -> serializers.Field:
    """A result field read from the run whose results this run shows (the original when reused)."""
    return field_class(source=f"source.{name}", read_only=True, allow_null=True, **kwargs)


class RunOutputSerializer(serializers.ModelSerializer):
    policy_name = serializers.CharField(source="policy.name", read_only=True)
    strategy = serializers.CharField(source="policy.strategy", read_only=True)
    selection_seconds = _from_source(serializers.FloatField, "selection_seconds")
    training_seconds = _from_source(serializers.FloatField, "training_seconds")
    evaluation_seconds = _from_source(serializers.FloatField, "evaluation_seconds")
    final_accuracy = _from_source(serializers.FloatField, "final_accuracy")
    best_accuracy = _from_source(serializers.FloatField, "best_accuracy")
    time_to_target_seconds = _from_source(serializers.FloatField, "time_to_target_seconds")
    samples_trained = _from_source(serializers.IntegerField, "samples_trained")

    class Meta:
        model = Run
        fields = [
            "id",
            "experiment",
            "policy",
            "policy_name",
            "strategy",
            "budget",
            "seed",
            "status",
            "queue",
            "config_hash",
            "reused_from",
            "attempt",
            "resumed_from_round",
            "worker",
            "queued_at",
            "started_at",
            "finished_at",
            *RESULT_FIELDS,
            "heartbeat_at",
            "error",
            "config",
        ]


class RunMetricOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunMetric
        fields = ["epoch", *METRIC_FIELDS]


class RunFilter(django_filters.FilterSet):
    experiment = django_filters.NumberFilter(field_name="experiment_id")
    policy = django_filters.NumberFilter(field_name="policy_id")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    queue = django_filters.ChoiceFilter(choices=Queue.choices)
    budget = django_filters.NumberFilter()
    seed = django_filters.NumberFilter()

    class Meta:
        model = Run
        fields = ["experiment", "policy", "status", "queue", "budget", "seed"]


class RunListApi(generics.ListAPIView):
    queryset = Run.objects.none()
    serializer_class = RunOutputSerializer
    filterset_class = RunFilter
    ordering_fields = [
        "id",
        "budget",
        "seed",
        "status",
        "queued_at",
        "started_at",
        "finished_at",
        "final_accuracy",
        "best_accuracy",
        "time_to_target_seconds",
    ]

    def get_queryset(self) -> QuerySet[Run]:
        return runs_visible_to(self.request.user)


def _run(request: Request, run_id: int, access: Access = Access.READ) -> Run:
    run, _ = get_team_object(
        runs_visible_to(request.user).select_related("experiment"),
        user=request.user,
        access=access,
        team_field="experiment__team_id",
        pk=run_id,
    )
    return run


class RunDetailApi(APIView):
    @extend_schema(responses={200: RunOutputSerializer, 404: NOT_FOUND})
    def get(self, request: Request, run_id: int) -> Response:
        return Response(RunOutputSerializer(_run(request, run_id)).data)


class RunCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: RunOutputSerializer, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT},
        summary="Cancel a queued or running run",
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = run_cancel(run=_run(request, run_id, Access.WRITE), user=request.user)
        return Response(RunOutputSerializer(run).data)


class RunMetricListApi(generics.ListAPIView):
    """The run's learning curve, one row per evaluation; a reused run shows the original's."""

    queryset = RunMetric.objects.none()
    serializer_class = RunMetricOutputSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[RunMetric]:
        return run_metrics(_run(self.request, self.kwargs["run_id"]))

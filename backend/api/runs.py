"""Runs: one (policy, budget, seed) cell of an experiment, read through the execution it points at."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.filters import MappedOrderingFilter
from backend.api.schema import CONFLICT, FORBIDDEN, NOT_FOUND
from backend.api.selectors import runs_visible_to
from backend.experiments.execution import METRIC_FIELDS, RESULT_FIELDS
from backend.experiments.models import Attempt, Queue, Run, RunMetric, RunStatus, run_status_filter
from backend.experiments.selectors import execution_attempts, execution_metrics, run_confusion, runs_with_progress
from backend.experiments.services import run_cancel
from backend.teams.access import Access, get_team_object


def _of_execution(field_class: type[serializers.Field], name: str, **kwargs) -> serializers.Field:
    """A field read from the execution the cell points at."""
    return field_class(source=f"execution.{name}", read_only=True, allow_null=True, **kwargs)


class ProvenanceOutputSerializer(serializers.Serializer):
    engine_version = serializers.CharField()
    engine_commit = serializers.CharField()
    torch_version = serializers.CharField()
    device_kind = serializers.CharField()
    device_name = serializers.CharField(help_text='e.g. "cpu" or "cuda:NVIDIA H200"; empty until a worker claims it.')


class RunOutputSerializer(serializers.ModelSerializer):
    policy_name = serializers.CharField(source="policy.name", read_only=True)
    strategy = serializers.CharField(source="policy.strategy", read_only=True)
    status = serializers.ChoiceField(
        choices=RunStatus.choices,
        read_only=True,
        help_text="The execution's status; a withdrawn cell of an unfinished execution reads canceled.",
    )
    queue = serializers.ChoiceField(choices=Queue.choices, source="execution.queue", read_only=True)
    config_hash = serializers.CharField(source="execution.key_hash", read_only=True)
    reused = serializers.BooleanField(
        read_only=True, help_text="The execution already existed when this run was created: its work is shared."
    )
    time_to_target_seconds = serializers.FloatField(
        read_only=True, allow_null=True, help_text="Read from the curve for the experiment's target accuracy."
    )
    data_fraction = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="Fraction of the training set used per round of the recipe, as trained; null until it succeeds.",
    )
    provenance = ProvenanceOutputSerializer(source="execution", read_only=True)
    attempt = _of_execution(serializers.IntegerField, "attempt", help_text="The lease number of the latest claim.")
    resumed_from_round = _of_execution(serializers.IntegerField, "resumed_from_round")
    worker = _of_execution(serializers.CharField, "worker")
    queued_at = _of_execution(serializers.DateTimeField, "queued_at")
    started_at = _of_execution(serializers.DateTimeField, "started_at")
    finished_at = _of_execution(serializers.DateTimeField, "finished_at")
    heartbeat_at = _of_execution(serializers.DateTimeField, "heartbeat_at")
    selection_seconds = _of_execution(serializers.FloatField, "selection_seconds")
    training_seconds = _of_execution(serializers.FloatField, "training_seconds")
    evaluation_seconds = _of_execution(serializers.FloatField, "evaluation_seconds")
    final_accuracy = _of_execution(serializers.FloatField, "final_accuracy")
    best_accuracy = _of_execution(serializers.FloatField, "best_accuracy")
    samples_trained = _of_execution(serializers.IntegerField, "samples_trained")
    rounds_completed = _of_execution(serializers.IntegerField, "rounds_completed")
    rounds_planned = _of_execution(serializers.IntegerField, "rounds_planned")
    error = _of_execution(serializers.CharField, "error")
    config = _of_execution(serializers.JSONField, "config")

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
            "execution",
            "config_hash",
            "reused",
            "canceled_at",
            "attempt",
            "resumed_from_round",
            "worker",
            "queued_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            *RESULT_FIELDS,
            "time_to_target_seconds",
            "data_fraction",
            "error",
            "config",
            "provenance",
        ]


class RunMetricOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunMetric
        fields = ["epoch", *METRIC_FIELDS]


class AttemptOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["number", "worker", "device_name", "started_at", "ended_at", "outcome", "resumed_from_round", "note"]


class ClassAccuracyOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    support = serializers.IntegerField(help_text="Test examples of this class.")
    correct = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True, help_text="correct / support; null when support is 0.")


class RunConfusionOutputSerializer(serializers.Serializer):
    available = serializers.BooleanField(help_text="False when the run has no stored predictions; see reason.")
    reason = serializers.CharField(
        allow_blank=True, help_text='Why there is no matrix, e.g. "no predictions stored (run from an older engine)".'
    )
    class_names = serializers.ListField(child=serializers.CharField(), allow_null=True)
    matrix = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        allow_null=True,
        help_text="matrix[true][predicted]: test examples of the true class predicted as that class.",
    )
    per_class = ClassAccuracyOutputSerializer(many=True, allow_null=True)
    total = serializers.IntegerField(allow_null=True, help_text="Test examples.")
    correct = serializers.IntegerField(allow_null=True)
    accuracy = serializers.FloatField(allow_null=True)


class RunFilter(django_filters.FilterSet):
    experiment = django_filters.NumberFilter(field_name="experiment_id")
    policy = django_filters.NumberFilter(field_name="policy_id")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices, method="filter_status")
    queue = django_filters.ChoiceFilter(choices=Queue.choices, method="filter_queue")
    budget = django_filters.NumberFilter()
    seed = django_filters.NumberFilter()

    class Meta:
        model = Run
        fields = ["experiment", "policy", "status", "queue", "budget", "seed"]

    def filter_status(self, queryset: QuerySet[Run], name: str, value: str) -> QuerySet[Run]:
        return queryset.filter(run_status_filter(value))

    def filter_queue(self, queryset: QuerySet[Run], name: str, value: str) -> QuerySet[Run]:
        from backend.experiments.models import QUEUE_DEVICE_KINDS

        return queryset.filter(execution__device_kind=QUEUE_DEVICE_KINDS[value])


class RunListApi(generics.ListAPIView):
    queryset = Run.objects.none()
    serializer_class = RunOutputSerializer
    filterset_class = RunFilter
    filter_backends = [DjangoFilterBackend, MappedOrderingFilter]
    ordering_map = {
        "id": "id",
        "budget": "budget",
        "seed": "seed",
        "status": "run_status",
        "queued_at": "execution__queued_at",
        "started_at": "execution__started_at",
        "finished_at": "execution__finished_at",
        "final_accuracy": "execution__final_accuracy",
        "best_accuracy": "execution__best_accuracy",
        "time_to_target_seconds": "time_to_target_seconds",
    }

    def get_queryset(self) -> QuerySet[Run]:
        return runs_with_progress(runs_visible_to(self.request.user)).order_by("id")


def _run(request: Request, run_id: int, access: Access = Access.READ) -> Run:
    run, _ = get_team_object(
        runs_with_progress(runs_visible_to(request.user)),
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
        description="Withdraws this run; its execution stops only when no other experiment's run still needs it.",
    )
    def post(self, request: Request, run_id: int) -> Response:
        run_cancel(run=_run(request, run_id, Access.WRITE), user=request.user)
        return Response(RunOutputSerializer(_run(request, run_id)).data)


class RunMetricListApi(generics.ListAPIView):
    """The run's learning curve, one row per evaluation of its execution."""

    queryset = RunMetric.objects.none()
    serializer_class = RunMetricOutputSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[RunMetric]:
        return execution_metrics(_run(self.request, self.kwargs["run_id"]).execution)


class RunAttemptListApi(generics.ListAPIView):
    """Every lease a worker took on the run's execution, and how each ended."""

    queryset = Attempt.objects.none()
    serializer_class = AttemptOutputSerializer
    filter_backends: list = []
    pagination_class = None

    def get_queryset(self) -> QuerySet[Attempt]:
        return execution_attempts(_run(self.request, self.kwargs["run_id"]).execution)


class RunConfusionApi(APIView):
    @extend_schema(
        responses={200: RunConfusionOutputSerializer, 404: NOT_FOUND},
        summary="Per-class test accuracy and the confusion matrix of the run's final model",
        description="Exact counts from the stored prediction for every test example against the dataset's labels.",
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = _run(request, run_id)
        result = run_confusion(run)
        confusion = result.confusion
        payload = {
            "available": confusion is not None,
            "reason": result.reason,
            "class_names": confusion.class_names if confusion else None,
            "matrix": confusion.matrix if confusion else None,
            "per_class": confusion.per_class if confusion else None,
            "total": confusion.total if confusion else None,
            "correct": confusion.correct if confusion else None,
            "accuracy": confusion.accuracy if confusion else None,
        }
        return Response(RunConfusionOutputSerializer(payload).data)

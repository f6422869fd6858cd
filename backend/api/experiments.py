"""Experiments: the policies × budgets × seeds grid, its cancellation and its share links."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.schema import BAD_INPUT, FORBIDDEN, NOT_FOUND
from backend.api.selectors import (
    dataset_for_payload,
    experiments_visible_to,
    policies_for_payload,
    team_for_payload,
)
from backend.experiments.models import Experiment, Queue, ShareLink
from backend.experiments.selectors import experiment_share_links, waiting_without_worker
from backend.experiments.services import (
    experiment_cancel,
    experiment_create,
    share_link_create,
    share_link_revoke,
)
from backend.policies.models import SamplingPolicy
from backend.teams.access import Access, get_team_object


class RunCountsOutputSerializer(serializers.Serializer):
    """Read from the counts that ``experiments_visible_to`` annotates."""

    total = serializers.IntegerField(source="runs_total")
    reused = serializers.IntegerField(
        source="runs_reused", help_text="Runs whose execution already existed: their work is shared, not repeated."
    )
    queued = serializers.IntegerField(source="runs_queued")
    running = serializers.IntegerField(source="runs_running")
    succeeded = serializers.IntegerField(source="runs_succeeded")
    failed = serializers.IntegerField(source="runs_failed")
    canceled = serializers.IntegerField(source="runs_canceled")


class PolicySummaryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = SamplingPolicy
        fields = ["id", "name", "strategy"]


class ExperimentOutputSerializer(serializers.ModelSerializer):
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)
    policies = PolicySummaryOutputSerializer(many=True, read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)
    run_counts = RunCountsOutputSerializer(source="*", read_only=True)

    class Meta:
        model = Experiment
        fields = [
            "id",
            "team",
            "name",
            "description",
            "dataset",
            "dataset_name",
            "model",
            "recipe",
            "recipe_hash",
            "policies",
            "budgets",
            "seeds",
            "queue",
            "created_by",
            "created_at",
            "run_counts",
        ]


class WaitingOutputSerializer(serializers.Serializer):
    device_kind = serializers.CharField()
    queue = serializers.CharField()
    runs = serializers.IntegerField(help_text="Queued runs of this experiment that no live worker can take.")
    reason = serializers.CharField(help_text='e.g. "No GPU worker is online".')


class ExperimentDetailOutputSerializer(ExperimentOutputSerializer):
    waiting = WaitingOutputSerializer(many=True, read_only=True, help_text="Why queued runs are not being taken.")

    class Meta(ExperimentOutputSerializer.Meta):
        fields = [*ExperimentOutputSerializer.Meta.fields, "waiting"]


class ExperimentCreateInputSerializer(serializers.Serializer):
    team = serializers.IntegerField()
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    dataset = serializers.IntegerField(help_text="A ready dataset of the same team.")
    model = serializers.CharField(help_text="A model key from /models/.")
    recipe = serializers.DictField(
        required=False, allow_null=True, default=None, help_text="Recipe fields from /recipe-schema/; others default."
    )
    policies = serializers.ListField(child=serializers.IntegerField(), help_text="Built-in or team policy ids.")
    budgets = serializers.ListField(
        child=serializers.FloatField(), help_text="Fractions of the data per round, (0, 1]."
    )
    seeds = serializers.ListField(child=serializers.IntegerField())
    queue = serializers.ChoiceField(choices=Queue.choices, default=Queue.CPU)


class ExperimentCancelOutputSerializer(serializers.Serializer):
    canceled = serializers.IntegerField(help_text="How many queued or running runs were canceled.")
    shared = serializers.IntegerField(
        help_text="Of those, how many keep running because another experiment's runs share their execution."
    )


class ShareLinkOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ShareLink
        fields = ["id", "experiment", "token", "is_active", "created_by", "created_at", "revoked_at"]


class ExperimentFilter(django_filters.FilterSet):
    team = django_filters.NumberFilter(field_name="team_id")
    dataset = django_filters.NumberFilter(field_name="dataset_id")
    model = django_filters.CharFilter()

    class Meta:
        model = Experiment
        fields = ["team", "dataset", "model"]


class ExperimentListCreateApi(generics.ListAPIView):
    queryset = Experiment.objects.none()
    serializer_class = ExperimentOutputSerializer
    filterset_class = ExperimentFilter
    ordering_fields = ["created_at", "name"]

    def get_queryset(self) -> QuerySet[Experiment]:
        return experiments_visible_to(self.request.user)

    @extend_schema(
        request=ExperimentCreateInputSerializer,
        responses={201: ExperimentOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN},
        summary="Create an experiment and expand its grid into runs, reusing identical earlier runs",
    )
    def post(self, request: Request) -> Response:
        serializer = ExperimentCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = team_for_payload(user=request.user, team_id=data["team"], access=Access.WRITE)
        experiment = experiment_create(
            team=team,
            user=request.user,
            name=data["name"],
            description=data["description"],
            dataset=dataset_for_payload(team=team, dataset_id=data["dataset"]),
            model=data["model"],
            recipe=data["recipe"],
            policies=policies_for_payload(team=team, policy_ids=data["policies"]),
            budgets=data["budgets"],
            seeds=data["seeds"],
            queue=data["queue"],
        )
        experiment = experiments_visible_to(request.user).get(pk=experiment.pk)
        return Response(ExperimentOutputSerializer(experiment).data, status=status.HTTP_201_CREATED)


class ExperimentDetailApi(APIView):
    @extend_schema(responses={200: ExperimentDetailOutputSerializer, 404: NOT_FOUND})
    def get(self, request: Request, experiment_id: int) -> Response:
        experiment, _ = get_team_object(
            experiments_visible_to(request.user), user=request.user, team_field="team_id", pk=experiment_id
        )
        experiment.waiting = waiting_without_worker(experiment.runs.all())
        return Response(ExperimentDetailOutputSerializer(experiment).data)


class ExperimentCancelApi(APIView):
    @extend_schema(
        request=None,
        responses={200: ExperimentCancelOutputSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Cancel every active run",
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        experiment, _ = get_team_object(
            Experiment, user=request.user, access=Access.WRITE, team_field="team_id", pk=experiment_id
        )
        withdrawal = experiment_cancel(experiment=experiment, user=request.user)
        return Response(
            ExperimentCancelOutputSerializer({"canceled": withdrawal.cells, "shared": withdrawal.shared}).data
        )


class ShareLinkListCreateApi(generics.ListAPIView):
    queryset = ShareLink.objects.none()
    serializer_class = ShareLinkOutputSerializer
    ordering_fields = ["created_at"]

    def _experiment(self) -> Experiment:
        experiment, _ = get_team_object(
            Experiment,
            user=self.request.user,
            access=Access.MANAGE,
            team_field="team_id",
            pk=self.kwargs["experiment_id"],
        )
        return experiment

    def get_queryset(self) -> QuerySet[ShareLink]:
        return experiment_share_links(self._experiment())

    @extend_schema(
        request=None,
        responses={201: ShareLinkOutputSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Create a read-only share link",
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        share_link = share_link_create(experiment=self._experiment(), user=request.user)
        return Response(ShareLinkOutputSerializer(share_link).data, status=status.HTTP_201_CREATED)


class ShareLinkRevokeApi(APIView):
    @extend_schema(
        request=None,
        responses={200: ShareLinkOutputSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Revoke a share link",
    )
    def post(self, request: Request, share_link_id: int) -> Response:
        share_link, _ = get_team_object(
            ShareLink.objects.select_related("experiment", "created_by"),
            user=request.user,
            access=Access.MANAGE,
            team_field="experiment__team_id",
            pk=share_link_id,
        )
        share_link = share_link_revoke(share_link=share_link, user=request.user)
        return Response(ShareLinkOutputSerializer(share_link).data)

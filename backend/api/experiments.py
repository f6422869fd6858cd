"""Experiments: the policies × budgets × seeds grid, its preview, clone, extension, retry, cancellation,
deletion and share links."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.runs import RunOutputSerializer
from backend.api.schema import BAD_INPUT, CONFLICT, FORBIDDEN, NOT_FOUND
from backend.api.selectors import (
    dataset_for_payload,
    experiments_visible_to,
    policies_for_payload,
    runs_visible_to,
    team_for_payload,
)
from backend.experiments.models import Experiment, Queue, ShareLink
from backend.experiments.selectors import (
    experiment_clone_preview,
    experiment_extend_preview,
    experiment_preview,
    experiment_share_links,
    runs_with_progress,
    waiting_without_worker,
)
from backend.experiments.services import (
    experiment_cancel,
    experiment_clone,
    experiment_create,
    experiment_delete,
    experiment_extend,
    experiment_retry_failed,
    run_retry,
    share_link_create,
    share_link_revoke,
)
from backend.policies.models import SamplingPolicy
from backend.teams.access import Access, get_team_object
from backend.teams.models import Team


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


class ExperimentPreviewInputSerializer(serializers.Serializer):
    """A grid as creating it takes it, without the name."""

    team = serializers.IntegerField()
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


class ExperimentCreateInputSerializer(ExperimentPreviewInputSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ExperimentCancelOutputSerializer(serializers.Serializer):
    canceled = serializers.IntegerField(help_text="How many queued or running runs were canceled.")
    shared = serializers.IntegerField(
        help_text="Of those, how many keep running because another experiment's runs share their execution."
    )


class GridPreviewOutputSerializer(serializers.Serializer):
    runs = serializers.IntegerField(help_text="Runs the operation creates.")
    reused = serializers.IntegerField(help_text="Of those, runs that share an execution the team already has.")
    finished = serializers.IntegerField(help_text="Of the reused, runs whose execution has succeeded.")
    to_train = serializers.IntegerField(
        help_text="Runs whose execution would be queued: new, or stopped and queued again."
    )
    estimated_runs = serializers.IntegerField(help_text="Of those to train, how many earlier executions estimate.")
    unestimated_runs = serializers.IntegerField(help_text="Runs to train that nothing comparable has run for yet.")
    estimated_seconds = serializers.FloatField(
        allow_null=True,
        help_text="Selection + training seconds of the estimated runs, from succeeded executions with the same "
        "dataset, model, recipe and device kind (null: no estimate yet).",
    )
    basis = serializers.IntegerField(help_text="How many comparable earlier executions the estimate reads.")


class ExperimentCloneInputSerializer(serializers.Serializer):
    """Every field is optional: what is left out is the source experiment's."""

    name = serializers.CharField(max_length=200, required=False, help_text='Defaults to "<name> (copy)".')
    description = serializers.CharField(required=False, allow_blank=True)
    dataset = serializers.IntegerField(required=False, help_text="A ready dataset of the same team.")
    model = serializers.CharField(required=False, help_text="A model key from /models/.")
    recipe = serializers.DictField(required=False, help_text="Recipe fields to change; the others are the source's.")
    policies = serializers.ListField(child=serializers.IntegerField(), required=False)
    budgets = serializers.ListField(child=serializers.FloatField(), required=False)
    seeds = serializers.ListField(child=serializers.IntegerField(), required=False)
    queue = serializers.ChoiceField(choices=Queue.choices, required=False)


class ExperimentExtendInputSerializer(serializers.Serializer):
    """Values to add; give at least one. A value the experiment already has is refused."""

    policies = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    budgets = serializers.ListField(child=serializers.FloatField(), required=False, default=list)
    seeds = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)


class ExperimentExtendOutputSerializer(serializers.Serializer):
    experiment = ExperimentOutputSerializer()
    created = serializers.IntegerField(help_text="Runs added; the experiment's other runs are untouched.")
    reused = serializers.IntegerField(help_text="Of those, runs that share an execution the team already had.")


class ExperimentRetryOutputSerializer(serializers.Serializer):
    retried = serializers.IntegerField(help_text="Failed runs queued again.")
    executions = serializers.IntegerField(help_text="The executions behind them (runs may share one).")


class ExperimentDeleteOutputSerializer(serializers.Serializer):
    runs = serializers.IntegerField(help_text="Runs deleted with the experiment.")
    executions_deleted = serializers.IntegerField(help_text="Executions only this experiment used, deleted.")
    executions_kept = serializers.IntegerField(help_text="Executions other experiments use, kept for them.")


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


def _writable_experiment(request: Request, experiment_id: int) -> Experiment:
    experiment, _ = get_team_object(
        Experiment.objects.select_related("team", "dataset"),
        user=request.user,
        access=Access.WRITE,
        team_field="team_id",
        pk=experiment_id,
    )
    return experiment


def _clone_changes(team: Team, data: dict) -> dict:
    """The clone payload's references resolved within the team; fields left out stay out."""
    changes = dict(data)
    if "dataset" in changes:
        changes["dataset"] = dataset_for_payload(team=team, dataset_id=changes["dataset"])
    if "policies" in changes:
        changes["policies"] = policies_for_payload(team=team, policy_ids=changes["policies"])
    return changes


class ExperimentDetailApi(APIView):
    @extend_schema(responses={200: ExperimentDetailOutputSerializer, 404: NOT_FOUND})
    def get(self, request: Request, experiment_id: int) -> Response:
        experiment, _ = get_team_object(
            experiments_visible_to(request.user), user=request.user, team_field="team_id", pk=experiment_id
        )
        experiment.waiting = waiting_without_worker(experiment.runs.all())
        return Response(ExperimentDetailOutputSerializer(experiment).data)

    @extend_schema(
        responses={200: ExperimentDeleteOutputSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Delete an experiment and its runs",
        description="Executions that other experiments use stay, with their results; the others are deleted, "
        "and a worker training one stops.",
    )
    def delete(self, request: Request, experiment_id: int) -> Response:
        deletion = experiment_delete(experiment=_writable_experiment(request, experiment_id), user=request.user)
        return Response(ExperimentDeleteOutputSerializer(deletion).data)


class ExperimentPreviewApi(APIView):
    @extend_schema(
        request=ExperimentPreviewInputSerializer,
        responses={200: GridPreviewOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN},
        summary="Preview a new experiment's runs, their reuse and their estimated cost; creates nothing",
    )
    def post(self, request: Request) -> Response:
        serializer = ExperimentPreviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = team_for_payload(user=request.user, team_id=data["team"], access=Access.WRITE)
        preview = experiment_preview(
            team=team,
            dataset=dataset_for_payload(team=team, dataset_id=data["dataset"]),
            model=data["model"],
            recipe=data["recipe"],
            policies=policies_for_payload(team=team, policy_ids=data["policies"]),
            budgets=data["budgets"],
            seeds=data["seeds"],
            queue=data["queue"],
        )
        return Response(GridPreviewOutputSerializer(preview).data)


class ExperimentCloneApi(APIView):
    @extend_schema(
        request=ExperimentCloneInputSerializer,
        responses={201: ExperimentOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Create a new experiment from this one's configuration with the changes given",
        description="Runs identical to the source's share their executions, so an unchanged clone trains nothing.",
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        source = _writable_experiment(request, experiment_id)
        serializer = ExperimentCloneInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = _clone_changes(source.team, serializer.validated_data)
        experiment = experiment_clone(experiment=source, user=request.user, **changes)
        experiment = experiments_visible_to(request.user).get(pk=experiment.pk)
        return Response(ExperimentOutputSerializer(experiment).data, status=status.HTTP_201_CREATED)


class ExperimentClonePreviewApi(APIView):
    @extend_schema(
        request=ExperimentCloneInputSerializer,
        responses={200: GridPreviewOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Preview a clone with these changes; creates nothing",
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        source = _writable_experiment(request, experiment_id)
        serializer = ExperimentCloneInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        preview = experiment_clone_preview(experiment=source, **_clone_changes(source.team, serializer.validated_data))
        return Response(GridPreviewOutputSerializer(preview).data)


class ExperimentExtendApi(APIView):
    @extend_schema(
        request=ExperimentExtendInputSerializer,
        responses={200: ExperimentExtendOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Add policies, budgets or seeds; only the runs the grid lacks are created and queued",
        description="Existing runs and their executions are untouched. A new run whose configuration the team "
        "already trained (or is training) shares that execution.",
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        experiment = _writable_experiment(request, experiment_id)
        serializer = ExperimentExtendInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        extension = experiment_extend(
            experiment=experiment,
            user=request.user,
            policies=policies_for_payload(team=experiment.team, policy_ids=data["policies"]),
            budgets=data["budgets"],
            seeds=data["seeds"],
        )
        return Response(
            ExperimentExtendOutputSerializer(
                {
                    "experiment": experiments_visible_to(request.user).get(pk=experiment.pk),
                    "created": extension.created,
                    "reused": extension.reused,
                }
            ).data
        )


class ExperimentExtendPreviewApi(APIView):
    @extend_schema(
        request=ExperimentExtendInputSerializer,
        responses={200: GridPreviewOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Preview the runs an extension adds; creates nothing",
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        experiment = _writable_experiment(request, experiment_id)
        serializer = ExperimentExtendInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        preview = experiment_extend_preview(
            experiment=experiment,
            policies=policies_for_payload(team=experiment.team, policy_ids=data["policies"]),
            budgets=data["budgets"],
            seeds=data["seeds"],
        )
        return Response(GridPreviewOutputSerializer(preview).data)


class ExperimentRetryFailedApi(APIView):
    @extend_schema(
        request=None,
        responses={200: ExperimentRetryOutputSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Queue every failed run again",
        description="Each resumes from its execution's last checkpoint; runs in any other state are untouched.",
    )
    def post(self, request: Request, experiment_id: int) -> Response:
        retry = experiment_retry_failed(experiment=_writable_experiment(request, experiment_id), user=request.user)
        return Response(ExperimentRetryOutputSerializer({"retried": retry.cells, "executions": retry.executions}).data)


class RunRetryApi(APIView):
    @extend_schema(
        request=None,
        responses={200: RunOutputSerializer, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT},
        summary="Queue a failed run again",
    )
    def post(self, request: Request, run_id: int) -> Response:
        runs = runs_with_progress(runs_visible_to(request.user))
        run, _ = get_team_object(
            runs.select_related("experiment"),
            user=request.user,
            access=Access.WRITE,
            team_field="experiment__team_id",
            pk=run_id,
        )
        run_retry(run=run, user=request.user)
        return Response(RunOutputSerializer(runs.get(pk=run_id)).data)


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

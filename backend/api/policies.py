"""Sampling policies: the built-ins and each team's own."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.schema import BAD_INPUT, CONFLICT, FORBIDDEN, NOT_FOUND
from backend.api.selectors import policies_visible_to, team_for_payload
from backend.policies.models import SamplingPolicy
from backend.policies.services import policy_create, policy_delete, policy_update
from backend.teams.access import Access


class PolicyOutputSerializer(serializers.ModelSerializer):
    is_builtin = serializers.BooleanField(read_only=True)

    class Meta:
        model = SamplingPolicy
        fields = ["id", "team", "name", "strategy", "params", "description", "is_builtin", "created_at"]


class PolicyCreateInputSerializer(serializers.Serializer):
    team = serializers.IntegerField()
    name = serializers.CharField(max_length=100)
    strategy = serializers.CharField(help_text="A strategy key from /strategies/.")
    params = serializers.DictField(
        required=False, default=dict, help_text="Parameters declared by the strategy; missing ones take defaults."
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class PolicyUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    params = serializers.DictField(
        required=False,
        help_text="Replaces the parameters (missing ones take defaults); refused (409) while an experiment uses it.",
    )
    strategy = serializers.CharField(required=False, help_text="Cannot change; another strategy is another policy.")


class PolicyFilter(django_filters.FilterSet):
    team = django_filters.NumberFilter(field_name="team_id")
    builtin = django_filters.BooleanFilter(field_name="team", lookup_expr="isnull", label="Built-in policies only")
    strategy = django_filters.CharFilter()

    class Meta:
        model = SamplingPolicy
        fields = ["team", "builtin", "strategy"]


class PolicyListCreateApi(generics.ListAPIView):
    queryset = SamplingPolicy.objects.none()
    serializer_class = PolicyOutputSerializer
    filterset_class = PolicyFilter
    ordering_fields = ["name", "strategy", "created_at"]

    def get_queryset(self) -> QuerySet[SamplingPolicy]:
        return policies_visible_to(self.request.user)

    @extend_schema(
        request=PolicyCreateInputSerializer,
        responses={201: PolicyOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN},
    )
    def post(self, request: Request) -> Response:
        serializer = PolicyCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        team = team_for_payload(user=request.user, team_id=data["team"], access=Access.WRITE)
        policy = policy_create(
            team=team,
            user=request.user,
            name=data["name"],
            strategy=data["strategy"],
            params=data["params"],
            description=data["description"],
        )
        return Response(PolicyOutputSerializer(policy).data, status=status.HTTP_201_CREATED)


class PolicyDetailApi(APIView):
    @extend_schema(responses={200: PolicyOutputSerializer, 404: NOT_FOUND})
    def get(self, request: Request, policy_id: int) -> Response:
        policy = get_object_or_404(policies_visible_to(request.user), pk=policy_id)
        return Response(PolicyOutputSerializer(policy).data)

    @extend_schema(
        request=PolicyUpdateInputSerializer,
        responses={200: PolicyOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT},
        summary="Rename a team policy or change its parameters while no experiment uses it",
    )
    def patch(self, request: Request, policy_id: int) -> Response:
        policy = get_object_or_404(policies_visible_to(request.user), pk=policy_id)
        serializer = PolicyUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = policy_update(policy=policy, user=request.user, **serializer.validated_data)
        return Response(PolicyOutputSerializer(policy).data)

    @extend_schema(
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT},
        summary="Delete a team policy that no experiment uses",
    )
    def delete(self, request: Request, policy_id: int) -> Response:
        policy = get_object_or_404(policies_visible_to(request.user), pk=policy_id)
        policy_delete(policy=policy, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

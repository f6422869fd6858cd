"""Teams and their members."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.schema import BAD_INPUT, CONFLICT, FORBIDDEN, NOT_FOUND
from backend.api.selectors import team_memberships, teams_with_role
from backend.teams.access import Access, get_team_object
from backend.teams.models import Membership, Role, Team
from backend.teams.services import membership_add, membership_remove, membership_update_role, team_create


class TeamOutputSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=Role.choices, read_only=True, help_text="Your role in this team.")

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "created_at", "role"]


class TeamCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class MembershipOutputSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "username", "email", "role", "created_at"]


class MembershipAddInputSerializer(serializers.Serializer):
    user = serializers.CharField(help_text="Username or email address of an existing user.")
    role = serializers.ChoiceField(choices=Role.choices)


class MembershipUpdateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class TeamListCreateApi(generics.ListAPIView):
    queryset = Team.objects.none()
    serializer_class = TeamOutputSerializer
    ordering_fields = ["name", "created_at"]

    def get_queryset(self) -> QuerySet[Team]:
        return teams_with_role(self.request.user)

    @extend_schema(request=TeamCreateInputSerializer, responses={201: TeamOutputSerializer, 400: BAD_INPUT})
    def post(self, request: Request) -> Response:
        serializer = TeamCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = team_create(name=serializer.validated_data["name"], owner=request.user)
        team.role = Role.OWNER
        return Response(TeamOutputSerializer(team).data, status=status.HTTP_201_CREATED)


class TeamDetailApi(APIView):
    @extend_schema(responses={200: TeamOutputSerializer, 404: NOT_FOUND})
    def get(self, request: Request, team_id: int) -> Response:
        team = get_object_or_404(teams_with_role(request.user), pk=team_id)
        return Response(TeamOutputSerializer(team).data)


class MembershipListCreateApi(generics.ListAPIView):
    queryset = Membership.objects.none()
    serializer_class = MembershipOutputSerializer
    ordering_fields = ["created_at", "role"]

    def get_queryset(self) -> QuerySet[Membership]:
        return team_memberships(self._team(Access.READ))

    def _team(self, access: Access) -> Team:
        team, _ = get_team_object(
            Team, user=self.request.user, access=access, team_field="pk", pk=self.kwargs["team_id"]
        )
        return team

    @extend_schema(
        request=MembershipAddInputSerializer,
        responses={201: MembershipOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def post(self, request: Request, team_id: int) -> Response:
        team = self._team(Access.MANAGE)
        serializer = MembershipAddInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = membership_add(
            team=team,
            actor=request.user,
            username_or_email=serializer.validated_data["user"],
            role=serializer.validated_data["role"],
        )
        return Response(MembershipOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class MembershipDetailApi(APIView):
    def _membership(self, request: Request, team_id: int, membership_id: int) -> Membership:
        membership, _ = get_team_object(
            Membership.objects.select_related("team", "user"),
            user=request.user,
            access=Access.MANAGE,
            team_field="team_id",
            pk=membership_id,
            team_id=team_id,
        )
        return membership

    @extend_schema(
        request=MembershipUpdateInputSerializer,
        responses={200: MembershipOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT},
    )
    def patch(self, request: Request, team_id: int, membership_id: int) -> Response:
        membership = self._membership(request, team_id, membership_id)
        serializer = MembershipUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = membership_update_role(
            membership=membership, actor=request.user, role=serializer.validated_data["role"]
        )
        return Response(MembershipOutputSerializer(membership).data)

    @extend_schema(responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT})
    def delete(self, request: Request, team_id: int, membership_id: int) -> Response:
        membership = self._membership(request, team_id, membership_id)
        membership_remove(membership=membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

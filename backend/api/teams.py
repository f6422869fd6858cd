"""Teams, their members and invitations."""

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
from backend.teams.models import Invitation, InvitationStatus, Membership, Role, Team
from backend.teams.selectors import pending_invitations_for, team_pending_invitations
from backend.teams.services import (
    invitation_accept,
    invitation_create,
    invitation_decline,
    invitation_revoke,
    membership_remove,
    membership_update_role,
    team_create,
)


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
    user = serializers.CharField(
        help_text="Username or email address to invite. An unknown one is answered the same way and reaches nobody."
    )
    role = serializers.ChoiceField(choices=Role.choices, help_text="The role the invitee gets on accepting.")


class TeamInvitationOutputSerializer(serializers.ModelSerializer):
    """An invitation as the team's owners see it: the invitee only as the name they were invited by."""

    invited = serializers.CharField(read_only=True, help_text="The username or email it was sent to, as given.")
    status = serializers.ChoiceField(choices=InvitationStatus.choices, read_only=True)
    invited_by = serializers.CharField(source="invited_by.username", read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "team", "invited", "role", "status", "invited_by", "created_at"]


class InvitationOutputSerializer(serializers.ModelSerializer):
    """An invitation as its invitee sees it."""

    team_name = serializers.CharField(source="team.name", read_only=True)
    status = serializers.ChoiceField(choices=InvitationStatus.choices, read_only=True)
    invited_by = serializers.CharField(source="invited_by.username", read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "team", "team_name", "role", "status", "invited_by", "created_at"]


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
        responses={201: TeamInvitationOutputSerializer, 400: BAD_INPUT, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Invite a member",
        description="Creates a pending invitation; the invitee becomes a member on accepting it.",
    )
    def post(self, request: Request, team_id: int) -> Response:
        team = self._team(Access.MANAGE)
        serializer = MembershipAddInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = invitation_create(
            team=team,
            actor=request.user,
            invited=serializer.validated_data["user"],
            role=serializer.validated_data["role"],
        )
        return Response(TeamInvitationOutputSerializer(invitation).data, status=status.HTTP_201_CREATED)


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


class TeamInvitationListApi(generics.ListAPIView):
    """The team's pending invitations (owners only)."""

    queryset = Invitation.objects.none()
    serializer_class = TeamInvitationOutputSerializer
    ordering_fields = ["created_at"]

    def get_queryset(self) -> QuerySet[Invitation]:
        team, _ = get_team_object(
            Team, user=self.request.user, access=Access.MANAGE, team_field="pk", pk=self.kwargs["team_id"]
        )
        return team_pending_invitations(team)


class TeamInvitationRevokeApi(APIView):
    @extend_schema(
        request=None,
        responses={200: TeamInvitationOutputSerializer, 403: FORBIDDEN, 404: NOT_FOUND},
        summary="Revoke a pending invitation",
    )
    def post(self, request: Request, team_id: int, invitation_id: int) -> Response:
        invitation, _ = get_team_object(
            Invitation.objects.filter(status=InvitationStatus.PENDING).select_related("invited_by"),
            user=request.user,
            access=Access.MANAGE,
            team_field="team_id",
            pk=invitation_id,
            team_id=team_id,
        )
        invitation = invitation_revoke(invitation=invitation, actor=request.user)
        return Response(TeamInvitationOutputSerializer(invitation).data)


class InvitationListApi(generics.ListAPIView):
    """Your pending invitations."""

    queryset = Invitation.objects.none()
    serializer_class = InvitationOutputSerializer
    ordering_fields = ["created_at"]

    def get_queryset(self) -> QuerySet[Invitation]:
        return pending_invitations_for(self.request.user)


class InvitationAcceptApi(APIView):
    @extend_schema(
        request=None, responses={200: MembershipOutputSerializer, 404: NOT_FOUND}, summary="Accept an invitation"
    )
    def post(self, request: Request, invitation_id: int) -> Response:
        invitation = get_object_or_404(pending_invitations_for(request.user), pk=invitation_id)
        membership = invitation_accept(invitation=invitation, user=request.user)
        return Response(MembershipOutputSerializer(membership).data)


class InvitationDeclineApi(APIView):
    @extend_schema(
        request=None, responses={200: InvitationOutputSerializer, 404: NOT_FOUND}, summary="Decline an invitation"
    )
    def post(self, request: Request, invitation_id: int) -> Response:
        invitation = get_object_or_404(pending_invitations_for(request.user), pk=invitation_id)
        invitation = invitation_decline(invitation=invitation, user=request.user)
        return Response(InvitationOutputSerializer(invitation).data)

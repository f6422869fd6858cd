"""Invitations: an owner's offer that becomes a membership only when its invitee accepts."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from backend.errors import ApplicationError
from backend.teams.models import Invitation, InvitationStatus, Membership, Role
from backend.teams.selectors import pending_invitations_for, team_pending_invitations
from backend.teams.services import (
    invitation_accept,
    invitation_create,
    invitation_decline,
    invitation_revoke,
)
from tests.conftest import make_user


@pytest.fixture
def nina(db):
    return make_user("nina")


def invite(team, owner, invited="nina", role=Role.EDITOR) -> Invitation:
    return invitation_create(team=team, actor=owner, invited=invited, role=role)


def test_inviting_creates_a_pending_invitation_and_no_membership(team, owner, nina):
    invitation = invite(team, owner)

    assert (invitation.status, invitation.role, invitation.invited_by) == (InvitationStatus.PENDING, "editor", owner)
    assert list(pending_invitations_for(nina)) == [invitation]
    assert list(team_pending_invitations(team)) == [invitation]
    assert not Membership.objects.filter(user=nina).exists()


@pytest.mark.parametrize("invited", ["nina", "NINA", "  nina@example.com ", "Nina@Example.com"])
def test_an_invitation_reaches_its_account_by_username_or_email(team, owner, nina, invited):
    invitation = invite(team, owner, invited)

    assert invitation.invitee == nina
    assert invitation.invited == invited.strip()


def test_an_unknown_name_gives_an_invitation_that_reaches_nobody(team, owner, nina):
    invitation = invite(team, owner, "ghost@example.com")

    assert invitation.status == InvitationStatus.PENDING
    assert invitation.invitee is None
    assert list(team_pending_invitations(team)) == [invitation]
    assert not Invitation.objects.filter(invitee__isnull=False).exists()


def test_an_account_made_later_with_the_name_does_not_receive_the_invitation(team, owner):
    invite(team, owner, "ghost")

    assert list(pending_invitations_for(make_user("ghost"))) == []


def test_an_exact_username_wins_over_another_accounts_email(team, owner):
    by_username = get_user_model().objects.create_user(username="ana@example.com", email="ana@home.example")
    get_user_model().objects.create_user(username="bob", email="ana@example.com")

    assert invite(team, owner, "ana@example.com").invitee == by_username


def test_an_email_shared_by_two_accounts_reaches_neither(team, owner):
    make_user("twin")
    get_user_model().objects.create_user(username="twin2", email="twin@example.com")

    assert invite(team, owner, "twin@example.com").invitee is None


def normalised(queries) -> list[str]:
    """The statements run, with every literal (names, ids, timestamps, NULL) and savepoint name blanked out."""
    statements = []
    for query in queries:
        sql = re.sub(r'SAVEPOINT "[^"]+"', "SAVEPOINT ?", query["sql"])
        sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
        statements.append(re.sub(r"\b(?:\d+|NULL)\b", "?", sql))
    return statements


@pytest.mark.parametrize("known, unknown", [("nina", "ghost"), ("nina@example.com", "ghost@example.com")])
def test_known_and_unknown_names_run_the_same_statements(team, owner, nina, known, unknown):
    with CaptureQueriesContext(connection) as for_known:
        invite(team, owner, known)
    with CaptureQueriesContext(connection) as for_unknown:
        invite(team, owner, unknown)

    assert normalised(for_known.captured_queries) == normalised(for_unknown.captured_queries)
    assert any("INSERT" in sql for sql in normalised(for_known.captured_queries))


@pytest.mark.parametrize("invited", ["vera", "VERA@example.com"])
def test_inviting_a_member_is_refused_at_the_user_field(team, owner, invited):
    with pytest.raises(ApplicationError) as error:
        invite(team, owner, invited)

    assert (error.value.field, error.value.message) == ("user", "Already a member of Vision: vera.")
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("first, second", [("nina", "NINA"), ("ghost", "Ghost")])
def test_a_second_pending_invitation_for_a_name_is_refused_whoever_it_reaches(team, owner, nina, first, second):
    invite(team, owner, first)

    with pytest.raises(ApplicationError) as error:
        invite(team, owner, second, role=Role.OWNER)

    assert error.value.field == "user"
    assert error.value.message == f"An invitation to {second} to join Vision is already pending."
    assert Invitation.objects.get().role == Role.EDITOR


def test_the_database_holds_one_pending_invitation_per_name_and_team(team, owner):
    Invitation.objects.create(team=team, invited="ghost", invited_by=owner)

    with pytest.raises(IntegrityError), transaction.atomic():
        Invitation.objects.create(team=team, invited="GHOST", invited_by=owner)


def test_a_name_can_be_invited_again_once_its_invitation_is_answered(team, owner, nina):
    invitation_decline(invitation=invite(team, owner), user=nina)

    again = invite(team, owner, role=Role.VIEWER)

    assert list(pending_invitations_for(nina)) == [again]


@pytest.mark.parametrize(
    "invited, role, field",
    [("", "viewer", "user"), ("   ", "viewer", "user"), ("not a name!", "viewer", "user"), ("nina", "admin", "role")],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(team, owner, nina, invited, role, field):
    with pytest.raises(ApplicationError) as error:
        invite(team, owner, invited, role=role)

    assert error.value.field == field
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("actor, raised", [("editor", PermissionDenied), ("viewer", PermissionDenied)])
def test_only_owners_invite(request, team, nina, actor, raised):
    with pytest.raises(raised):
        invite(team, request.getfixturevalue(actor))

    assert not Invitation.objects.exists()


def test_an_outsider_inviting_is_told_the_team_does_not_exist(team, outsider, nina):
    with pytest.raises(Http404):
        invite(team, outsider)

    assert not Invitation.objects.exists()


def test_accepting_makes_the_invitee_a_member_with_the_invited_role(team, owner, nina):
    invitation = invite(team, owner, role=Role.EDITOR)

    membership = invitation_accept(invitation=invitation, user=nina)

    assert (membership.team, membership.user, membership.role) == (team, nina, Role.EDITOR)
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.ACCEPTED and invitation.answered_at is not None
    assert list(pending_invitations_for(nina)) == []


def test_accepting_one_of_two_invitations_to_a_team_answers_both(team, owner, nina):
    by_name = invite(team, owner, "nina", role=Role.VIEWER)
    by_email = invite(team, owner, "nina@example.com", role=Role.EDITOR)

    invitation_accept(invitation=by_email, user=nina)

    assert Membership.objects.get(team=team, user=nina).role == Role.EDITOR
    by_name.refresh_from_db()
    assert by_name.status == InvitationStatus.ACCEPTED
    assert list(team_pending_invitations(team)) == []


def test_declining_answers_the_invitation_without_a_membership(team, owner, nina):
    invitation = invite(team, owner)

    invitation_decline(invitation=invitation, user=nina)

    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.DECLINED
    assert not Membership.objects.filter(user=nina).exists()
    assert list(team_pending_invitations(team)) == []


@pytest.mark.parametrize("answer", [invitation_accept, invitation_decline])
@pytest.mark.parametrize("someone", ["owner", "viewer", "outsider"])
def test_only_the_invitee_answers_their_invitation(request, team, owner, nina, answer, someone):
    invitation = invite(team, owner)

    with pytest.raises(Http404):
        answer(invitation=invitation, user=request.getfixturevalue(someone))

    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING
    assert not Membership.objects.filter(user=nina).exists()


@pytest.mark.parametrize("answer", [invitation_accept, invitation_decline])
@pytest.mark.parametrize("first", ["declined", "revoked", "accepted"])
def test_an_answered_or_revoked_invitation_cannot_be_answered(team, owner, nina, answer, first):
    invitation = invite(team, owner, role=Role.VIEWER)
    if first == "revoked":
        invitation_revoke(invitation=invitation, actor=owner)
    elif first == "declined":
        invitation_decline(invitation=invitation, user=nina)
    else:
        invitation_accept(invitation=invitation, user=nina)
    memberships_before = list(Membership.objects.filter(user=nina).values_list("role", flat=True))

    with pytest.raises(Http404):
        answer(invitation=invitation, user=nina)

    invitation.refresh_from_db()
    assert invitation.status == first
    assert list(Membership.objects.filter(user=nina).values_list("role", flat=True)) == memberships_before


def test_an_owner_revokes_a_pending_invitation(team, owner, nina):
    invitation = invite(team, owner)

    invitation_revoke(invitation=invitation, actor=owner)

    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.REVOKED
    assert list(pending_invitations_for(nina)) == []


@pytest.mark.parametrize(
    "actor, raised", [("editor", PermissionDenied), ("viewer", PermissionDenied), ("outsider", Http404)]
)
def test_only_owners_revoke(request, team, owner, nina, actor, raised):
    invitation = invite(team, owner)

    with pytest.raises(raised):
        invitation_revoke(invitation=invitation, actor=request.getfixturevalue(actor))

    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.PENDING


def test_deleting_the_invitees_account_leaves_the_invitation_reaching_nobody(team, owner, nina):
    invitation = invite(team, owner)

    nina.delete()

    invitation.refresh_from_db()
    assert (invitation.status, invitation.invitee) == (InvitationStatus.PENDING, None)


def test_a_concurrent_duplicate_that_slips_past_the_check_is_refused_cleanly(team, owner, monkeypatch):
    invite(team, owner, "ghost")
    # The other request's invitation was not yet committed when this one looked.
    monkeypatch.setattr("django.db.models.query.QuerySet.exists", lambda queryset: False)

    with pytest.raises(ApplicationError) as error:
        invite(team, owner, "GHOST")

    assert (error.value.field, error.value.message) == (
        "user",
        "An invitation to GHOST to join Vision is already pending.",
    )
    assert list(Invitation.objects.values_list("invited", flat=True)) == ["ghost"]

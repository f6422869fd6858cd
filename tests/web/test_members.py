import pytest
from django.urls import reverse

from backend.teams.models import Membership, Role
from tests.conftest import make_user


def members_url():
    return reverse("team_members", args=["vision"])


def add_url():
    return reverse("member_add", args=["vision"])


def role_url(membership):
    return reverse("member_role", args=["vision", membership.pk])


def remove_url(membership):
    return reverse("member_remove", args=["vision", membership.pk])


@pytest.fixture
def newcomer(db):
    return make_user("nina")


@pytest.mark.parametrize("member", ["owner", "editor", "viewer"])
def test_every_member_sees_the_members_and_their_roles(client_as, request, member, team):
    response = client_as(request.getfixturevalue(member)).get(members_url())

    html = response.content.decode()
    assert response.status_code == 200
    for username, role in [("olivia", "Owner"), ("eddie", "Editor"), ("vera", "Viewer")]:
        assert f'data-member="{username}"' in html
        assert f">{role}</span>" in html


def test_an_outsider_gets_404(client_as, outsider, team):
    assert client_as(outsider).get(members_url()).status_code == 404


def test_only_owners_see_the_management_forms(client_as, owner, editor, team):
    assert 'id="add-member"' in client_as(owner).get(members_url()).content.decode()
    assert 'id="add-member"' not in client_as(editor).get(members_url()).content.decode()
    assert "member_role" not in client_as(editor).get(members_url()).content.decode()


@pytest.mark.parametrize("identifier", ["nina", "NINA@example.com"])
def test_an_owner_adds_a_member_by_username_or_email(client_as, owner, team, newcomer, identifier):
    response = client_as(owner).post(add_url(), {"user": identifier, "role": "editor"})

    assert response.status_code == 302 and response.url == members_url()
    assert Membership.objects.get(team=team, user=newcomer).role == Role.EDITOR


def test_an_unknown_user_is_shown_at_the_user_field_and_nothing_is_added(client_as, owner, team):
    response = client_as(owner).post(add_url(), {"user": "nobody", "role": "viewer"})

    assert response.status_code == 400
    assert response.context["add_form"].errors["user"] == ["No single user has the username or email 'nobody'."]
    assert 'data-field="user"' in response.content.decode()
    assert team.memberships.count() == 3


def test_adding_an_existing_member_is_refused_at_the_user_field(client_as, owner, team):
    response = client_as(owner).post(add_url(), {"user": "vera", "role": "editor"})

    assert response.status_code == 400
    assert "already a member" in response.context["add_form"].errors["user"][0]
    assert team.memberships.get(user__username="vera").role == Role.VIEWER


def test_an_unknown_role_is_refused_at_the_role_field(client_as, owner, team, newcomer):
    response = client_as(owner).post(add_url(), {"user": "nina", "role": "admin"})

    assert response.status_code == 400
    assert "role" in response.context["add_form"].errors
    assert not Membership.objects.filter(user=newcomer).exists()


@pytest.mark.parametrize("member", ["editor", "viewer"])
def test_editors_and_viewers_cannot_add_members(client_as, request, member, team, newcomer):
    response = client_as(request.getfixturevalue(member)).post(add_url(), {"user": "nina", "role": "viewer"})

    assert response.status_code == 403
    assert not Membership.objects.filter(user=newcomer).exists()


def test_an_outsider_cannot_add_members(client_as, outsider, team, newcomer):
    assert client_as(outsider).post(add_url(), {"user": "nina", "role": "owner"}).status_code == 404
    assert not Membership.objects.filter(user=newcomer).exists()


def test_an_owner_changes_a_role(client_as, owner, viewer, team):
    membership = team.memberships.get(user=viewer)

    response = client_as(owner).post(role_url(membership), {"role": "editor"})

    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.EDITOR


def test_demoting_the_last_owner_is_shown_on_their_row_and_changes_nothing(client_as, owner, team):
    membership = team.memberships.get(user=owner)

    response = client_as(owner).post(role_url(membership), {"role": "viewer"})

    assert response.status_code == 400
    row = next(row for row in response.context["rows"] if row["membership"].pk == membership.pk)
    assert row["error"] == "A team must keep at least one owner."
    assert "A team must keep at least one owner." in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_a_viewer_cannot_change_roles(client_as, viewer, team):
    membership = team.memberships.get(user=viewer)

    assert client_as(viewer).post(role_url(membership), {"role": "owner"}).status_code == 403
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_a_membership_of_another_team_is_not_found(client_as, owner, team, other_team):
    foreign = other_team.memberships.get()

    assert client_as(owner).post(role_url(foreign), {"role": "viewer"}).status_code == 404
    assert client_as(owner).post(remove_url(foreign)).status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == Role.OWNER


def test_an_owner_removes_a_member(client_as, owner, editor, team):
    response = client_as(owner).post(remove_url(team.memberships.get(user=editor)))

    assert response.status_code == 302 and response.url == members_url()
    assert not team.memberships.filter(user=editor).exists()


def test_removing_the_last_owner_is_refused(client_as, owner, team):
    membership = team.memberships.get(user=owner)

    response = client_as(owner).post(remove_url(membership))

    assert response.status_code == 400
    assert team.memberships.filter(pk=membership.pk).exists()


def test_an_owner_who_leaves_goes_back_to_the_dashboard(client_as, owner, editor, team):
    team.memberships.filter(user=editor).update(role=Role.OWNER)

    response = client_as(owner).post(remove_url(team.memberships.get(user=owner)))

    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert not team.memberships.filter(user=owner).exists()


def test_an_editor_cannot_remove_members(client_as, editor, viewer, team):
    assert client_as(editor).post(remove_url(team.memberships.get(user=viewer))).status_code == 403
    assert team.memberships.filter(user=viewer).exists()


def test_the_write_endpoints_only_accept_post(client_as, owner, team):
    membership = team.memberships.get(user=owner)
    client = client_as(owner)

    assert client.get(add_url()).status_code == 405
    assert client.get(role_url(membership)).status_code == 405
    assert client.get(remove_url(membership)).status_code == 405

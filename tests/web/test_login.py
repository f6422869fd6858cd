import pytest
from django.urls import reverse

from tests.conftest import PASSWORD

PAGES = [
    ("dashboard", {}),
    ("team_dashboard", {"slug": "vision"}),
    ("team_members", {"slug": "vision"}),
    ("team_datasets", {"slug": "vision"}),
    ("team_policies", {"slug": "vision"}),
    ("experiment_create", {"slug": "vision"}),
    ("experiment_detail", {"pk": 1}),
    ("experiment_runs", {"pk": 1}),
    ("password_change", {}),
]


def test_the_login_page_renders_a_form(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert b'name="username"' in response.content and b'name="password"' in response.content


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_every_page_sends_anonymous_visitors_to_the_login_page(client, db, name, kwargs):
    url = reverse(name, kwargs=kwargs)

    response = client.get(url)

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"


def test_logging_in_lands_on_the_dashboard(client, owner, team):
    response = client.post(reverse("login"), {"username": "olivia", "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200


def test_logging_in_follows_next(client, owner, team):
    response = client.post(
        reverse("login") + "?next=/teams/vision/members/",
        {"username": "olivia", "password": PASSWORD, "next": "/teams/vision/members/"},
    )

    assert response.url == "/teams/vision/members/"


def test_a_wrong_password_shows_an_error_and_logs_nobody_in(client, owner):
    response = client.post(reverse("login"), {"username": "olivia", "password": "wrong"})

    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_logging_out_takes_a_post_and_ends_the_session(client_as, owner):
    client = client_as(owner)

    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))

    assert response.status_code == 302 and response.url == reverse("login")
    assert "_auth_user_id" not in client.session

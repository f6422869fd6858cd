from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

URL = reverse("api-token")


def test_it_gives_a_token_for_a_valid_username_and_password(owner):
    response = APIClient().post(URL, {"username": owner.username, "password": PASSWORD}, format="json")

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=owner).key}


def test_the_token_authenticates_api_requests(owner, team):
    token = APIClient().post(URL, {"username": owner.username, "password": PASSWORD}, format="json").json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get(reverse("api-teams"))

    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["Vision"]


def test_it_gives_the_same_token_twice(owner):
    first = APIClient().post(URL, {"username": owner.username, "password": PASSWORD}, format="json").json()
    second = APIClient().post(URL, {"username": owner.username, "password": PASSWORD}, format="json").json()

    assert first == second
    assert Token.objects.filter(user=owner).count() == 1


def test_it_rejects_a_wrong_password_and_creates_no_token(owner):
    response = APIClient().post(URL, {"username": owner.username, "password": "wrong"}, format="json")

    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    assert not Token.objects.exists()


def test_it_names_a_missing_password(owner):
    response = APIClient().post(URL, {"username": owner.username}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()


def test_an_invalid_token_is_refused(team):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.get(reverse("api-teams")).status_code in (401, 403)

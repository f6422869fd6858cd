from django.contrib.auth import authenticate
from django.urls import reverse

from tests.conftest import PASSWORD

NEW_PASSWORD = "a-much-longer-passphrase-2026"


def test_the_page_shows_the_form_with_the_top_bar(client_as, owner, team):
    response = client_as(owner).get(reverse("password_change"))

    assert response.status_code == 200
    assert b'name="old_password"' in response.content
    assert b"Vision" in response.content


def test_it_changes_the_password_and_keeps_the_user_logged_in(client_as, owner):
    client = client_as(owner)

    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302 and response.url == reverse("password_change_done")
    assert authenticate(username="olivia", password=NEW_PASSWORD) == owner
    assert client.get(reverse("password_change_done")).status_code == 200


def test_a_wrong_old_password_is_shown_at_its_field_and_changes_nothing(client_as, owner):
    response = client_as(owner).post(
        reverse("password_change"),
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["old_password"]
    assert authenticate(username="olivia", password=PASSWORD) == owner

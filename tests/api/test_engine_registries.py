import pytest
from django.urls import reverse

from workers.engine.models import MODELS
from workers.engine.recipe import RECIPE_SCHEMA
from workers.engine.strategies import STRATEGIES


@pytest.mark.parametrize("url_name", ["api-strategies", "api-models", "api-recipe-schema"])
def test_registries_need_a_login(url_name, client_for, db):
    assert client_for(None).get(reverse(url_name)).status_code in (401, 403)


@pytest.mark.parametrize("role", ["viewer", "outsider"])
def test_it_lists_every_registered_strategy_with_its_parameters(role, as_role):
    response = as_role(role).get(reverse("api-strategies"))

    assert response.status_code == 200
    strategies = {row["key"]: row for row in response.json()}
    assert set(strategies) == set(STRATEGIES)
    assert strategies["full"]["uses_budget"] is False
    assert strategies["rs2_without_replacement"]["family"] == "dynamic"
    assert strategies["random_static"]["params"] == [
        {"name": "class_balanced", "type": "bool", "default": False, "help": "Draw the same share of every class."}
    ]


def test_each_strategy_names_the_paper_it_reproduces(as_role):
    strategies = {row["key"]: row for row in as_role("viewer").get(reverse("api-strategies")).json()}

    assert strategies["full"]["paper"] is None
    assert strategies["rs2_without_replacement"]["paper"] == {
        "title": "Repeated Random Sampling for Minimizing the Time-to-Accuracy of Learning",
        "authors": "Okanovic et al.",
        "year": 2024,
        "url": "https://arxiv.org/abs/2305.18424",
    }
    assert {key: row["paper"]["year"] for key, row in strategies.items() if row["paper"]} == {
        key: strategy.paper.year for key, strategy in STRATEGIES.items() if strategy.paper
    }


def test_it_lists_the_models(as_role):
    response = as_role("viewer").get(reverse("api-models"))

    assert response.status_code == 200
    models = {row["key"]: row for row in response.json()}
    assert set(models) == set(MODELS)
    assert models["cnn1d"]["inputs"] == ["sequence"]


def test_it_describes_the_recipe_with_defaults_and_ranges(as_role):
    response = as_role("viewer").get(reverse("api-recipe-schema"))

    assert response.status_code == 200
    fields = {row["name"]: row for row in response.json()}
    assert list(fields) == [param.name for param in RECIPE_SCHEMA]
    assert fields["rounds"]["default"] == 100
    assert fields["rounds"]["minimum"] == 1 and fields["rounds"]["maximum"] == 10000
    assert fields["optimizer"]["choices"] == ["sgd", "adamw"]
    assert fields["lr"]["exclusive_minimum"] is True
    assert fields["target_accuracy"]["nullable"] is True and fields["target_accuracy"]["default"] is None
    assert "choices" not in fields["rounds"] and "minimum" not in fields["nesterov"]

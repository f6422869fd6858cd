import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse
from drf_spectacular.drainage import reset_generator_stats

EXPECTED_PATHS = {
    "/api/v1/auth/token/": {"post"},
    "/api/v1/teams/": {"get", "post"},
    "/api/v1/teams/{team_id}/": {"get"},
    "/api/v1/teams/{team_id}/members/": {"get", "post"},
    "/api/v1/teams/{team_id}/members/{membership_id}/": {"patch", "delete"},
    "/api/v1/teams/{team_id}/invitations/": {"get"},
    "/api/v1/teams/{team_id}/invitations/{invitation_id}/revoke/": {"post"},
    "/api/v1/invitations/": {"get"},
    "/api/v1/invitations/{invitation_id}/accept/": {"post"},
    "/api/v1/invitations/{invitation_id}/decline/": {"post"},
    "/api/v1/teams/{team_id}/comparisons/": {"get"},
    "/api/v1/teams/{team_id}/leaderboard/": {"get"},
    "/api/v1/teams/{team_id}/leaderboard.csv": {"get"},
    "/api/v1/strategies/": {"get"},
    "/api/v1/models/": {"get"},
    "/api/v1/recipe-schema/": {"get"},
    "/api/v1/datasets/": {"get", "post"},
    "/api/v1/datasets/{dataset_id}/": {"get", "delete"},
    "/api/v1/datasets/files/{sha256}/": {"get"},
    "/api/v1/policies/": {"get", "post"},
    "/api/v1/policies/{policy_id}/": {"get", "patch", "delete"},
    "/api/v1/experiments/": {"get", "post"},
    "/api/v1/experiments/preview/": {"post"},
    "/api/v1/experiments/{experiment_id}/": {"get", "delete"},
    "/api/v1/experiments/{experiment_id}/cancel/": {"post"},
    "/api/v1/experiments/{experiment_id}/clone/": {"post"},
    "/api/v1/experiments/{experiment_id}/clone/preview/": {"post"},
    "/api/v1/experiments/{experiment_id}/extend/": {"post"},
    "/api/v1/experiments/{experiment_id}/extend/preview/": {"post"},
    "/api/v1/experiments/{experiment_id}/retry-failed/": {"post"},
    "/api/v1/experiments/{experiment_id}/share-links/": {"get", "post"},
    "/api/v1/experiments/{experiment_id}/leaderboard/": {"get"},
    "/api/v1/experiments/{experiment_id}/leaderboard.csv": {"get"},
    "/api/v1/experiments/{experiment_id}/budget-table/": {"get"},
    "/api/v1/experiments/{experiment_id}/curves/": {"get"},
    "/api/v1/experiments/{experiment_id}/runs.json": {"get"},
    "/api/v1/experiments/{experiment_id}/runs.csv": {"get"},
    "/api/v1/share-links/{share_link_id}/revoke/": {"post"},
    "/api/v1/runs/": {"get"},
    "/api/v1/runs/{run_id}/": {"get"},
    "/api/v1/runs/{run_id}/cancel/": {"post"},
    "/api/v1/runs/{run_id}/retry/": {"post"},
    "/api/v1/runs/{run_id}/metrics/": {"get"},
    "/api/v1/runs/{run_id}/attempts/": {"get"},
    "/api/v1/runs/{run_id}/confusion/": {"get"},
}


def test_the_schema_validates_without_a_single_warning(tmp_path):
    # Warnings from schemas generated earlier in this process must not count here.
    reset_generator_stats()
    schema_file = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(schema_file))

    schema = yaml.safe_load(schema_file.read_text())
    assert schema["openapi"].startswith("3.")
    paths = {path: set(operations) for path, operations in schema["paths"].items() if path.startswith("/api/v1/")}
    assert paths == EXPECTED_PATHS


def test_the_schema_documents_filters_and_both_dataset_bodies(tmp_path):
    reset_generator_stats()
    schema_file = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(schema_file))
    schema = yaml.safe_load(schema_file.read_text())

    run_filters = {parameter["name"] for parameter in schema["paths"]["/api/v1/runs/"]["get"]["parameters"]}
    dataset_body = schema["paths"]["/api/v1/datasets/"]["post"]["requestBody"]["content"]

    assert {"experiment", "status", "policy", "budget", "seed", "queue", "ordering", "page"} <= run_filters
    assert set(dataset_body) == {"application/json", "multipart/form-data"}


def test_the_schema_documents_that_an_upload_is_accepted_pending_and_names_its_team_in_the_query(tmp_path):
    reset_generator_stats()
    schema_file = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(schema_file))
    schema = yaml.safe_load(schema_file.read_text())

    create = schema["paths"]["/api/v1/datasets/"]["post"]
    dataset = schema["components"]["schemas"]["DatasetOutput"]["properties"]

    assert {"201", "202", "400", "403", "413"} <= set(create["responses"])
    assert [(parameter["name"], parameter["in"]) for parameter in create["parameters"]] == [("team", "query")]
    assert {"status", "progress", "stage", "error"} <= set(dataset)
    assert "importing" in schema["components"]["schemas"]["DatasetStatusEnum"]["enum"]


def test_the_schema_endpoint_serves_openapi(client, db):
    response = client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert "/api/v1/experiments/" in response.json()["paths"]


def test_the_docs_page_loads_its_assets_from_this_site(client, db):
    response = client.get(reverse("api-docs"))

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "the page references no scripts or styles"
    assert not [asset for asset in assets if "//" in asset], "the docs page must not reach another host"
    for asset in assets:
        assert asset.startswith("/static/")
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not among the static files"


@pytest.mark.parametrize("url_name", ["api-schema", "api-docs"])
def test_schema_and_docs_need_no_login(url_name, client, db):
    assert client.get(reverse(url_name)).status_code == 200


def test_the_schema_documents_the_confusion_matrix(tmp_path):
    reset_generator_stats()
    schema_file = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(schema_file))

    schema = yaml.safe_load(schema_file.read_text())
    operation = schema["paths"]["/api/v1/runs/{run_id}/confusion/"]["get"]
    body = schema["components"]["schemas"]["RunConfusionOutput"]["properties"]
    assert set(operation["responses"]) == {"200", "404"}
    assert {"available", "reason", "class_names", "matrix", "per_class", "total", "correct", "accuracy"} <= set(body)


def test_the_schema_documents_the_data_each_run_used(tmp_path):
    reset_generator_stats()
    schema_file = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(schema_file))

    components = yaml.safe_load(schema_file.read_text())["components"]["schemas"]
    for name in ("LeaderboardRowOutput", "BudgetCellOutput", "RunExportOutput", "RunOutput"):
        field = components[name]["properties"]["data_fraction"]
        assert field["type"] == "number" and field["nullable"], name
        assert "training set" in field["description"], name

from django.urls import path, re_path

from backend.web.views import (
    accounts,
    catalog,
    comparison,
    datasets,
    experiments,
    invitations,
    members,
    policies,
    runs,
    sharing,
    teams,
)
from backend.web.views.uploads import dataset_import_status, dataset_upload

CURVES = r"plots/curves\.(?P<fmt>json|png|svg|csv)$"

urlpatterns = [
    path("accounts/login/", accounts.login, name="login"),
    path("accounts/logout/", accounts.logout, name="logout"),
    path("accounts/password/", accounts.password_change, name="password_change"),
    path("accounts/password/done/", accounts.password_change_done, name="password_change_done"),
    path("", teams.dashboard, name="dashboard"),
    path("teams/", teams.team_create, name="team_create"),
    path("teams/<slug:slug>/", teams.team_dashboard, name="team_dashboard"),
    path("teams/<slug:slug>/members/", members.team_members, name="team_members"),
    path("teams/<slug:slug>/members/add/", members.member_add, name="member_add"),
    path("teams/<slug:slug>/members/<int:membership_id>/role/", members.member_role, name="member_role"),
    path("teams/<slug:slug>/members/<int:membership_id>/remove/", members.member_remove, name="member_remove"),
    path(
        "teams/<slug:slug>/invitations/<int:invitation_id>/revoke/",
        members.invitation_revoke,
        name="invitation_revoke",
    ),
    path("invitations/", invitations.invitation_list, name="invitations"),
    path("invitations/<int:invitation_id>/accept/", invitations.invitation_accept, name="invitation_accept"),
    path("invitations/<int:invitation_id>/decline/", invitations.invitation_decline, name="invitation_decline"),
    path("teams/<slug:slug>/datasets/", catalog.team_datasets, name="team_datasets"),
    path("teams/<slug:slug>/datasets/upload/", dataset_upload, name="dataset_upload"),
    path("datasets/<int:pk>/import-status/", dataset_import_status, name="dataset_import_status"),
    path("teams/<slug:slug>/policies/", catalog.team_policies, name="team_policies"),
    path("datasets/<int:pk>/", datasets.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/delete/", datasets.dataset_delete_confirm, name="dataset_delete"),
    path("datasets/<int:pk>/samples/<int:class_index>.png", datasets.dataset_samples, name="dataset_samples"),
    re_path(
        r"^datasets/(?P<pk>[0-9]+)/plots/class-counts\.(?P<fmt>json|png|svg|csv)$",
        datasets.dataset_class_counts_plot,
        name="dataset_class_counts_plot",
    ),
    path("policies/<int:pk>/edit/", policies.policy_edit, name="policy_edit"),
    path("policies/<int:pk>/delete/", policies.policy_delete, name="policy_delete"),
    path("strategies/", policies.strategy_catalogue, name="strategy_catalogue"),
    path("teams/<slug:slug>/leaderboard/", comparison.team_leaderboard, name="team_leaderboard"),
    path("teams/<slug:slug>/experiments/new/", experiments.experiment_create, name="experiment_create"),
    path(
        "teams/<slug:slug>/experiments/new/preview/",
        experiments.experiment_create_preview,
        name="experiment_create_preview",
    ),
    path("experiments/<int:pk>/", experiments.experiment_detail, name="experiment_detail"),
    path("experiments/<int:pk>/runs/", experiments.experiment_runs, name="experiment_runs"),
    path("experiments/<int:pk>/leaderboard/", comparison.experiment_leaderboard, name="experiment_leaderboard"),
    path("experiments/<int:pk>/budget-table/", comparison.experiment_budget_table, name="experiment_budget_table"),
    re_path(
        r"^experiments/(?P<pk>[0-9]+)/plots/(?P<name>budget|time|cost)\.(?P<fmt>json|png|svg|csv|data\.json)$",
        comparison.experiment_plot,
        name="experiment_plot",
    ),
    path("experiments/<int:pk>/cancel/", experiments.experiment_cancel, name="experiment_cancel"),
    path("runs/<int:pk>/cancel/", experiments.run_cancel, name="run_cancel"),
    path("experiments/<int:pk>/clone/", experiments.experiment_clone, name="experiment_clone"),
    path("experiments/<int:pk>/clone/preview/", experiments.experiment_clone_preview, name="experiment_clone_preview"),
    path("experiments/<int:pk>/extend/", experiments.experiment_extend, name="experiment_extend"),
    path(
        "experiments/<int:pk>/extend/preview/", experiments.experiment_extend_preview, name="experiment_extend_preview"
    ),
    path("experiments/<int:pk>/retry-failed/", experiments.experiment_retry_failed, name="experiment_retry_failed"),
    path("experiments/<int:pk>/delete/", experiments.experiment_delete, name="experiment_delete"),
    path("runs/<int:pk>/retry/", experiments.run_retry, name="run_retry"),
    path("runs/<int:pk>/", runs.run_detail, name="run_detail"),
    path("runs/<int:pk>/status/", runs.run_status_fragment, name="run_status_fragment"),
    re_path(r"^runs/(?P<pk>[0-9]+)/" + CURVES, runs.run_curves_plot, name="run_curves_plot"),
    path("experiments/<int:pk>/share-links/", sharing.share_link_create, name="share_link_create"),
    path("share-links/<int:pk>/revoke/", sharing.share_link_revoke, name="share_link_revoke"),
    path("share/<str:token>/", sharing.share_experiment, name="share_experiment"),
    path("share/<str:token>/runs-fragment/", sharing.share_experiment_runs, name="share_experiment_runs"),
    path("share/<str:token>/leaderboard/", sharing.share_experiment_leaderboard, name="share_experiment_leaderboard"),
    path(
        "share/<str:token>/budget-table/", sharing.share_experiment_budget_table, name="share_experiment_budget_table"
    ),
    re_path(
        r"^share/(?P<token>[^/]+)/plots/(?P<name>budget|time|cost)\.(?P<fmt>json|png|svg|csv|data\.json)$",
        sharing.share_experiment_plot,
        name="share_experiment_plot",
    ),
    path(
        "share/<str:token>/leaderboard.json",
        sharing.share_experiment_leaderboard_json,
        name="share_experiment_leaderboard_json",
    ),
    path(
        "share/<str:token>/leaderboard.csv",
        sharing.share_experiment_leaderboard_csv,
        name="share_experiment_leaderboard_csv",
    ),
    path("share/<str:token>/runs.json", sharing.share_experiment_runs_json, name="share_experiment_runs_json"),
    path("share/<str:token>/runs.csv", sharing.share_experiment_runs_csv, name="share_experiment_runs_csv"),
    path("share/<str:token>/runs/<int:pk>/", sharing.share_run, name="share_run"),
    path(
        "share/<str:token>/runs/<int:pk>/status/", sharing.share_run_status_fragment, name="share_run_status_fragment"
    ),
    re_path(
        r"^share/(?P<token>[^/]+)/runs/(?P<pk>[0-9]+)/" + CURVES,
        sharing.share_run_curves_plot,
        name="share_run_curves_plot",
    ),
]

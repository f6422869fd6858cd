from django.urls import path, re_path

from backend.web.views import accounts, catalog, comparison, experiments, members, teams

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
    path("teams/<slug:slug>/datasets/", catalog.team_datasets, name="team_datasets"),
    path("teams/<slug:slug>/policies/", catalog.team_policies, name="team_policies"),
    path("teams/<slug:slug>/leaderboard/", comparison.team_leaderboard, name="team_leaderboard"),
    path("teams/<slug:slug>/experiments/new/", experiments.experiment_create, name="experiment_create"),
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
]

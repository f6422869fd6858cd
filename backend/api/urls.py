from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backend.api import auth, comparison, dataset_files, datasets, engine, experiments, policies, runs, teams

urlpatterns = [
    path("auth/token/", auth.TokenObtainApi.as_view(), name="api-token"),
    path("teams/", teams.TeamListCreateApi.as_view(), name="api-teams"),
    path("teams/<int:team_id>/", teams.TeamDetailApi.as_view(), name="api-team"),
    path("teams/<int:team_id>/members/", teams.MembershipListCreateApi.as_view(), name="api-team-members"),
    path(
        "teams/<int:team_id>/members/<int:membership_id>/",
        teams.MembershipDetailApi.as_view(),
        name="api-team-member",
    ),
    path(
        "teams/<int:team_id>/invitations/",
        teams.TeamInvitationListApi.as_view(),
        name="api-team-invitations",
    ),
    path(
        "teams/<int:team_id>/invitations/<int:invitation_id>/revoke/",
        teams.TeamInvitationRevokeApi.as_view(),
        name="api-team-invitation-revoke",
    ),
    path("invitations/", teams.InvitationListApi.as_view(), name="api-invitations"),
    path("invitations/<int:invitation_id>/accept/", teams.InvitationAcceptApi.as_view(), name="api-invitation-accept"),
    path(
        "invitations/<int:invitation_id>/decline/",
        teams.InvitationDeclineApi.as_view(),
        name="api-invitation-decline",
    ),
    path("teams/<int:team_id>/comparisons/", comparison.TeamComparisonListApi.as_view(), name="api-team-comparisons"),
    path("teams/<int:team_id>/leaderboard/", comparison.TeamLeaderboardApi.as_view(), name="api-team-leaderboard"),
    path(
        "teams/<int:team_id>/leaderboard.csv",
        comparison.TeamLeaderboardCsvApi.as_view(),
        name="api-team-leaderboard-csv",
    ),
    path("strategies/", engine.StrategyListApi.as_view(), name="api-strategies"),
    path("models/", engine.ModelListApi.as_view(), name="api-models"),
    path("recipe-schema/", engine.RecipeSchemaApi.as_view(), name="api-recipe-schema"),
    path("datasets/", datasets.DatasetListCreateApi.as_view(), name="api-datasets"),
    path("datasets/<int:dataset_id>/", datasets.DatasetDetailApi.as_view(), name="api-dataset"),
    re_path(
        r"^datasets/files/(?P<sha256>[0-9a-f]{64})/$", dataset_files.DatasetFileApi.as_view(), name="api-dataset-file"
    ),
    path("policies/", policies.PolicyListCreateApi.as_view(), name="api-policies"),
    path("policies/<int:policy_id>/", policies.PolicyDetailApi.as_view(), name="api-policy"),
    path("experiments/", experiments.ExperimentListCreateApi.as_view(), name="api-experiments"),
    path("experiments/preview/", experiments.ExperimentPreviewApi.as_view(), name="api-experiment-preview"),
    path("experiments/<int:experiment_id>/", experiments.ExperimentDetailApi.as_view(), name="api-experiment"),
    path(
        "experiments/<int:experiment_id>/cancel/",
        experiments.ExperimentCancelApi.as_view(),
        name="api-experiment-cancel",
    ),
    path(
        "experiments/<int:experiment_id>/clone/",
        experiments.ExperimentCloneApi.as_view(),
        name="api-experiment-clone",
    ),
    path(
        "experiments/<int:experiment_id>/clone/preview/",
        experiments.ExperimentClonePreviewApi.as_view(),
        name="api-experiment-clone-preview",
    ),
    path(
        "experiments/<int:experiment_id>/extend/",
        experiments.ExperimentExtendApi.as_view(),
        name="api-experiment-extend",
    ),
    path(
        "experiments/<int:experiment_id>/extend/preview/",
        experiments.ExperimentExtendPreviewApi.as_view(),
        name="api-experiment-extend-preview",
    ),
    path(
        "experiments/<int:experiment_id>/retry-failed/",
        experiments.ExperimentRetryFailedApi.as_view(),
        name="api-experiment-retry-failed",
    ),
    path(
        "experiments/<int:experiment_id>/share-links/",
        experiments.ShareLinkListCreateApi.as_view(),
        name="api-experiment-share-links",
    ),
    path(
        "experiments/<int:experiment_id>/leaderboard/",
        comparison.ExperimentLeaderboardApi.as_view(),
        name="api-experiment-leaderboard",
    ),
    path(
        "experiments/<int:experiment_id>/leaderboard.csv",
        comparison.ExperimentLeaderboardCsvApi.as_view(),
        name="api-experiment-leaderboard-csv",
    ),
    path(
        "experiments/<int:experiment_id>/budget-table/",
        comparison.ExperimentBudgetTableApi.as_view(),
        name="api-experiment-budget-table",
    ),
    path(
        "experiments/<int:experiment_id>/curves/",
        comparison.ExperimentCurvesApi.as_view(),
        name="api-experiment-curves",
    ),
    path(
        "experiments/<int:experiment_id>/runs.json",
        comparison.ExperimentRunsJsonApi.as_view(),
        name="api-experiment-runs-json",
    ),
    path(
        "experiments/<int:experiment_id>/runs.csv",
        comparison.ExperimentRunsCsvApi.as_view(),
        name="api-experiment-runs-csv",
    ),
    path(
        "share-links/<int:share_link_id>/revoke/",
        experiments.ShareLinkRevokeApi.as_view(),
        name="api-share-link-revoke",
    ),
    path("runs/", runs.RunListApi.as_view(), name="api-runs"),
    path("runs/<int:run_id>/", runs.RunDetailApi.as_view(), name="api-run"),
    path("runs/<int:run_id>/cancel/", runs.RunCancelApi.as_view(), name="api-run-cancel"),
    path("runs/<int:run_id>/retry/", experiments.RunRetryApi.as_view(), name="api-run-retry"),
    path("runs/<int:run_id>/metrics/", runs.RunMetricListApi.as_view(), name="api-run-metrics"),
    path("runs/<int:run_id>/attempts/", runs.RunAttemptListApi.as_view(), name="api-run-attempts"),
    path("runs/<int:run_id>/confusion/", runs.RunConfusionApi.as_view(), name="api-run-confusion"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

"""Comparisons: leaderboards per budget, the budget table, the time curves, team leaderboards and exports.

The JSON endpoints answer ``If-None-Match`` from the experiment's (or the
pooled cells') version stamp: unchanged data is a 304 without being
computed. The CSV endpoints take the same query parameters as their JSON
counterparts; the JSON of a leaderboard is its endpoint's response.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.api.schema import BAD_INPUT, NOT_FOUND
from backend.conditional import client_has, not_modified, request_etag, with_etag
from backend.experiments import comparison, exports
from backend.experiments.models import Experiment
from backend.experiments.statistics import VERDICTS
from backend.teams.access import check_team_access, get_team_object
from backend.teams.models import Team

NOT_MODIFIED = OpenApiResponse(description="Not modified: the ETag in If-None-Match is still current.")
CSV = OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row; empty fields are missing values.")


# ---------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------


class LeaderboardQuerySerializer(serializers.Serializer):
    budget = serializers.FloatField(
        required=False, help_text="One of the experiment's budgets; the smallest if omitted."
    )
    baseline = serializers.IntegerField(
        required=False, help_text="Policy id to pair every row with; RS2 without replacement if omitted."
    )
    target = serializers.FloatField(
        required=False, help_text="Accuracy in (0, 1] for time-to-target; the recipe's target if omitted."
    )


class CurvesQuerySerializer(serializers.Serializer):
    budget = serializers.FloatField(
        required=False, help_text="One of the experiment's budgets; the smallest if omitted."
    )


class TeamLeaderboardQuerySerializer(serializers.Serializer):
    dataset = serializers.IntegerField(help_text="A dataset id of the team.")
    model = serializers.CharField()
    budget = serializers.FloatField()
    recipe = serializers.CharField(
        required=False,
        help_text="A recipe hash, or the recipe_index from /comparisons/; optional when only one recipe was run.",
    )
    baseline = serializers.IntegerField(required=False, help_text="Policy id; RS2 without replacement if omitted.")
    target = serializers.FloatField(
        required=False, help_text="Accuracy in (0, 1]; the most recent pooled experiment's target if omitted."
    )


def _query(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


DATA_FRACTION_HELP = (
    "Fraction of the training set used per round of the recipe, as trained: examples trained on over "
    "(rounds × training-set size). It equals the budget unless the policy used more or less data than it."
)


class EstimateOutputSerializer(serializers.Serializer):
    mean = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True, help_text="95 % t interval (n - 1 dof); null with fewer than 2.")
    high = serializers.FloatField(allow_null=True)
    half_width = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField()


class PairedOutputSerializer(serializers.Serializer):
    shared_seeds = serializers.IntegerField()
    difference = EstimateOutputSerializer(help_text="Mean of the per-seed differences (this row minus the baseline).")
    verdict = serializers.ChoiceField(choices=VERDICTS)


class PolicyRefOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    strategy = serializers.CharField()


class LeaderboardRowOutputSerializer(serializers.Serializer):
    policy = PolicyRefOutputSerializer()
    rank = serializers.IntegerField(allow_null=True, help_text="Null for reference rows and rows without results.")
    reference = serializers.BooleanField(help_text="Full data: trained once at r = 1 and shown at every budget.")
    seeds_finished = serializers.IntegerField()
    seeds_planned = serializers.IntegerField()
    partial = serializers.BooleanField(help_text="Fewer seeds have succeeded than were planned.")
    final_accuracy = EstimateOutputSerializer()
    best_accuracy_mean = serializers.FloatField(allow_null=True)
    time_to_target_seconds_mean = serializers.FloatField(
        source="time_to_target_mean", allow_null=True, help_text="Over the finished seeds that reached the target."
    )
    target_reached = serializers.IntegerField(help_text="Finished seeds that reached the target.")
    selection_seconds_mean = serializers.FloatField(allow_null=True)
    training_seconds_mean = serializers.FloatField(allow_null=True)
    total_seconds_mean = serializers.FloatField(allow_null=True, help_text="Selection + training.")
    speedup_vs_full = serializers.FloatField(
        allow_null=True, help_text="Full data's mean total seconds over this row's; null without full data."
    )
    data_fraction = serializers.FloatField(
        source="data_fraction_mean",
        allow_null=True,
        help_text=DATA_FRACTION_HELP + " Mean over the finished seeds; null without any.",
    )
    verdict = serializers.ChoiceField(
        choices=[*VERDICTS, "baseline"], allow_null=True, help_text="Against the baseline; null without one."
    )
    paired = PairedOutputSerializer(allow_null=True)
    tied_for_first = serializers.BooleanField(
        help_text="Within noise of the leader (paired on ≥ 2 shared seeds, else overlapping intervals)."
    )


class LeaderboardOutputSerializer(serializers.Serializer):
    budget = serializers.FloatField()
    target = serializers.FloatField(allow_null=True)
    baseline = PolicyRefOutputSerializer(allow_null=True)
    has_full_data = serializers.BooleanField()
    rows = LeaderboardRowOutputSerializer(many=True)


class BudgetCellOutputSerializer(serializers.Serializer):
    budget = serializers.FloatField()
    final_accuracy = EstimateOutputSerializer(source="estimate")
    best = serializers.BooleanField(help_text="The highest mean of its budget.")
    within_noise_of_best = serializers.BooleanField()
    data_fraction = serializers.FloatField(
        source="data_fraction_mean", allow_null=True, help_text=DATA_FRACTION_HELP + " Mean over the finished seeds."
    )


class BudgetTableRowOutputSerializer(serializers.Serializer):
    policy = PolicyRefOutputSerializer()
    reference = serializers.BooleanField()
    partial = serializers.BooleanField()
    cells = BudgetCellOutputSerializer(many=True, source="results", help_text="Budgets without results are left out.")


class BudgetTableOutputSerializer(serializers.Serializer):
    budgets = serializers.ListField(child=serializers.FloatField())
    rows = BudgetTableRowOutputSerializer(many=True)


class TimeRowOutputSerializer(serializers.Serializer):
    policy = serializers.CharField()
    round = serializers.IntegerField()
    seconds = serializers.FloatField(help_text="Mean cumulative selection + training seconds at this evaluation.")
    mean = serializers.FloatField()
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)
    n = serializers.IntegerField()


class CurvesOutputSerializer(serializers.Serializer):
    budget = serializers.FloatField()
    target = serializers.FloatField(allow_null=True)
    rows = TimeRowOutputSerializer(many=True)


class ComparisonSetOutputSerializer(serializers.Serializer):
    dataset = serializers.IntegerField(source="dataset_id")
    dataset_name = serializers.CharField()
    model = serializers.CharField()
    recipe_hash = serializers.CharField()
    recipe_index = serializers.IntegerField(help_text="Index of the recipe among this dataset and model's recipes.")
    budget = serializers.FloatField()
    experiments = serializers.IntegerField()
    executions = serializers.IntegerField(help_text="Distinct executions: one shared by experiments counts once.")


class RunCurvePointOutputSerializer(serializers.Serializer):
    epoch = serializers.IntegerField()
    step = serializers.IntegerField()
    samples_seen = serializers.IntegerField()
    wall_clock_seconds = serializers.FloatField()
    evaluation_seconds = serializers.FloatField()
    train_loss = serializers.FloatField(allow_null=True)
    test_accuracy = serializers.FloatField()
    test_loss = serializers.FloatField(allow_null=True)
    lr = serializers.FloatField()
    data_fraction = serializers.FloatField(
        help_text="Examples trained on per round as a fraction of the training set, averaged over the rounds so far."
    )


class RunExportOutputSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    policy_id = serializers.IntegerField()
    policy = serializers.CharField()
    strategy = serializers.CharField()
    budget = serializers.FloatField()
    seed = serializers.IntegerField()
    status = serializers.CharField()
    execution_id = serializers.IntegerField()
    config_hash = serializers.CharField()
    reused = serializers.BooleanField()
    selection_seconds = serializers.FloatField(allow_null=True)
    training_seconds = serializers.FloatField(allow_null=True)
    evaluation_seconds = serializers.FloatField(allow_null=True)
    final_accuracy = serializers.FloatField(allow_null=True)
    best_accuracy = serializers.FloatField(allow_null=True)
    samples_trained = serializers.IntegerField(allow_null=True)
    rounds_completed = serializers.IntegerField(allow_null=True)
    rounds_planned = serializers.IntegerField(allow_null=True)
    data_fraction = serializers.FloatField(allow_null=True, help_text=DATA_FRACTION_HELP + " Null until it succeeds.")
    curve = RunCurvePointOutputSerializer(many=True)


# ---------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------


def _experiment(request: Request, experiment_id: int) -> Experiment:
    experiment, _ = get_team_object(Experiment, user=request.user, team_field="team_id", pk=experiment_id)
    return experiment


class ExperimentComparisonApi(APIView):
    """An endpoint about one experiment; a share link serves the same one with its own lookup."""

    def experiment(self, request: Request, experiment_id: int) -> Experiment:
        return _experiment(request, experiment_id)


def _conditional(request: Request, stamp: str, build: Callable[[], Response | HttpResponse]):
    """A 304 when the client's ETag is current; otherwise ``build()`` marked with the ETag."""
    etag = request_etag(request, stamp)
    if client_has(request, etag):
        return not_modified(etag)
    return with_etag(build(), etag)


def _csv(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _experiment_leaderboard(request: Request, experiment: Experiment) -> comparison.Leaderboard:
    query = _query(LeaderboardQuerySerializer, request)
    return comparison.experiment_leaderboard(
        experiment, query.get("budget"), baseline_policy=query.get("baseline"), target=query.get("target")
    )


class ExperimentLeaderboardApi(ExperimentComparisonApi):
    @extend_schema(
        parameters=[LeaderboardQuerySerializer],
        responses={200: LeaderboardOutputSerializer, 304: NOT_MODIFIED, 400: BAD_INPUT, 404: NOT_FOUND},
        summary="The experiment's policies at one budget, ranked, with 95 % intervals and paired verdicts",
    )
    def get(self, request: Request, experiment_id: int):
        experiment = self.experiment(request, experiment_id)
        return _conditional(
            request,
            comparison.experiment_version(experiment),
            lambda: Response(LeaderboardOutputSerializer(_experiment_leaderboard(request, experiment)).data),
        )


class ExperimentLeaderboardCsvApi(ExperimentComparisonApi):
    @extend_schema(
        parameters=[LeaderboardQuerySerializer],
        responses={(200, "text/csv"): CSV, 400: BAD_INPUT, 404: NOT_FOUND},
        summary="The leaderboard as CSV, one row per policy",
    )
    def get(self, request: Request, experiment_id: int):
        experiment = self.experiment(request, experiment_id)
        table = exports.leaderboard_table(_experiment_leaderboard(request, experiment))
        filename = f"experiment-{experiment.pk}-leaderboard-{table[0]['budget']:g}.csv" if table else "leaderboard.csv"
        return _csv(exports.table_to_csv(table, exports.LEADERBOARD_COLUMNS), filename)


class ExperimentBudgetTableApi(ExperimentComparisonApi):
    @extend_schema(
        responses={200: BudgetTableOutputSerializer, 304: NOT_MODIFIED, 404: NOT_FOUND},
        summary="Policy × budget: mean final accuracy ± half-width, each budget's best and those within noise",
    )
    def get(self, request: Request, experiment_id: int):
        experiment = self.experiment(request, experiment_id)
        return _conditional(
            request,
            comparison.experiment_version(experiment),
            lambda: Response(BudgetTableOutputSerializer(comparison.experiment_budget_table(experiment)).data),
        )


class ExperimentCurvesApi(ExperimentComparisonApi):
    @extend_schema(
        parameters=[CurvesQuerySerializer],
        responses={200: CurvesOutputSerializer, 304: NOT_MODIFIED, 400: BAD_INPUT, 404: NOT_FOUND},
        summary="Accuracy by wall-clock seconds (selection included) per policy and round at one budget",
    )
    def get(self, request: Request, experiment_id: int):
        experiment = self.experiment(request, experiment_id)

        def build() -> Response:
            budget = comparison.check_experiment_budget(
                experiment, _query(CurvesQuerySerializer, request).get("budget")
            )
            rows = comparison.experiment_time_rows(experiment, budget)
            target = experiment.recipe.get("target_accuracy")
            return Response(CurvesOutputSerializer({"budget": budget, "target": target, "rows": rows}).data)

        return _conditional(request, comparison.experiment_version(experiment), build)


class ExperimentRunsJsonApi(ExperimentComparisonApi):
    @extend_schema(
        responses={200: RunExportOutputSerializer(many=True), 404: NOT_FOUND},
        summary="Every run with its figures and its curve, as a JSON download",
    )
    def get(self, request: Request, experiment_id: int):
        experiment = self.experiment(request, experiment_id)
        runs = RunExportOutputSerializer(exports.experiment_runs_export(experiment), many=True).data
        response = HttpResponse(json.dumps(runs), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="experiment-{experiment.pk}-runs.json"'
        return response


class ExperimentRunsCsvApi(ExperimentComparisonApi):
    @extend_schema(
        responses={(200, "text/csv"): CSV, 404: NOT_FOUND},
        summary="Every run's curve as CSV: one row per evaluation, the run's figures repeated",
    )
    def get(self, request: Request, experiment_id: int):
        experiment = self.experiment(request, experiment_id)
        table = exports.runs_curve_table(exports.experiment_runs_export(experiment))
        columns = (*exports.RUN_CSV_COLUMNS, *exports.CURVE_COLUMNS)
        return _csv(exports.table_to_csv(table, columns), f"experiment-{experiment.pk}-runs.csv")


class TeamComparisonListApi(APIView):
    @extend_schema(
        responses={200: ComparisonSetOutputSerializer(many=True), 404: NOT_FOUND},
        summary="The (dataset, model, recipe, budget) combinations the team has run",
    )
    def get(self, request: Request, team_id: int):
        membership = check_team_access(user=request.user, team=team_id)
        sets = comparison.team_comparison_sets(membership.team)
        return Response(ComparisonSetOutputSerializer(sets, many=True).data)


def _team_set(request: Request, team_id: int) -> tuple[Team, comparison.ComparisonSet, dict]:
    team = check_team_access(user=request.user, team=team_id).team
    query = _query(TeamLeaderboardQuerySerializer, request)
    chosen = comparison.resolve_comparison_set(
        team, dataset_id=query["dataset"], model=query["model"], recipe=query.get("recipe"), budget=query["budget"]
    )
    return team, chosen, query


def _team_leaderboard(team: Team, chosen: comparison.ComparisonSet, query: dict) -> comparison.Leaderboard:
    return comparison.team_leaderboard(
        team,
        dataset_id=chosen.dataset_id,
        model=chosen.model,
        recipe_hash=chosen.recipe_hash,
        budget=chosen.budget,
        baseline_policy=query.get("baseline"),
        target=query.get("target"),
    )


class TeamLeaderboardApi(APIView):
    @extend_schema(
        parameters=[TeamLeaderboardQuerySerializer],
        responses={200: LeaderboardOutputSerializer, 304: NOT_MODIFIED, 400: BAD_INPUT, 404: NOT_FOUND},
        summary="Every policy's executions of the team on a dataset, model, recipe and budget, pooled",
        description="An execution shared by several experiments counts once.",
    )
    def get(self, request: Request, team_id: int):
        team, chosen, query = _team_set(request, team_id)
        stamp = comparison.team_version(
            team, dataset_id=chosen.dataset_id, model=chosen.model, recipe_hash=chosen.recipe_hash
        )
        return _conditional(
            request, stamp, lambda: Response(LeaderboardOutputSerializer(_team_leaderboard(team, chosen, query)).data)
        )


class TeamLeaderboardCsvApi(APIView):
    @extend_schema(
        parameters=[TeamLeaderboardQuerySerializer],
        responses={(200, "text/csv"): CSV, 400: BAD_INPUT, 404: NOT_FOUND},
        summary="The team leaderboard as CSV, one row per policy",
    )
    def get(self, request: Request, team_id: int):
        team, chosen, query = _team_set(request, team_id)
        table = exports.leaderboard_table(_team_leaderboard(team, chosen, query))
        return _csv(
            exports.table_to_csv(table, exports.LEADERBOARD_COLUMNS),
            f"team-{team.pk}-leaderboard-{chosen.model}-{chosen.budget:g}.csv",
        )

"""The experiment page's comparisons: the leaderboard per budget, the budget table, and the plots with downloads.

The leaderboard and the budget table are fragments the page polls while runs
are active. Each carries the ETag of the URL it polls, so an unchanged
experiment answers 304 before anything is computed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from backend.conditional import client_has, etag_for, not_modified, request_etag, with_etag
from backend.errors import ApplicationError
from backend.experiments import comparison, plots
from backend.experiments.models import Experiment, ShareLink
from backend.teams.access import get_team_object
from backend.web.display import budget_label, budget_table_rows, leaderboard_rows, percent
from backend.web.pages import render_page, team_page

PLOT_NAMES = ("budget", "time", "cost")
PLOT_FORMATS = ("json", "png", "svg", "csv", "data.json")
DOWNLOAD_FORMATS = (("png", "PNG"), ("svg", "SVG"), ("csv", "CSV"), ("data.json", "JSON"))
CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml", "csv": "text/csv; charset=utf-8"}


# What a URL of the member page is called under a share link (which serves the same data without login).
SHARE_URL_NAMES = {
    "experiment_detail": "share_experiment",
    "experiment_leaderboard": "share_experiment_leaderboard",
    "experiment_budget_table": "share_experiment_budget_table",
    "experiment_plot": "share_experiment_plot",
    "api-experiment-leaderboard": "share_experiment_leaderboard_json",
    "api-experiment-leaderboard-csv": "share_experiment_leaderboard_csv",
    "api-experiment-runs-json": "share_experiment_runs_json",
    "api-experiment-runs-csv": "share_experiment_runs_csv",
}


@dataclass(frozen=True)
class Scope:
    """Where the comparisons are seen: the member page, or a share link that must not lead anywhere else."""

    experiment: Experiment
    share_link: ShareLink | None = None

    def url(self, name: str, *args: Any) -> str:
        if self.share_link is None:
            return reverse(name, args=[self.experiment.pk, *args])
        return reverse(SHARE_URL_NAMES[name], args=[self.share_link.token, *args])


def readable_experiment(request: HttpRequest, pk: int) -> Experiment:
    experiment, _ = get_team_object(Experiment.objects.select_related("team"), user=request.user, pk=pk)
    return experiment


# ---------------------------------------------------------------------------
# The choices in the page's query: budget, baseline, target
# ---------------------------------------------------------------------------


@dataclass
class Choice:
    """What the page's query asks the leaderboard for; ``target`` is a fraction, typed in percent."""

    budget: float | None = None
    baseline: int | None = None
    target: float | None = None
    target_text: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def parse_choice(query) -> Choice:
    choice = Choice()
    budget = query.get("budget", "").strip()
    if budget:
        try:
            choice.budget = float(budget)
        except ValueError:
            choice.errors["budget"] = "Choose one of the experiment's budgets."
    baseline = query.get("baseline", "").strip()
    if baseline:
        if baseline.isdigit():
            choice.baseline = int(baseline)
        else:
            choice.errors["baseline"] = "Choose one of the experiment's policies."
    target = query.get("target", "").strip()
    if target:
        try:
            percent = Decimal(target)
        except InvalidOperation:
            percent = None
        if percent is None or not percent.is_finite() or not 0 < percent <= 100:
            choice.errors["target"] = "Give a target accuracy above 0 % and at most 100 %."
        else:
            choice.target = float(percent / 100)
            choice.target_text = target
    return choice


def _leaderboard(experiment: Experiment, choice: Choice) -> comparison.Leaderboard:
    """The leaderboard of the choice; a choice the experiment refuses is noted on its field and left out."""
    for _ in range(3):
        try:
            return comparison.experiment_leaderboard(
                experiment, choice.budget, baseline_policy=choice.baseline, target=choice.target
            )
        except ApplicationError as error:
            choice.errors[error.field or "budget"] = error.message
            if error.field == "baseline":
                choice.baseline = None
            elif error.field == "target":
                choice.target, choice.target_text = None, ""
            else:
                choice.budget = None
    return comparison.experiment_leaderboard(experiment)


def _query(leaderboard: comparison.Leaderboard, choice: Choice) -> dict[str, str]:
    """The normalised page query of a leaderboard: its budget, and the baseline and target if chosen."""
    query = {"budget": repr(leaderboard.budget)}
    if choice.baseline is not None:
        query["baseline"] = str(choice.baseline)
    if choice.target is not None:
        query["target"] = choice.target_text
    return query


def _with_query(url: str, query: dict[str, Any]) -> str:
    return f"{url}?{urlencode(query)}" if query else url


def plot_slot(scope: Scope, name: str, stamp: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a plot's slot on the page needs: its spec URL, the version it shows and its download links."""
    query = query or {}

    def plot_url(fmt: str) -> str:
        return _with_query(scope.url("experiment_plot", name, fmt), query)

    return {
        "name": name,
        "spec_url": plot_url("json"),
        "png_url": plot_url("png"),
        "version": stamp,
        "downloads": [{"label": label, "url": plot_url(fmt)} for fmt, label in DOWNLOAD_FORMATS],
    }


def leaderboard_context(scope: Scope, query, *, stamp: str) -> dict[str, Any]:
    experiment = scope.experiment
    choice = parse_choice(query)
    leaderboard = _leaderboard(experiment, choice)
    page_query = _query(leaderboard, choice)
    fragment_url = scope.url("experiment_leaderboard")
    api_query = {"budget": leaderboard.budget}
    if choice.baseline is not None:
        api_query["baseline"] = choice.baseline
    if leaderboard.target is not None:
        api_query["target"] = leaderboard.target
    target_text = choice.target_text or (f"{leaderboard.target * 100:g}" if leaderboard.target else "")
    time_query = {"budget": leaderboard.budget, **({"target": leaderboard.target} if leaderboard.target else {})}
    return {
        "experiment": experiment,
        "leaderboard": leaderboard,
        "leaderboard_rows": leaderboard_rows(leaderboard),
        "budget_label": budget_label(leaderboard.budget),
        "budget_options": [
            {"value": repr(budget), "label": budget_label(budget), "selected": budget == leaderboard.budget}
            for budget in sorted(experiment.budgets)
        ],
        "baseline_options": [
            {
                "value": row.policy.id,
                "label": row.policy.name,
                "selected": leaderboard.baseline is not None and row.policy.id == leaderboard.baseline.id,
            }
            for row in sorted(leaderboard.rows, key=lambda row: row.policy.name)
        ],
        "target_text": target_text,
        "target_label": percent(leaderboard.target) if leaderboard.target is not None else "target",
        "errors": choice.errors,
        "page_base_url": scope.url("experiment_detail"),
        "leaderboard_url": fragment_url,
        "page_url": _with_query(scope.url("experiment_detail"), page_query),
        "leaderboard_poll_url": _with_query(fragment_url, page_query),
        "leaderboard_etag": etag_for(stamp, fragment_url, page_query),
        "leaderboard_polling": leaderboard.active > 0,
        "leaderboard_csv_url": _with_query(scope.url("api-experiment-leaderboard-csv"), api_query),
        "leaderboard_json_url": _with_query(scope.url("api-experiment-leaderboard"), api_query),
        "time_plot": plot_slot(scope, "time", stamp, time_query),
    }


def budget_table_context(scope: Scope, *, stamp: str) -> dict[str, Any]:
    experiment = scope.experiment
    table = comparison.experiment_budget_table(experiment)
    fragment_url = scope.url("experiment_budget_table")
    return {
        "experiment": experiment,
        "budget_table": table,
        "budget_table_labels": [budget_label(budget) for budget in table.budgets],
        "budget_table_rows": budget_table_rows(table),
        "budget_table_poll_url": fragment_url,
        "budget_table_etag": etag_for(stamp, fragment_url, {}),
        "budget_table_polling": table.active > 0,
        "budget_plot": plot_slot(scope, "budget", stamp),
        "cost_plot": plot_slot(scope, "cost", stamp),
        "runs_json_url": scope.url("api-experiment-runs-json"),
        "runs_csv_url": scope.url("api-experiment-runs-csv"),
    }


def comparison_context(experiment: Experiment, query, *, share_link: ShareLink | None = None) -> dict[str, Any]:
    """Everything the experiment page (or its share page) shows of its comparisons."""
    scope = Scope(experiment, share_link)
    stamp = comparison.experiment_version(experiment)
    return {**leaderboard_context(scope, query, stamp=stamp), **budget_table_context(scope, stamp=stamp)}


def fragment_response(request: HttpRequest, scope: Scope, template: str, build) -> HttpResponse:
    """A polled fragment, or 304 when the experiment has not changed since the client's copy."""
    stamp = comparison.experiment_version(scope.experiment)
    etag = request_etag(request, stamp)
    if client_has(request, etag):
        return not_modified(etag)
    context = build(scope, stamp)
    response = render(request, template, context)
    if request.headers.get("HX-Request") and "page_url" in context:
        # The page's address keeps the chosen budget, baseline and target, so a reload or a link shows them.
        response["HX-Replace-Url"] = context["page_url"]
    return with_etag(response, etag)


@login_required
def experiment_leaderboard(request: HttpRequest, pk: int) -> HttpResponse:
    """The leaderboard at the query's budget, baseline and target: the page swaps it in and polls it."""
    return leaderboard_fragment(request, Scope(readable_experiment(request, pk)))


def leaderboard_fragment(request: HttpRequest, scope: Scope) -> HttpResponse:
    return fragment_response(
        request,
        scope,
        "experiments/_leaderboard.html",
        lambda scope, stamp: leaderboard_context(scope, request.GET, stamp=stamp),
    )


@login_required
def experiment_budget_table(request: HttpRequest, pk: int) -> HttpResponse:
    """The budget table with the accuracy-vs-budget and accuracy-vs-cost plots, polled while runs are active."""
    return budget_table_fragment(request, Scope(readable_experiment(request, pk)))


def budget_table_fragment(request: HttpRequest, scope: Scope) -> HttpResponse:
    return fragment_response(
        request,
        scope,
        "experiments/_budget_table.html",
        lambda scope, stamp: budget_table_context(scope, stamp=stamp),
    )


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------


def _plot(experiment: Experiment, name: str, query) -> tuple[dict, list[dict], Any]:
    """The spec of one plot, its rows for CSV, and its data for JSON."""
    policies = list(experiment.policies.order_by("name").values_list("name", flat=True))
    if name == "budget":
        points, full = comparison.experiment_budget_points(experiment)
        reference = [{"policy": "Full data (reference)", "budget": 1.0, **full}] if full else []
        return (
            plots.accuracy_vs_budget(points, full, policies=policies),
            points + reference,
            {
                "points": points,
                "full": full,
            },
        )
    if name == "time":
        budget = _number(query, "budget")
        target = _number(query, "target")
        budget = comparison.check_experiment_budget(experiment, budget)
        if target is None:
            target = experiment.recipe.get("target_accuracy")
        elif not 0 < target <= 1:
            raise ApplicationError("Must be in (0, 1].", field="target")
        rows = comparison.experiment_time_rows(experiment, budget)
        return plots.accuracy_vs_time(rows, target=target, budget=budget, policies=policies), rows, rows
    points = comparison.experiment_cost_points(experiment)
    return plots.accuracy_vs_cost(points, policies=policies), points, points


def _number(query, name: str) -> float | None:
    text = query.get(name, "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ApplicationError("Must be a number.", field=name) from None


def plot_response(request: HttpRequest, experiment: Experiment, name: str, fmt: str, *, filename: str) -> HttpResponse:
    """One plot as its Vega-Lite spec (``json``), a PNG or SVG drawing, or its data as CSV or JSON."""
    if name not in PLOT_NAMES or fmt not in PLOT_FORMATS:
        return HttpResponseBadRequest(f"No plot {name}.{fmt}.", content_type="text/plain")
    stamp = comparison.experiment_version(experiment)
    etag = request_etag(request, stamp)
    if client_has(request, etag):
        return not_modified(etag)
    try:
        spec, rows, data = _plot(experiment, name, request.GET)
    except ApplicationError as error:
        return HttpResponseBadRequest(f"{error.field}: {error.message}", content_type="text/plain")
    if fmt == "json":
        response = JsonResponse(spec)
    else:
        if fmt == "data.json":
            response = HttpResponse(json.dumps(data), content_type="application/json")
        elif fmt == "csv":
            response = HttpResponse(plots.rows_to_csv(rows), content_type=CONTENT_TYPES[fmt])
        else:
            response = HttpResponse(plots.render(spec, fmt), content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{filename}-{name}.{fmt}"'
    return with_etag(response, etag)


@login_required
def experiment_plot(request: HttpRequest, pk: str, name: str, fmt: str) -> HttpResponse:
    experiment = readable_experiment(request, int(pk))
    return plot_response(request, experiment, name, fmt, filename=f"experiment-{experiment.pk}")


# ---------------------------------------------------------------------------
# The team leaderboard: executions pooled across the team's experiments
# ---------------------------------------------------------------------------


def _chosen_set(sets: list[comparison.ComparisonSet], query) -> comparison.ComparisonSet | None:
    """The set the query names (dataset, then model, recipe and budget narrowing it); the first one by default."""
    matching = sets
    for name, key, convert in (
        ("dataset", "dataset_id", int),
        ("model", "model", str),
        ("recipe", "recipe_hash", str),
        ("budget", "budget", float),
    ):
        text = query.get(name, "").strip()
        if not text:
            continue
        try:
            value = convert(text)
        except ValueError:
            return None
        matching = [item for item in matching if getattr(item, key) == value]
    return matching[0] if matching else None


@login_required
def team_leaderboard(request: HttpRequest, slug: str) -> HttpResponse:
    """Every policy's executions of the team on one (dataset, model, recipe, budget), pooled."""
    team, membership = team_page(request, slug)
    sets = comparison.team_comparison_sets(team)
    chosen = _chosen_set(sets, request.GET)
    context: dict[str, Any] = {"sets": [], "chosen": chosen, "errors": {}}
    for item in sets:
        query = {"dataset": item.dataset_id, "model": item.model, "recipe": item.recipe_hash, "budget": item.budget}
        context["sets"].append(
            {
                "item": item,
                "budget_label": budget_label(item.budget),
                "recipe": item.recipe_hash[:12],
                "url": _with_query(reverse("team_leaderboard", args=[team.slug]), query),
                "current": item == chosen,
            }
        )
    if chosen is not None:
        choice = parse_choice(request.GET)
        context["errors"] = choice.errors
        arguments = dict(
            dataset_id=chosen.dataset_id, model=chosen.model, recipe_hash=chosen.recipe_hash, budget=chosen.budget
        )
        try:
            leaderboard = comparison.team_leaderboard(
                team, **arguments, baseline_policy=choice.baseline, target=choice.target
            )
        except ApplicationError as error:
            context["errors"][error.field or "baseline"] = error.message
            leaderboard = comparison.team_leaderboard(team, **arguments)
        api_query = {
            "dataset": chosen.dataset_id,
            "model": chosen.model,
            "recipe": chosen.recipe_hash,
            "budget": chosen.budget,
        }
        context.update(
            leaderboard=leaderboard,
            leaderboard_rows=leaderboard_rows(leaderboard),
            budget_label=budget_label(chosen.budget),
            target_label=percent(leaderboard.target) if leaderboard.target is not None else "target",
            target_text=choice.target_text
            or (f"{leaderboard.target * 100:g}" if leaderboard.target is not None else ""),
            baseline_options=[
                {
                    "value": row.policy.id,
                    "label": row.policy.name,
                    "selected": leaderboard.baseline is not None and row.policy.id == leaderboard.baseline.id,
                }
                for row in sorted(leaderboard.rows, key=lambda row: row.policy.name)
            ],
            chosen_query=api_query,
            leaderboard_csv_url=_with_query(reverse("api-team-leaderboard-csv", args=[team.pk]), api_query),
            leaderboard_json_url=_with_query(reverse("api-team-leaderboard", args=[team.pk]), api_query),
        )
    elif sets:
        context["errors"]["dataset"] = "The team has run nothing with this dataset, model, recipe and budget."
    return render_page(request, "teams/leaderboard.html", team=team, membership=membership, **context)

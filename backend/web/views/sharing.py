"""Share links: owners create and revoke them on the experiment page; anyone holding one reads the experiment.

A share page shows one experiment (set-up, runs, run pages) and nothing else of
its team: no navigation, no member names, no other experiments. A revoked or
unknown token is 404, and every page asks search engines to stay away.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST
from rest_framework.permissions import AllowAny

from backend.api import comparison as api_comparison
from backend.experiments import services
from backend.experiments.models import Experiment, ShareLink
from backend.experiments.selectors import active_share_link, experiments_with_status_counts
from backend.teams.access import Access, get_team_object
from backend.web.views import comparison
from backend.web.views.experiments import body_context, runs_context
from backend.web.views.runs import curves_response, run_context, run_page_queryset, status_fragment

NOINDEX = "noindex, nofollow"


def share_response(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Keep search engines out, and caches too: a revoked link must stop showing the experiment at once."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["X-Robots-Tag"] = NOINDEX
        add_never_cache_headers(response)
        return response

    return wrapped


def _shared(token: str) -> tuple[ShareLink, Experiment]:
    """The active link and its experiment with run counts; a revoked or unknown token is 404."""
    share_link = active_share_link(token)
    if share_link is None:
        raise Http404("No such share link.")
    experiment = experiments_with_status_counts(
        Experiment.objects.select_related("dataset").filter(pk=share_link.experiment_id)
    ).get()
    return share_link, experiment


@share_response
def share_experiment(request: HttpRequest, token: str) -> HttpResponse:
    share_link, experiment = _shared(token)
    return render(
        request, "share/experiment.html", body_context(experiment, None, query=request.GET, share_link=share_link)
    )


@share_response
def share_experiment_leaderboard(request: HttpRequest, token: str) -> HttpResponse:
    share_link, experiment = _shared(token)
    return comparison.leaderboard_fragment(request, comparison.Scope(experiment, share_link))


@share_response
def share_experiment_budget_table(request: HttpRequest, token: str) -> HttpResponse:
    share_link, experiment = _shared(token)
    return comparison.budget_table_fragment(request, comparison.Scope(experiment, share_link))


@share_response
def share_experiment_plot(request: HttpRequest, token: str, name: str, fmt: str) -> HttpResponse:
    _, experiment = _shared(token)
    return comparison.plot_response(request, experiment, name, fmt, filename="shared-experiment")


def _shared_api(view_class: type[api_comparison.ExperimentComparisonApi]) -> Callable[..., HttpResponse]:
    """An experiment endpoint of the REST API served under a share link: no login, the link's experiment only."""

    class Shared(view_class):
        authentication_classes = ()
        permission_classes = (AllowAny,)

        def experiment(self, request, experiment_id: int) -> Experiment:
            return Experiment.objects.get(pk=experiment_id)

    api_view = Shared.as_view()

    @share_response
    def serve(request: HttpRequest, token: str) -> HttpResponse:
        _, experiment = _shared(token)
        return api_view(request, experiment_id=experiment.pk)

    return serve


share_experiment_leaderboard_json = _shared_api(api_comparison.ExperimentLeaderboardApi)
share_experiment_leaderboard_csv = _shared_api(api_comparison.ExperimentLeaderboardCsvApi)
share_experiment_runs_json = _shared_api(api_comparison.ExperimentRunsJsonApi)
share_experiment_runs_csv = _shared_api(api_comparison.ExperimentRunsCsvApi)


@share_response
def share_experiment_runs(request: HttpRequest, token: str) -> HttpResponse:
    """The read-only runs table alone, polled by the share page while runs are active."""
    share_link, experiment = _shared(token)
    return render(request, "experiments/_runs.html", runs_context(experiment, None, share_link=share_link))


def _shared_run(token: str, pk: int):
    share_link, experiment = _shared(token)
    run = run_page_queryset().filter(experiment=experiment, pk=pk).first()
    if run is None:
        raise Http404("No such run in this experiment.")
    return share_link, run


@share_response
def share_run(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    share_link, run = _shared_run(token, pk)
    return render(request, "share/run.html", run_context(run, share_link=share_link))


@share_response
def share_run_status_fragment(request: HttpRequest, token: str, pk: int) -> HttpResponse:
    share_link, run = _shared_run(token, pk)
    return status_fragment(request, run, share_link)


@share_response
def share_run_curves_plot(request: HttpRequest, token: str, pk: int, fmt: str) -> HttpResponse:
    _, run = _shared_run(token, pk)
    return curves_response(run, fmt)


@login_required
@require_POST
def share_link_create(request: HttpRequest, pk: int) -> HttpResponse:
    experiment, _ = get_team_object(Experiment, user=request.user, access=Access.MANAGE, pk=pk)
    services.share_link_create(experiment=experiment, user=request.user)
    messages.success(request, "Created a read-only share link; anyone with its address can open this experiment.")
    return redirect("experiment_detail", pk=experiment.pk)


@login_required
@require_POST
def share_link_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    share_link, _ = get_team_object(
        ShareLink.objects.select_related("experiment"),
        user=request.user,
        access=Access.MANAGE,
        team_field="experiment__team_id",
        pk=pk,
    )
    services.share_link_revoke(share_link=share_link, user=request.user)
    messages.success(request, "Revoked the share link; its address now leads nowhere.")
    return redirect("experiment_detail", pk=share_link.experiment_id)

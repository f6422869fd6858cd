"""Reads for experiments and runs."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from backend.experiments.models import Experiment, Run, RunMetric, RunStatus


def experiments_with_status_counts(queryset: QuerySet[Experiment]) -> QuerySet[Experiment]:
    """Annotate each experiment with ``runs_total`` and ``runs_<status>`` counts."""
    counts = {f"runs_{status}": Count("runs", filter=Q(runs__status=status)) for status in RunStatus.values}
    return queryset.annotate(runs_total=Count("runs"), **counts)


def run_metrics(run: Run) -> QuerySet[RunMetric]:
    """The learning curve shown for a run: its own, or the reused run's."""
    return RunMetric.objects.filter(run=run.source).order_by("epoch")

"""Reads for datasets' pages."""

from __future__ import annotations

from django.db.models import QuerySet

from backend.datasets.models import Dataset
from backend.experiments.models import Experiment
from backend.experiments.selectors import experiments_with_status_counts


def dataset_experiments(dataset: Dataset) -> QuerySet[Experiment]:
    """The experiments that use ``dataset`` (and keep it from being deleted), newest first, with their run counts."""
    return experiments_with_status_counts(Experiment.objects.filter(dataset=dataset)).order_by("-created_at", "-id")
